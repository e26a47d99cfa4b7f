"""CostTable: reference runtime surfaces per (model, hardware), stored as versioned JSON.

A table entry keeps the measurements it was fitted from, so loading refits the statsmodels
model deterministically and prediction intervals come from statsmodels itself. The recorded
``fit`` block (form, params, R², valid range) documents the fit for readers; it is not read back.

Every estimator the resolution chain returns (CostEntry, HelmTableEntry, TransferEntry,
SizeOnlyEntry) satisfies the ``ReferenceEntry`` protocol.

Names resolve to entries through the table's aliases: HELM deployment → HELM model →
entry model (e.g. ``together/gpt-j-6b`` → ``eleutherai/gpt-j-6b`` → ``gptj_6b``).
"""

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.costmodel.estimator import RuntimeModel
from helm_efficiency.costmodel.forms import PrefillShape
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.costmodel.measurements import architecture_of
from helm_efficiency.stacks import HELM_TABLE, SHIPPED_TABLES
from helm_efficiency.util.data_paths import fits_path, in_package, table_path

SCHEMA_VERSION = 1
MEASUREMENT_FIELDS = ("num_prompt_tokens", "num_output_tokens", "runtime_s", "batch_size")
# The fits stored with a shipped table: {entry key: {batch size: RuntimeModel.to_stored() JSON}}.
FitStore = Mapping[str, Dict[str, Dict[str, Any]]]


@runtime_checkable
class ReferenceEntry(Protocol):
    """What the resolution chain needs of an idealized-runtime estimator for one model."""

    @property
    def model(self) -> str:
        """The entry's own name (calibrated model, or "transfer:NAME", "size_only:NAME")."""

    @property
    def hardware(self) -> str:
        """The reference stack, e.g. "h100-trtllm"."""

    @property
    def num_gpus(self) -> Optional[int]:
        """GPUs one request occupies (None: unknown, so no energy or cost)."""

    @property
    def architecture(self) -> Optional[Dict[str, int]]:
        """The model's architecture columns, where known."""

    @property
    def method(self) -> str:
        """How the entry estimates: calibrated, helm_table, transfer or size_only."""

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        """Columns runtime_s, runtime_lo_s, runtime_hi_s (90% interval; NaN if none), extrapolated."""


