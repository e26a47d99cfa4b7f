"""Idealized runtime, energy and cost for a requests table, from reference CostTables.

Idealized runtime is the request's cost at batch size 1 on the reference stack, whatever
batching the real deployment used. One resolution chain, used by the metric, `estimate` and
`rescore`: deployment → HELM model → architecture registry → entry on the chosen stack
(`calibrated`, or `helm_table` for HELM's bundled table) → `transfer` on that stack from the
model's architecture (request columns or the registry) → `size_only` on that stack from the
model's parameter count (request column or HELM's metadata) → not estimated, with a reason
that names what is missing.

Energy is per phase: prefill time (the request priced at one output token) at the GPU's
batch-1 prefill power, the rest at its batch-1 decode power (hardware.json), times the GPUs.

A request that carried media is priced with them (image tokens in the prompt, the vision
encoder in prefill) where the model's registry entry states its image rule, else not at all,
with a reason starting "media not priced" (media_price.py).
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.identity import SIZE_COLUMNS, ModelIdentity, entry_context_window, identify, known_names
from helm_efficiency.analytic.transfer import (
    REQUIRED_ARCH,
    TransferModel,
    gpus_to_hold,
    tensor_parallel_for,
    transfer_from_entries,
)
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.util.frames import with_columns
from helm_efficiency.costmodel.measurements import ARCHITECTURE_COLUMNS
from helm_efficiency.analytic.registry import registry_architecture
from helm_efficiency.pricing.media_price import MEDIA_COLUMNS, REASON_MEDIA, MediaPlan, encoder_seconds, media_plan
from helm_efficiency.tables.cost_table import CostTable, ReferenceEntry
from helm_efficiency.tables.corrected_entry import CorrectedEntry, simulated_entries, table_correction

if TYPE_CHECKING:
    from helm_efficiency.analytic.size_only import SizeOnlyModel  # imported where used: it is not on every path

REASON_UNKNOWN_MODEL = "no reference table covers this model"  # prefix of every "not covered" reason
REASON_NO_GPU_COUNT = "reference entry has no GPU count"
REASON_NO_POWER = "no power assumption for this hardware"
REASON_NO_PRICE = "no price assumption for this hardware"

ESTIMATE_COLUMNS = [
    "idealized_runtime_s",
    "idealized_runtime_lo_s",
    "idealized_runtime_hi_s",
    "method",
    "extrapolated",
    "reference_model",
    "reference_hardware",
    "idealized_energy_j",
    "idealized_energy_lo_j",
    "idealized_energy_hi_j",
    "idealized_cost_usd",
    "num_media_tokens",  # tokens the request's media added to the prompt (0: a text request; NaN: not priced)
    "vision_encoder_s",  # seconds of vision encoder within idealized runtime (0: none)
    "unestimated_reason",
]


# The request columns a group's estimate reads (model_identity, media_plan, the token counts):
# each group takes only these, not a copy of the whole table (a suite's has a million rows).
ROW_COLUMNS = tuple(ARCHITECTURE_COLUMNS) + SIZE_COLUMNS + MEDIA_COLUMNS + ("num_prompt_tokens", "num_output_tokens")


@dataclass
class FittedModels:
    """Models fitted once per estimate call and shared by its groups: TransferModels by
    hardware, SizeOnlyModels by table (None where none can be fitted)."""

    transfer: Dict[str, Optional[TransferModel]] = field(default_factory=dict)
    size_only: Dict[str, Optional["SizeOnlyModel"]] = field(default_factory=dict)


def resolve_entry(tables: Sequence[CostTable], names: Iterable[Optional[str]], *, catalog: Catalog = HELM_ONLY) -> Optional[ReferenceEntry]:
    """First table entry for any of `names`, the models they serve (in `catalog`), or their architecture-registry key."""
    names = known_names(names, catalog)
    for table in tables:
        entry = table.resolve(names)
        if entry is not None:
            return entry
    return None


def transfer_pool(tables: Sequence[CostTable]) -> List[ReferenceEntry]:
    """Entries transfer may learn from: the given tables' entries, then, when every given table
    is a shipped one, the other shipped tables' (a stack's profiles on other hardware inform its
    regression), first occurrence winning. A user's own table is never mixed with the shipped
    ones, so its results do not change when a shipped table is rebuilt."""
    from helm_efficiency.stacks import SHIPPED_TABLES
    from helm_efficiency.tables.cost_table import shipped_table

    shipped = [shipped_table(name) for name in SHIPPED_TABLES]
    all_shipped = all(any(table is s for s in shipped) for table in tables)
    pool: List[ReferenceEntry] = []
    seen: Set[Tuple[str, Optional[str]]] = set()
    for table in list(tables) + (shipped if all_shipped else []):
        for entry in simulated_entries(table.entries):  # anchored stacks: learn the kernels, correct after
            key = (entry.model, getattr(entry, "hardware", None))
            if key not in seen:
                seen.add(key)
                pool.append(entry)
    return pool


def transfer_entry(
    tables: Sequence[CostTable],
    names: Sequence[Optional[str]],
    arch: Optional[Dict[str, int]],
    fitted: Optional[Dict[str, Optional[TransferModel]]] = None,
    hardware: Optional[str] = None,
) -> Optional[ReferenceEntry]:
    """A `transfer` entry for a model no table calibrates: its architecture on `hardware`, by
    default the first hardware of the given tables that supports transfer. `fitted` caches
    TransferModels by hardware across calls."""
    if arch is None or not all(k in arch for k in REQUIRED_ARCH):
        return None
    fitted = {} if fitted is None else fitted
    candidates: List[str] = [hardware] if hardware else [
        h for table in tables for h in sorted({str(getattr(e, "hardware")) for e in table.entries if getattr(e, "hardware", None)})]
    for candidate in candidates:
        if candidate not in fitted:
            fitted[candidate] = transfer_from_entries(transfer_pool(tables), candidate)
        if fitted[candidate] is not None:
            table = next((t for t in tables if any(getattr(e, "hardware", None) == candidate for e in t.entries)), None)
            return corrected(TransferEntry(cast(TransferModel, fitted[candidate]), arch, names), table)
    return None


def corrected(entry: ReferenceEntry, table: Optional[CostTable]) -> ReferenceEntry:
    """`entry` with its table's batch-1 correction applied (tables/corrected_entry.py) when the table is anchored."""
    phases = table_correction(table) if table is not None else None
    if phases is None:
        return entry
    spec = hardware_spec(entry.hardware)
    return CorrectedEntry(entry, phases, spec.key if spec is not None else str(entry.hardware))


def explain_transfer(name: str, tables: Sequence[CostTable], num_prompt_tokens: int, num_output_tokens: int,
                     hardware: Optional[str] = None) -> Dict[str, Any]:
    """TransferModel.explain for a registry model on `hardware` (default: as `transfer_entry`)."""
    if registry_architecture(name) is None:
        raise EfficiencyInputError(name, "model", "not in the architecture registry (helm_efficiency/analytic/registry.json)")
    entry = transfer_entry(tables, [name], registry_architecture(name), hardware=hardware)
    if entry is None:
        where = f"--hardware {hardware}" if hardware else "tables " + "+".join(sorted({getattr(e, "hardware", "?") for t in tables for e in t.entries}))
        raise EfficiencyInputError(where, "hardware", "no transfer model there: transfer needs a GPU with roofline specs "
                                   "(a100, v100, h100, h200) and at least two profiled architectures on it")
    # On an anchored stack (the default) the transfer prediction is wrapped in the stack's batch-1
    # correction: explain the transfer model, then say what the correction makes of it.
    inner = entry.inner if isinstance(entry, CorrectedEntry) else entry
    if not isinstance(inner, TransferEntry):
        raise EfficiencyInputError(name, "model", f"not priced by transfer here ({type(inner).__name__})")
    report: Dict[str, Any] = inner.transfer.explain(inner.architecture, num_prompt_tokens, num_output_tokens)
    if inner is not entry:
        row = entry.predict([num_prompt_tokens], [num_output_tokens]).iloc[0]
        report["corrected_runtime_s"] = float(row["runtime_s"])
        report["corrected_interval_s"] = [float(row["runtime_lo_s"]), float(row["runtime_hi_s"])]
    return report


class TransferEntry:
    """Adapter giving a TransferModel prediction the CostEntry interface."""

    method = "transfer"

    def __init__(self, model: TransferModel, arch: Dict[str, int], names: Sequence[Optional[str]]) -> None:
        self.transfer = model
        self.hardware = model.hardware_
        self.architecture = dict(arch)
        self.architecture.setdefault("tensor_parallel", tensor_parallel_for(arch, model.hw_))
        self.num_gpus = int(self.architecture["tensor_parallel"])
        self.model = "transfer:" + next((n for n in names if n), "architecture")

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        return self.transfer.predict(self.architecture, num_prompt_tokens, num_output_tokens)