@dataclass(frozen=True, eq=False)
class CostEntry:
    """One model on one reference stack. Runtimes are seconds per request.

    Immutable: the statsmodels fit (one RuntimeModel per profiled batch size) is made on first
    use and cached. `form` is the fitted form once the entry comes from `entries_from_measurements`.
    Two entries are equal (and hash alike) when everything they were built from is equal.
    """

    model: str
    hardware: str
    form: str
    measurements: pd.DataFrame
    num_gpus: Optional[int] = None
    dtype: Optional[str] = None
    software: Optional[str] = None
    architecture: Optional[Dict[str, int]] = None
    provenance: Dict[str, Any] = field(default_factory=dict)
    prefill_shape: Optional[PrefillShape] = None
    method: str = "calibrated"
    # Anchored tables (builders/anchored.py): the held-out spread of log(measured / corrected) per
    # phase, {"prefill": (lo, hi), "decode": (lo, hi)}, which widens the 90% interval to what
    # published measurements of the stack show.
    measured_spread: Optional[Dict[str, Tuple[float, float]]] = None
    # Fits stored with a shipped table (builders/fits.py), by entry_key: predictions then need no
    # statsmodels. Not part of the entry's identity; a key that does not match is fitted afresh.
    fit_store: Optional[FitStore] = field(default=None, repr=False)

    @cached_property
    def _identity(self) -> str:
        """Everything the entry is built from, as canonical JSON (the fit is derived from it)."""
        measurements = self.measurements[[c for c in MEASUREMENT_FIELDS if c in self.measurements]]
        return json.dumps([self.model, self.hardware, self.form, self.num_gpus, self.dtype, self.software, self.architecture,
                           self.provenance, self.method, self.measured_spread, measurements.to_dict("list"),
                           None if self.prefill_shape is None else [list(self.prefill_shape.num_prompt_tokens), list(self.prefill_shape.relative_cost)]],
                          sort_keys=True, default=str)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CostEntry) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    @cached_property
    def key(self) -> str:
        """SHA-256 of the entry's identity: names its stored fit."""
        return hashlib.sha256(self._identity.encode()).hexdigest()

    @cached_property
    def _fitted(self) -> Dict[int, RuntimeModel]:
        """statsmodels fits, one per profiled batch size, made from the measurements now."""
        models = {}
        for batch_size, rows in self.measurements.groupby("batch_size"):
            source = f"cost table entry {self.model}@{self.hardware} (batch {batch_size})"
            models[int(batch_size)] = RuntimeModel(form=self.form, prefill_shape=self.prefill_shape).fit(rows, source)
        return models

    @cached_property
    def _models(self) -> Dict[int, RuntimeModel]:
        """The stored fit where the table carries one for exactly this entry, else `_fitted`."""
        stored = self.fit_store.get(self.key) if self.fit_store else None
        if stored is None:
            return self._fitted
        return {int(b): RuntimeModel.from_stored(raw, self.prefill_shape) for b, raw in stored.items()}

    def stored_fits(self) -> Dict[str, Dict[str, Any]]:
        """{batch size: RuntimeModel.to_stored()} of a fresh fit: what builders/fits.py writes."""
        return {str(b): m.to_stored() for b, m in self._fitted.items()}

    def fit_summary(self) -> Dict[str, Dict[str, Any]]:
        return {str(b): m.summary() for b, m in self._fitted.items()}

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: Optional[int] = None) -> pd.DataFrame:
        """Idealized runtime per request (s) with a 90% interval and an `extrapolated` flag.

        At batch size b the model predicts the batch's runtime; each request's share is 1/b of it.
        batch_size None: batch 1 where the entry was profiled at batch 1, else its smallest
        profiled batch (a table profiled only at batch 8 charges each request 1/8 of the batch).
        Zero output tokens (prefill-only scoring requests) cost one forward pass: o is taken as 1.
        """
        if batch_size is None:
            batch_size = 1 if 1 in self._models else min(self._models)
        if batch_size not in self._models:
            raise KeyError(f"{self.model}@{self.hardware} was not profiled at batch size {batch_size}")
        o = np.maximum(np.asarray(num_output_tokens, float), 1.0)
        out = self._models[batch_size].predict(num_prompt_tokens, o)
        if self.measured_spread:
            self._widen_to_measured_spread(out, num_prompt_tokens, batch_size, self.measured_spread)
        for column in ("runtime_s", "runtime_lo_s", "runtime_hi_s"):
            out[column] = out[column] / batch_size
        return out

    def _widen_to_measured_spread(self, out: pd.DataFrame, num_prompt_tokens: ArrayLike, batch_size: int,
                                  spread: Dict[str, Tuple[float, float]]) -> None:
        """The interval: the correction's interval for a new source, mixed by the request's prefill
        share, and the fit's own in quadrature (the rule every path on a corrected stack uses)."""
        first_token = self._models[batch_size].predict(num_prompt_tokens, np.ones(len(out)))["runtime_s"].to_numpy()
        runtime = out["runtime_s"].to_numpy()
        share = np.clip(first_token / runtime, 0.0, 1.0)
        from helm_efficiency.tables.corrected_entry import combine_intervals

        out["runtime_lo_s"], out["runtime_hi_s"] = combine_intervals(runtime, share, out["runtime_lo_s"].to_numpy(float),
                                                                     out["runtime_hi_s"].to_numpy(float), spread)

    def to_json(self) -> Dict[str, Any]:
        measurements = self.measurements[list(MEASUREMENT_FIELDS)]
        return {
            "model": self.model,
            "hardware": self.hardware,
            "form": self.form,
            "num_gpus": self.num_gpus,
            "dtype": self.dtype,
            "software": self.software,
            "architecture": self.architecture,
            "fit": {"by_batch_size": self.fit_summary()},
            "provenance": self.provenance,
            **({"measured_spread": {k: list(v) for k, v in sorted(self.measured_spread.items())}} if self.measured_spread else {}),
            "measurements": {c: measurements[c].tolist() for c in MEASUREMENT_FIELDS},
        }


@dataclass
class HelmTableEntry:
    """An entry of HELM's bundled ``efficiency_data`` (F at profiled prompt lengths, g per output token).

    Evaluated with monotone linear interpolation of F(p), not HELM's step-and-rescale rule:
    knots are lifted to their running maximum so F never decreases with p (a raw knot that
    dips below an earlier one is lifted, so such knots are not reproduced exactly).
    """

    model: str
    runtime_for_prompt_tokens: Dict[int, float]
    runtime_per_output_token: float
    overhead_s: float = 0.0
    hardware: str = "a100"
    num_gpus: Optional[int] = None
    dtype: Optional[str] = "fp16"
    software: Optional[str] = "Megatron-LM (HELM efficiency_data)"
    architecture: Optional[Dict[str, int]] = None
    method: str = "helm_table"
    batch_sizes: Sequence[int] = (1,)

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        if batch_size != 1:
            raise KeyError(f"HELM's table for {self.model} covers batch size 1 only")
        p = np.asarray(num_prompt_tokens, float)
        o = np.asarray(num_output_tokens, float)
        keys = np.array(sorted(self.runtime_for_prompt_tokens), float)
        values = np.maximum.accumulate(np.array([self.runtime_for_prompt_tokens[int(k)] for k in keys]))
        prefill = np.interp(p, keys, values)
        slope = (values[-1] - values[-2]) / (keys[-1] - keys[-2]) if len(keys) > 1 else 0.0
        prefill = np.where(p > keys[-1], values[-1] + (p - keys[-1]) * max(slope, 0.0), prefill)
        runtime = prefill + self.runtime_per_output_token * np.maximum(o - 1, 0) + self.overhead_s
        nan = np.full_like(runtime, np.nan)
        return pd.DataFrame(
            {"runtime_s": runtime, "runtime_lo_s": nan, "runtime_hi_s": nan, "extrapolated": (p < keys[0]) | (p > keys[-1])}
        )