def size_only_entry(tables: Sequence[CostTable], names: Sequence[Optional[str]], size: Optional[float],
                    fitted: Dict[str, Optional["SizeOnlyModel"]], active: Optional[float] = None) -> Optional[ReferenceEntry]:
    """A `size_only` entry on the first table's stack for a model known only by its size (and,
    for a mixture of experts, the parameters a token runs through: `active`), else None."""
    from helm_efficiency.analytic.size_only import SizeOnlyEntry, SizeOnlyModel

    if size is None or not tables:
        return None
    table = tables[0]
    if table.name not in fitted:
        try:
            fitted[table.name] = SizeOnlyModel().fit(simulated_entries(table.entries), source=f"table {table.name}")
        except EfficiencyInputError:
            fitted[table.name] = None
    model = fitted[table.name]
    moe = active is not None and active < size
    if model is None or (moe and not model.prices_moe()):
        return None
    spec = hardware_spec(model.hardware_)
    gpus = gpus_to_hold(2 * size, spec) if spec is not None else 1  # bf16 weights (every expert), the same rule as transfer
    return corrected(SizeOnlyEntry(model, size, gpus, next((n for n in names if n), "model"), active if moe else None), table)


def unestimated_reason(identity: ModelIdentity, tables: Sequence[CostTable] = (), fitted: Optional[FittedModels] = None) -> str:
    """Why the chain found nothing: what each step was missing (`tables` and `fitted`: the stack
    the size-only step tried, and its fit)."""
    if identity.closed:
        return f"{REASON_UNKNOWN_MODEL}: {identity.closed} is closed-weight (HELM access), so no public architecture or size"
    name, arch = identity.name, identity.arch()
    if arch is not None:
        missing = [k for k in REQUIRED_ARCH if k not in arch]
        what = f"its architecture lacks {', '.join(missing)}" if missing else "no table entry and no transfer model on this stack"
        return f"{REASON_UNKNOWN_MODEL}: {name}: {what}"
    from helm_efficiency.analytic.size_only import MIN_MOE_MODELS

    size, active = identity.num_parameters, identity.num_active_parameters
    table = tables[0].name if tables else None
    sized = fitted.size_only.get(table) if fitted is not None and table is not None else None
    if size is not None and active is not None and active < size and sized is not None and not sized.prices_moe():
        return (f"{REASON_UNKNOWN_MODEL}: {name}: a mixture of experts known by its sizes, and table {table} simulates {len(sized.moe_models_)} "
                f"mixtures of experts, fewer than the {MIN_MOE_MODELS} that measure how far pricing one by size lands")
    return f"{REASON_UNKNOWN_MODEL}: {name}: no table entry, not in the architecture registry, no architecture columns, and no num_parameters"


def _give_reason(result: Dict[str, np.ndarray], index: np.ndarray, reason: str) -> None:
    """Set `unestimated_reason` on rows that have none yet (the first reason found stands)."""
    reasons = result["unestimated_reason"]
    empty = index[[reasons[i] is None for i in index]]
    reasons[empty] = reason


def _describes_another_model(entry: ReferenceEntry, identity: ModelIdentity) -> bool:
    """True when the requests' own architecture columns contradict the entry found by name:
    another tensor parallelism, or (a local folder named like a known model, say) other dimensions."""
    given = dict(identity.given)
    if given.get("tensor_parallel") and entry.num_gpus and entry.num_gpus != given["tensor_parallel"]:
        return True
    known = entry.architecture or {}
    return any(k in given and k in known and int(given[k]) != int(known[k]) for k in REQUIRED_ARCH)


def _phase_energy_j(entry: ReferenceEntry, p: np.ndarray, runtimes: Sequence[np.ndarray], power_w: Optional[float],
                    extra_prefill_s: Union[float, np.ndarray] = 0.0) -> Optional[List[np.ndarray]]:
    """Energy per request (J) on all the entry's GPUs for each of `runtimes` (runtime, its low and
    high end): prefill (with `extra_prefill_s`, a vision encoder's seconds) at batch-1 prefill
    power, decode at decode power, the low end with the powers' low ends and the high end with
    their high ends (analytic/hardware.json); one `power_w` for both phases when given. None
    without a power assumption."""
    spec = hardware_spec(entry.hardware)
    if power_w is not None:
        return [r * entry.num_gpus * power_w for r in runtimes]
    if spec is None or spec.power_prefill_w is None or spec.power_decode_w is None:
        return None
    first_token = entry.predict(p, np.ones_like(p))["runtime_s"].to_numpy() + extra_prefill_s
    powers = [(spec.power_prefill_w, spec.power_decode_w),
              (spec.power_prefill_lo_w or spec.power_prefill_w, spec.power_decode_lo_w or spec.power_decode_w),
              (spec.power_prefill_hi_w or spec.power_prefill_w, spec.power_decode_hi_w or spec.power_decode_w)]
    out = []
    for runtime, (prefill_w, decode_w) in zip(runtimes, powers):
        prefill = np.minimum(first_token, runtime)
        out.append(entry.num_gpus * (prefill * prefill_w + (runtime - prefill) * decode_w))
    return out


# -- the chain: each step (identity, tables, fitted, *, catalog) -> entry or None, tried in order ----
def calibrated_step(identity: ModelIdentity, tables: Sequence[CostTable], fitted: FittedModels, *, catalog: Catalog) -> Optional[ReferenceEntry]:
    """The model's own entry on the stack (calibrated, or HELM's table), unless the requests'
    architecture columns describe another model (then transfer prices what they describe)."""
    entry = resolve_entry(tables, identity.names, catalog=catalog)
    return None if entry is None or _describes_another_model(entry, identity) else entry


def transfer_step(identity: ModelIdentity, tables: Sequence[CostTable], fitted: FittedModels, *, catalog: Catalog) -> Optional[ReferenceEntry]:
    """Transfer on the stack from the model's architecture."""
    return transfer_entry(tables, identity.names, identity.arch(), fitted.transfer)


def size_only_step(identity: ModelIdentity, tables: Sequence[CostTable], fitted: FittedModels, *, catalog: Catalog) -> Optional[ReferenceEntry]:
    """The stack's size-only regression on the model's parameter count."""
    return size_only_entry(tables, identity.names, identity.num_parameters, fitted.size_only, identity.num_active_parameters)


STEPS = (calibrated_step, transfer_step, size_only_step)


def _price(result: Dict[str, np.ndarray], index: np.ndarray, entry: ReferenceEntry, p: np.ndarray, predicted: pd.DataFrame,
           power_w: Optional[float], usd_per_gpu_hour: Optional[float], encoder_s: Union[float, np.ndarray] = 0.0) -> None:
    """Energy (with its interval) and cost of the priced rows, or the reason they have none."""
    if entry.num_gpus is None:
        _give_reason(result, index, REASON_NO_GPU_COUNT)
        return
    runtime = predicted["runtime_s"].to_numpy()
    energy = _phase_energy_j(entry, p, [runtime, predicted["runtime_lo_s"].to_numpy(), predicted["runtime_hi_s"].to_numpy()], power_w,
                             encoder_s)
    if energy is not None:
        result["idealized_energy_j"][index], result["idealized_energy_lo_j"][index], result["idealized_energy_hi_j"][index] = energy
    else:
        _give_reason(result, index, REASON_NO_POWER)
    spec = hardware_spec(entry.hardware)
    price = usd_per_gpu_hour if usd_per_gpu_hour is not None else (spec.usd_per_gpu_hour if spec else None)
    if price is not None:
        result["idealized_cost_usd"][index] = runtime / 3600.0 * entry.num_gpus * price
    elif energy is not None:
        _give_reason(result, index, REASON_NO_PRICE)