def _saved(entry: ReferenceEntry) -> Dict[str, Any]:
    """An entry as a table file stores it: only calibrated entries are saved (HELM's bundled
    table is read from HELM, never written)."""
    if not isinstance(entry, CostEntry):
        raise EfficiencyInputError("table", "entries", f"{entry.model}: a {entry.method} entry is not saved in a table file")
    return entry.to_json()


@dataclass
class CostTable:
    """A set of entries (one per model and hardware) plus aliases and learned prefill shapes."""

    name: str
    entries: Sequence[ReferenceEntry]
    aliases: Dict[str, str] = field(default_factory=dict)
    prefill_shapes: Dict[str, PrefillShape] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    not_tabulated: Dict[str, str] = field(default_factory=dict)  # model → why its source gave no points
    anchor: Dict[str, object] = field(default_factory=dict)  # the measured correction applied (builders/anchored.py), with its sources

    def entry(self, name: str) -> Optional[ReferenceEntry]:
        for e in self.entries:
            if e.model == name:
                return e
        return None

    def resolve(self, names: Iterable[Optional[str]]) -> Optional[ReferenceEntry]:
        """First entry matching any of `names` (in order), directly or through an alias."""
        for name in names:
            if not name:
                continue
            for candidate in (name, self.aliases.get(name)):
                found = self.entry(candidate) if candidate else None
                if found is not None:
                    return found
        return None

    def to_json(self) -> Dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "aliases": dict(sorted(self.aliases.items())),
            "prefill_shapes": {
                hw: {"num_prompt_tokens": list(s.num_prompt_tokens), "relative_cost": list(s.relative_cost)}
                for hw, s in sorted(self.prefill_shapes.items())
            },
            "not_tabulated": dict(sorted(self.not_tabulated.items())),
            **({"anchor": self.anchor} if self.anchor else {}),
            "entries": [_saved(e) for e in self.entries],
        }

    def save(self, path: str) -> None:
        from helm_efficiency.util.atomic import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n")


def _entry_from_json(raw: Dict[str, Any], shapes: Dict[str, PrefillShape], source: str,
                     fit_store: Optional[FitStore] = None) -> CostEntry:
    for key in ("model", "hardware", "form", "measurements"):
        if key not in raw:
            raise EfficiencyInputError(source, f"entries[].{key}", "missing")
    try:
        measurements = pd.DataFrame(raw["measurements"])
    except ValueError as e:
        raise EfficiencyInputError(source, f"entries[{raw['model']}].measurements", str(e))
    if "batch_size" not in measurements:
        measurements["batch_size"] = 1
    return CostEntry(
        model=raw["model"],
        hardware=raw["hardware"],
        form=raw["form"],
        measurements=measurements,
        num_gpus=raw.get("num_gpus"),
        dtype=raw.get("dtype"),
        software=raw.get("software"),
        architecture=raw.get("architecture"),
        provenance=raw.get("provenance", {}),
        prefill_shape=shapes.get(raw["hardware"]),
        measured_spread={k: tuple(v) for k, v in raw["measured_spread"].items()} if raw.get("measured_spread") else None,
        fit_store=fit_store,
    )


def table_from_json(raw: Dict[str, Any], source: str, fit_store: Optional[FitStore] = None) -> CostTable:
    if not isinstance(raw, dict) or "entries" not in raw:
        raise EfficiencyInputError(source, "entries", "missing; not a helm-efficiency CostTable")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EfficiencyInputError(source, "schema_version", f"is {version!r}; this version reads {SCHEMA_VERSION}")
    shapes = {
        hw: PrefillShape(tuple(s["num_prompt_tokens"]), tuple(s["relative_cost"]))
        for hw, s in raw.get("prefill_shapes", {}).items()
    }
    return CostTable(
        name=raw.get("name", os.path.basename(source)),
        entries=[_entry_from_json(e, shapes, source, fit_store) for e in raw["entries"]],
        aliases=dict(raw.get("aliases", {})),
        prefill_shapes=shapes,
        description=raw.get("description", ""),
        source=raw.get("source", ""),
        not_tabulated=dict(raw.get("not_tabulated", {})),
        anchor=dict(raw.get("anchor", {})),
    )


def load_helm_efficiency_data() -> CostTable:
    """HELM's own bundled idealized-runtime table, read from the installed `helm` package."""
    text = resources.files("helm.benchmark.efficiency_data").joinpath("inference_idealized_runtimes.json").read_text()
    raw = json.loads(text)
    entries = [
        HelmTableEntry(
            model=name,
            runtime_for_prompt_tokens={int(k): float(v) for k, v in value["runtime_for_prompt_tokens"].items()},
            runtime_per_output_token=float(value["runtime_per_output_token"]),
            overhead_s=float(value.get("overhead") or 0.0),
        )
        for name, value in raw.items()
    ]
    return CostTable(
        name=HELM_TABLE,
        entries=entries,
        description="HELM's bundled efficiency_data/inference_idealized_runtimes.json (A100, Megatron-LM, 2022 models)",
        source="crfm-helm package",
    )


@lru_cache(maxsize=None)
def shipped_table(name: str) -> CostTable:
    """A shipped table (or HELM's), loaded once per process; treat it as read-only."""
    return load_table(name)


def load_table(name_or_path: str) -> CostTable:
    """Load a CostTable from a JSON path, a shipped table name (SHIPPED_TABLES) or 'helm'."""
    if name_or_path == HELM_TABLE:
        return load_helm_efficiency_data()
    if os.path.exists(name_or_path):
        source = name_or_path
        try:
            with open(name_or_path) as f:
                raw = json.load(f)
        except json.JSONDecodeError as e:
            raise EfficiencyInputError(source, "<file>", f"invalid JSON ({e})")
    elif name_or_path in SHIPPED_TABLES:
        source = in_package(table_path(name_or_path))
        with open(table_path(name_or_path), encoding="utf-8") as f:
            raw = json.load(f)
        return table_from_json(raw, source, fit_store(name_or_path))
    else:
        raise EfficiencyInputError(name_or_path, "table", f"no such file, and not a shipped table {SHIPPED_TABLES + (HELM_TABLE,)}")
    return table_from_json(raw, source)


def fit_store(name: str) -> Optional[Dict[str, Dict[str, Dict[str, Any]]]]:
    """The fits stored with shipped table `name` ({entry key: {batch size: stored fit}}), or None."""
    path = fits_path(name)  # written by python -m helm_efficiency.builders.fits
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        stored: Dict[str, Dict[str, Dict[str, Any]]] = json.loads(gzip.decompress(f.read()))
    return stored


def _row_provenance(row: pd.Series) -> Dict[str, Any]:
    """A measurement row's `source` and `provenance_*` columns (how its points were produced)."""
    out = {"source": str(row["source"])} if "source" in row.index and pd.notna(row["source"]) else {}
    for column in row.index:
        if str(column).startswith("provenance_") and pd.notna(row[column]):
            value = row[column]
            out[column[len("provenance_"):]] = value.item() if hasattr(value, "item") else value
    return out


def entries_from_measurements(
    measurements: pd.DataFrame, form: str = "auto", provenance: Optional[Dict[str, Any]] = None, shapes: Optional[Dict[str, PrefillShape]] = None
) -> List[CostEntry]:
    """One CostEntry per (model, hardware) of a validated measurements table."""
    entries = []
    for (model, hardware), rows in measurements.groupby(["model", "hardware"], sort=True):
        first = rows.iloc[0]
        entry = CostEntry(
            model=str(model),
            hardware=str(hardware),
            form=form,
            measurements=rows[list(MEASUREMENT_FIELDS)].reset_index(drop=True),
            num_gpus=int(first["num_gpus"]) if "num_gpus" in rows and pd.notna(first["num_gpus"]) else None,
            dtype=str(first["dtype"]) if "dtype" in rows and pd.notna(first["dtype"]) else None,
            software=str(first["software"]) if "software" in rows and pd.notna(first["software"]) else None,
            architecture=architecture_of(rows),
            provenance=dict(provenance or {}, **_row_provenance(first)),
            prefill_shape=(shapes or {}).get(str(hardware)),
        )
        # Record the automatic choice so the saved table refits exactly the same form.
        entries.append(replace(entry, form=next(iter(entry._models.values())).form_))
    return entries