def estimate_idealized(
    requests: pd.DataFrame,
    tables: Sequence[CostTable],
    *,
    power_w: Optional[float] = None,
    usd_per_gpu_hour: Optional[float] = None,
    name_columns: Sequence[str] = ("model_deployment", "model"),
    group_columns: Sequence[str] = (),
    catalog: Catalog = HELM_ONLY,
) -> pd.DataFrame:
    """Add ESTIMATE_COLUMNS to `requests` (frames.with_columns; needs num_prompt_tokens, num_output_tokens).
    Rows are resolved per distinct value of `name_columns` + `group_columns`, each group's model
    identified once in `catalog` (analytic/identity.identify)."""
    for name, value in (("power_w", power_w), ("usd_per_gpu_hour", usd_per_gpu_hour)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise EfficiencyInputError(name, name, f"{value} is not a positive number (a power in W, a price in USD per GPU-hour)")
    out = requests
    n = len(out)
    result = {c: np.full(n, np.nan) for c in ESTIMATE_COLUMNS}
    for c in ("method", "reference_model", "reference_hardware", "unestimated_reason"):
        result[c] = np.full(n, None, dtype=object)
    result["extrapolated"] = np.zeros(n, bool)
    present = [c for c in name_columns if c in out.columns]
    grouping = present + [c for c in group_columns if c in out.columns and c not in present]
    keys = out[grouping].astype(object).where(out[grouping].notna(), None)
    groups = keys.groupby(grouping, dropna=False, sort=False).indices if grouping else {(): np.arange(n)}
    fitted = FittedModels()
    read = out[[c for c in ROW_COLUMNS if c in out.columns]]
    for key, index in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        names = key[: len(present)]
        rows = read.iloc[index]
        identity = identify(catalog, names, rows=rows)
        media = media_plan(identity.names, rows, catalog=catalog)
        entry = next((e for e in (step(identity, tables, fitted, catalog=catalog) for step in STEPS) if e is not None), None)
        if entry is None:
            result["unestimated_reason"][index] = np.where(media.withheld, media.reasons, unestimated_reason(identity, tables, fitted))
            continue
        encoder = _encoder(media, tables, fitted, entry)
        p = rows["num_prompt_tokens"].to_numpy(float) + media.tokens
        predicted = entry.predict(p, rows["num_output_tokens"].to_numpy())
        if encoder is not None:
            for column in ("runtime_s", "runtime_lo_s", "runtime_hi_s"):
                predicted[column] = predicted[column].to_numpy() + encoder[column].to_numpy()
            predicted["extrapolated"] = predicted["extrapolated"].to_numpy(bool) | encoder["extrapolated"].to_numpy(bool)
        withheld = media.withheld
        predicted.loc[withheld, ["runtime_s", "runtime_lo_s", "runtime_hi_s"]] = np.nan
        result["unestimated_reason"][index[withheld]] = media.reasons[withheld]
        result["num_media_tokens"][index] = np.where(withheld, np.nan, media.tokens)
        encoder_s = encoder["runtime_s"].to_numpy() if encoder is not None else np.zeros(len(index))
        result["vision_encoder_s"][index] = np.where(withheld, np.nan, encoder_s)
        window = entry_context_window(entry) or identity.context_window
        if window is not None:
            beyond = (p + rows["num_output_tokens"].to_numpy(float)) > window[0]
            predicted.loc[beyond, ["runtime_s", "runtime_lo_s", "runtime_hi_s"]] = np.nan
            _give_reason(result, index[beyond], f"prompt + output tokens exceed the model's context window ({window[0]} tokens, {window[1]})")
        result["idealized_runtime_s"][index] = predicted["runtime_s"].to_numpy()
        result["idealized_runtime_lo_s"][index] = predicted["runtime_lo_s"].to_numpy()
        result["idealized_runtime_hi_s"][index] = predicted["runtime_hi_s"].to_numpy()
        priced = index[~withheld]  # a withheld request was priced by no method
        result["extrapolated"][priced] = predicted["extrapolated"].to_numpy(bool)[~withheld]
        result["method"][priced] = entry.method
        result["reference_model"][priced] = entry.model
        result["reference_hardware"][priced] = entry.hardware
        _price(result, index, entry, p, predicted, power_w, usd_per_gpu_hour, encoder_s)
    if "approximate_tokens" in out:
        # Tokens counted by the offline fallback: the interval also spans its measured error.
        from helm_efficiency.request_table.tokens import FALLBACK_RELATIVE_ERROR

        approx = out["approximate_tokens"].fillna(False).astype(bool).to_numpy()
        result["idealized_runtime_lo_s"][approx] /= 1.0 + FALLBACK_RELATIVE_ERROR
        result["idealized_runtime_hi_s"][approx] *= 1.0 + FALLBACK_RELATIVE_ERROR
    return with_columns(requests, {c: result[c] for c in ESTIMATE_COLUMNS})


def _encoder(media: MediaPlan, tables: Sequence[CostTable], fitted: FittedModels, entry: ReferenceEntry) -> Optional[pd.DataFrame]:
    """Vision-encoder seconds of the requests `media` prices, on the entry's hardware (its stack's
    transfer model, from the encoder's dimensions); where none can be had, those requests are
    withheld with the reason."""
    if media.rule is None or not (media.images > 0).any():
        return None
    encoder = transfer_entry(tables, [f"{media.rule.model} vision encoder"], media.rule.encoder, fitted.transfer, entry.hardware)
    if encoder is None:
        media.withhold(media.images > 0, f"{REASON_MEDIA}: no transfer model on {entry.hardware} to price {media.rule.model}'s "
                                          "vision encoder (transfer needs a GPU with roofline specs and two profiled architectures)")
        return None
    return encoder_seconds(media, encoder)


def load_tables(names: Sequence[str]) -> List[CostTable]:
    """Tables by shipped name (a100, v100, cpu, helm: loaded once per process) or JSON path
    (read each time, so an edited file is picked up)."""
    from helm_efficiency.stacks import HELM_TABLE, SHIPPED_TABLES
    from helm_efficiency.tables.cost_table import load_table, shipped_table

    return [shipped_table(name) if name in SHIPPED_TABLES + (HELM_TABLE,) else load_table(name) for name in names]
