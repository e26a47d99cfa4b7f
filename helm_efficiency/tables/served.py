"""Served tables: what a request costs when a stack serves it well (batched, under a latency target).

Idealized runtime prices a request at batch 1. A deployment serving many users batches them
(in-flight batching), and each request then costs far fewer GPU-seconds. A served table stores,
per model on one modern stack (tables/names.py REFERENCE_STACKS), the operating points
AIConfigurator's aggregated search finds at a grid of request shapes, prompt lengths
(128 … 32,768) x output lengths (16 … 16,384) within the model's context window
(`sources/served.py`): for each, the placement (tensor, pipeline and expert parallelism; models
that need more than one 8-GPU node are pipelined across nodes), batch size and context tokens per
step, the time to first token and time per output token achieved, and the prefill and decode
tokens/s per GPU there. Each request in flight holds its whole KV cache (p + o tokens), so long
outputs shrink the batch. The throughput-optimal point under a latency target (`Sla`, default:
time per output token ≤ 50 ms and first token ≤ 2 s) prices a request of p prompt and o output
tokens at each stored shape around it,

    served_gpu_s = p / prefill_tok_s_per_gpu + o / decode_tok_s_per_gpu

interpolated bilinearly in (p, o) between the stored shapes' costs; outside the grid it is flagged `served_extrapolated`.

This module reads them: `load_served_table` and `served_estimates`, which is pure and reads only
the stored points; any latency target is answered from them (the table keeps every point needed,
see `sources/served.py`). `helm_efficiency/builders/served.py` builds them:

    python -m helm_efficiency.builders.served --stack h100-trtllm -j 2
"""

import gzip
import io
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import orjson
import pandas as pd

from helm_efficiency.analytic.identity import context_window, registry_key
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.tables.sla import DEFAULT_SLA, Sla, parse_sla  # noqa: F401 (parse_sla: part of this module's reading API)
from helm_efficiency.sources.served_correction import interval_factors, served_power_w  # noqa: F401 (served_power_w: part of this module's reading API)
from helm_efficiency.util import data_paths

SCHEMA_VERSION = 2  # 2: points over a (prompt, output) grid, with pipeline parallelism; 1 (one output length) is refused
SERVED_DIR = data_paths.SERVED_DIR


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ServedTable:
    """One stack's served table, as stored (`raw` is the JSON). Read-only."""

    name: str
    raw: Dict[str, Any]

    @property
    def prompt_tokens(self) -> Tuple[int, ...]:
        """The prompt-length grid (tokens); a model stores the part its context window needs."""
        return tuple(int(p) for p in self.raw["prompt_tokens"])

    @property
    def output_tokens(self) -> Tuple[int, ...]:
        """The output-length grid (tokens)."""
        return tuple(int(o) for o in self.raw["output_tokens"])

    @property
    def entries(self) -> Mapping[str, Dict[str, Any]]:
        return cast(Mapping[str, Dict[str, Any]], self.raw["entries"])

    @property
    def not_served(self) -> Dict[str, str]:
        return cast(Dict[str, str], self.raw.get("not_served", {}))

    def shapes(self, model: str) -> List[Tuple[int, int]]:
        """The (prompt, output) shapes stored for `model`, sorted."""
        from helm_efficiency.sources.served import parse_shape_key

        return sorted(parse_shape_key(k) for k in self.entries[model]["points"])

    def points(self, model: str, num_prompt_tokens: int, num_output_tokens: int) -> List[Dict[str, Any]]:
        """The stored points of `model` at one stored shape, through the served correction
        (which sees each point's fields and its shape, num_prompt_tokens and num_output_tokens)."""
        from helm_efficiency.sources.served import STORED_FIELDS, point_from_row, shape_key
        from helm_efficiency.sources.served_correction import correct_points

        p, o = int(num_prompt_tokens), int(num_output_tokens)
        rows = self.entries[model]["points"][shape_key(p, o)]
        corrected = correct_points(self.name, model, [dict(zip(STORED_FIELDS, r), num_prompt_tokens=p, num_output_tokens=o) for r in rows],
                                   layers=num_layers(model))
        return [point_from_row([q[k] for k in STORED_FIELDS], p, o) for q in corrected]

    def operating_point(self, model: str, num_prompt_tokens: int, num_output_tokens: int, sla: Optional[Sla] = None) -> Optional[Dict[str, Any]]:
        """The point that prices a request at a stored shape under `sla` (default: DEFAULT_SLA): the
        cheapest stored point, or in-between point of a placement (`points_at_target`), that meets
        it; None when none does."""
        from helm_efficiency.sources.served import STORED_FIELDS, best_point, feasible_points, point_from_row

        sla = sla or DEFAULT_SLA
        p, o = int(num_prompt_tokens), int(num_output_tokens)
        feasible = feasible_points(self.points(model, p, o), sla.ttft_s, sla.tpot_ms, sla.max_batch)
        return best_point([point_from_row([q[k] for k in STORED_FIELDS], p, o) for q in feasible], sla.ttft_s, sla.tpot_ms, sla.max_batch)


@lru_cache(maxsize=None)
def num_layers(model: str) -> int:
    """The decoder layers of registry model `model` (0 where the registry lacks it: no all-reduce term)."""
    from helm_efficiency.analytic.registry import registry_architecture

    arch = registry_architecture(model)
    return int(arch["num_layers"]) if arch else 0


def table_from_json(raw: object, source: str) -> ServedTable:
    """A ServedTable from its JSON; a table of another schema version is refused, naming how to rebuild it."""
    if not isinstance(raw, dict):
        raise EfficiencyInputError(source, "served table", f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EfficiencyInputError(source, "schema_version", (
            f"served table format {version!r} is not read by this version (format {SCHEMA_VERSION}: points over a grid of prompt "
            f"and output lengths, with pipeline parallelism); rebuild it with python -m helm_efficiency.builders.served "
            f"--stack {raw.get('name', 'STACK')} --out-dir DIR"))
    for field in ("name", "prompt_tokens", "output_tokens", "entries", "columns"):
        if field not in raw:
            raise EfficiencyInputError(source, field, "missing from the served table")
    from helm_efficiency.sources.served import STORED_FIELDS

    if list(raw["columns"]) != list(STORED_FIELDS):
        raise EfficiencyInputError(source, "columns", f"expected {list(STORED_FIELDS)}, got {raw['columns']}")
    return ServedTable(name=str(raw["name"]), raw=raw)


HEADER_MEMBER = "table.json"  # the zip member holding the table but its entries (a list of the models there)


def entry_member(model: str) -> str:
    """The zip member of a served table that holds one model's entry."""
    return f"entries/{model}.json"


class LazyEntries(Mapping[str, Dict[str, Any]]):
    """A zipped served table's entries, each model's member decompressed and decoded when first
    read: a table holds about a hundred models' points (MBs of JSON) and a run prices a few. Every
    listed model's member is checked present when the table is read (`_read_table_file`)."""

    def __init__(self, archive: bytes, models: Sequence[str], source: str):
        self._archive = archive
        self._models = list(models)
        self._listed = frozenset(self._models)
        self._source = source
        self._decoded: Dict[str, Dict[str, Any]] = {}

    def __contains__(self, model: object) -> bool:
        return model in self._listed

    def __getitem__(self, model: str) -> Dict[str, Any]:
        if model not in self._decoded:
            if model not in self._listed:
                raise KeyError(model)
            try:
                with zipfile.ZipFile(io.BytesIO(self._archive)) as archive:
                    self._decoded[model] = orjson.loads(archive.read(entry_member(model)))
            except (ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
                raise EfficiencyInputError(self._source, entry_member(model), f"not a readable served-table entry: {e}")
        return self._decoded[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


ZIP_MAGIC, GZIP_MAGIC = b"PK\x03\x04", b"\x1f\x8b"


def _read_table_file(path: str, source: Optional[str] = None) -> Any:
    """A served table from `path`, by its first bytes: a zip archive (as built: the header member,
    with the entries read when first used; every listed model's member must be there), or one
    JSON document, gzip-compressed or not. `source` names the file in errors (default: `path`);
    an unreadable file is an EfficiencyInputError, shipped or not."""
    source = source or path
    try:
        with open(path, "rb") as f:
            data = f.read()
        if not data.startswith(ZIP_MAGIC):
            return orjson.loads(gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            raw = orjson.loads(archive.read(HEADER_MEMBER))
            members = set(archive.namelist())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise EfficiencyInputError(source, "served table", f"not a readable served table (zip or JSON): {e}")
    if isinstance(raw, dict) and isinstance(raw.get("entries"), list):
        missing = [m for m in raw["entries"] if entry_member(m) not in members]
        if missing:
            raise EfficiencyInputError(source, "entries", f"{len(missing)} listed model(s) have no member in the archive: "
                                       + ", ".join(entry_member(m) for m in missing[:5]))
        raw["entries"] = LazyEntries(data, raw["entries"], source)
    return raw


def served_table_path(stack: str, out_dir: Optional[str] = None) -> str:
    """Where a stack's served table is written (and, for the shipped ones, read)."""
    return data_paths.served_table_path(stack, out_dir or SERVED_DIR)


@lru_cache(maxsize=None)
def has_served_table(stack: str) -> bool:
    """A served table ships for this stack name (h100-trtllm, ...)."""
    return "/" not in stack and os.path.isfile(served_table_path(stack))


@lru_cache(maxsize=None)
def _shipped_served_table(stack: str) -> ServedTable:
    path = served_table_path(stack)
    if not os.path.isfile(path):
        raise EfficiencyInputError(stack, "stack", f"served table not built; run python -m helm_efficiency.builders.served --stack {stack}")
    return table_from_json(_read_table_file(path, data_paths.in_package(path)), data_paths.in_package(path))


def load_served_table(stack: str) -> ServedTable:
    """The shipped served table of a stack (`h100-trtllm`, ...; read once per process) or a
    served table's path (.zip as built, .json or .json.gz; read each time)."""
    if os.path.isfile(stack):
        return table_from_json(_read_table_file(stack), stack)
    from helm_efficiency.stacks import SIMULATED_TABLES

    if stack not in SIMULATED_TABLES:
        raise EfficiencyInputError(stack, "stack", f"no served table; known: {', '.join(SIMULATED_TABLES)} (or a served table's path)")
    return _shipped_served_table(stack)


# --------------------------------------------------------------------------- estimates


ESTIMATE_COLUMNS = ("served_gpu_s", "served_gpu_s_lo", "served_gpu_s_hi", "served_cost_usd", "served_cost_usd_lo",
                    "served_cost_usd_hi", "served_energy_j", "served_energy_j_lo", "served_energy_j_hi", "served_num_gpus",
                    "served_placement", "served_model", "served_method", "served_extrapolated", "served_reason")
_TEXT_COLUMNS = ("served_placement", "served_model", "served_method", "served_reason")
METHOD_SIMULATED = "simulated"
METHOD_TRANSFER = "transfer from "  # + the neighbours priced from (tables/served_transfer.py)
METHOD_SIZE = "size_only from "  # a model known only by its size: + the neighbours priced from


def _bracket(grid: Sequence[int], x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, weight of the upper) of each x on a sorted grid, linear in x;
    outside the grid both indices are the nearer end (weight 0)."""
    g = np.asarray(grid, float)
    hi = np.clip(np.searchsorted(g, x, side="right"), 1, len(g) - 1) if len(g) > 1 else np.zeros(len(x), int)
    lo = hi - 1 if len(g) > 1 else hi
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (x - g[lo]) / (g[hi] - g[lo]) if len(g) > 1 else np.zeros(len(x))
    below, above = x <= g[0], x >= g[-1]
    lo, hi = np.where(below, 0, np.where(above, len(g) - 1, lo)), np.where(below, 0, np.where(above, len(g) - 1, hi))
    return lo, hi, np.where(below | above, 0.0, np.nan_to_num(w))


def distinct_shapes(p: np.ndarray, o: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(first position of each distinct (p, o), each request's distinct shape): a suite repeats
    request shapes, and a served estimate is an elementwise function of the request's own shape
    (no BLAS reduction whose rounding could depend on how many rows are priced together)."""
    p, o = np.asarray(p, float), np.asarray(o, float)
    if not (np.isfinite(p).all() and np.isfinite(o).all()):
        return np.arange(len(p)), np.arange(len(p))
    codes, distinct = pd.factorize(np.stack([p, o], axis=1).view(np.complex128).ravel())  # one hashable key per (p, o)
    first = np.empty(len(distinct), np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # the last write is the first occurrence
    return first, codes


# Requests priced at once against a side's stored points (a rows × points matrix each).
ROWS_PER_CHUNK = 8192


class _ModelPoints:
    """One model's stored points as arrays, per stored shape, with the SLA's feasibility."""

    def __init__(self, table: ServedTable, model: str, sla: Sla, corrected: Optional[Dict[Tuple[int, int], List[Dict[str, Any]]]] = None) -> None:
        """`corrected`: a dict shared by _ModelPoints of one model at other targets, filled with
        each shape's corrected points once."""
        from helm_efficiency.sources.served import feasible_points, placement_label

        corrected = {} if corrected is None else corrected
        self.table, self.model, self.sla = table, model, sla
        self.shapes = table.shapes(model)
        self.prompts = sorted({p for p, _ in self.shapes})
        self.outputs = sorted({o for _, o in self.shapes})
        self.window = table.entries[model].get("context_window")
        self.sides: Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray, np.ndarray, List[str], np.ndarray]] = {}
        for p, o in self.shapes:
            if (p, o) not in corrected:
                corrected[(p, o)] = table.points(model, p, o)
            points = corrected[(p, o)]
            ok = feasible_points(points, sla.ttft_s, sla.tpot_ms, sla.max_batch)
            self.sides[(p, o)] = (np.array([1.0 / q["prefill_tok_s_per_gpu"] for q in ok]),
                                  np.array([1.0 / q["decode_tok_s_per_gpu"] for q in ok]),
                                  np.array([q["tp"] * q["pp"] for q in ok], int),
                                  [placement_label(q["tp"], q["pp"], q["ep"]) for q in ok],
                                  np.array([q["batch_size"] for q in ok], float))

    def gpu_s_many(self, p: np.ndarray, o: np.ndarray) -> Tuple[np.ndarray, np.ndarray, List[str], np.ndarray, List[str], np.ndarray]:
        """(GPU-s, GPUs of one replica, placement, extrapolated, reason, running batch) per request (p, o).

        At each of the (up to four) stored shapes around (p, o) (the nearer end outside the grid),
        the throughput-optimal feasible point prices that shape's own request (the least
        P·(s per prompt token) + O·(s per output token)); the corner costs are then interpolated
        bilinearly in (p, o), since a request's GPU time is about affine in each. Beyond the grid the
        nearer end's point prices the request's own p or o. GPUs and placement are those of the point at the shape
        carrying the most weight, and so is the running batch (it sets the power drawn). A tighter latency target removes points at each shape, so it
        never lowers the cost. Outside the grid the flag `extrapolated` is set."""
        n = len(p)
        pl, ph, wp = _bracket(self.prompts, p)
        ol, oh, wo = _bracket(self.outputs, o)
        corners = [(pl, ol, (1 - wp) * (1 - wo)), (ph, ol, wp * (1 - wo)), (pl, oh, (1 - wp) * wo), (ph, oh, wp * wo)]
        inside_p = (p >= self.prompts[0]) & (p <= self.prompts[-1])
        inside_o = (o >= self.outputs[0]) & (o <= self.outputs[-1])
        value, weight_seen = np.zeros(n), np.full(n, -1.0)
        gpus, placement, reasons = np.zeros(n, int), [""] * n, [""] * n
        batches = np.full(n, np.nan)
        failed = np.zeros(n, bool)
        stored = set(self.shapes)

        def fail(rows: np.ndarray, why: Callable[[int], str]) -> None:
            """Mark `rows` unpriced; each keeps the first reason it was given (`why(i)`)."""
            failed[rows] = True
            for i in rows:
                reasons[i] = reasons[i] or why(i)

        for pi, oi, w in corners:
            use = w > 0
            for (a, b) in sorted(set(zip(pi[use].tolist(), oi[use].tolist()))):
                shape = (self.prompts[a], self.outputs[b])
                rows = np.flatnonzero(use & (pi == a) & (oi == b))
                if shape not in stored:
                    fail(rows, lambda i: (f"{self.model} on {self.table.name}: p = {p[i]:g}, o = {o[i]:g} lies beyond the stored grid "
                                          f"(shape {shape[0]}x{shape[1]} not simulated: context window {self.window} tokens)"))
                    continue
                s_p, s_o, tp, labels, batch = self.sides[shape]
                if len(s_p) == 0:
                    fail(rows, lambda i: (f"no served configuration of {self.model} on {self.table.name} meets {self.sla} at p = {shape[0]}, "
                                          f"o = {shape[1]} (TTFT or TPOT too long at every batch size and placement tried)"))
                    continue
                # inside the grid a corner prices its own shape, so the cost is interpolated between the
                # stored shapes' costs (exact where cost is bilinear in p and o); outside, the nearer end's
                # rates price the request's own p or o
                p_at = np.where(inside_p[rows], shape[0], p[rows])
                o_at = np.where(inside_o[rows], shape[1], o[rows])
                cost = p_at[:, None] * s_p[None, :] + o_at[:, None] * s_o[None, :]
                j = np.argmin(cost, axis=1)
                value[rows] += w[rows] * cost[np.arange(len(rows)), j]
                heavier = w[rows] > weight_seen[rows]
                for r, jj in zip(rows[heavier], j[heavier]):
                    gpus[r], placement[r], batches[r] = int(tp[jj]), labels[jj], float(batch[jj])
                weight_seen[rows] = np.maximum(weight_seen[rows], w[rows])
        value[failed] = np.nan
        gpus[failed] = 0
        for i in np.flatnonzero(failed):
            placement[i] = ""
        extrapolated = (p < self.prompts[0]) | (p > self.prompts[-1]) | (o < self.outputs[0]) | (o > self.outputs[-1])
        return value, gpus, placement, extrapolated, reasons, batches




def _priced_by_shape(points: "_ModelPoints", p: np.ndarray, o: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """points.gpu_s_many for every request, computed once per distinct (p, o) and in chunks of
    ROWS_PER_CHUNK shapes, so the rows × points matrices stay small whatever the suite's size
    (each request's numbers are its own shape's: gpu_s_many is elementwise)."""
    first, codes = distinct_shapes(p, o)
    parts = [points.gpu_s_many(p[first[a:a + ROWS_PER_CHUNK]], o[first[a:a + ROWS_PER_CHUNK]])
             for a in range(0, len(first), ROWS_PER_CHUNK)]
    if not parts:
        parts = [points.gpu_s_many(p[:0], o[:0])]
    gpu_s, gpus, placement, extrapolated, reasons, batches = (
        np.concatenate([np.asarray(part[k], dtype=object if k in (2, 4) else None) for part in parts]) for k in range(6))
    return gpu_s[codes], gpus[codes], placement[codes], extrapolated[codes], reasons[codes], batches[codes]


def _band_at_target(table: ServedTable, model: str, sla: Sla, p: np.ndarray, o: np.ndarray, gpu_s: np.ndarray,
                    lo_f: float, hi_f: float, corrected: Optional[Dict[Tuple[int, int], List[Dict[str, Any]]]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The 90% band of GPU-s per request at a latency target. The band (lo_f, hi_f) on a point's
    GPU time is also the band on its time per output token (in decode, GPU-s per token is TPOT ×
    GPUs / batch at a fixed point), and the latency decides which point serves: if the stack's
    real TPOT is hi_f × ours, the target is met only by points whose TPOT is at most target / hi_f,
    which cost more. So hi = (cost at target / hi_f) × hi_f and lo = (cost at target / lo_f) × lo_f.
    Where no stored point meets target / hi_f, the tightest of target / hi_f^(3/4, 1/2, 1/4) that
    one meets is used (the stack then cannot meet the target at all at the band's end; this is
    the cost of coming closest), and the point's own band where none does. The band always holds
    the point: lo ≤ gpu_s ≤ hi."""
    if lo_f == hi_f:
        return np.minimum(gpu_s * lo_f, gpu_s), np.maximum(gpu_s * hi_f, gpu_s)

    def cost_at(factor: float, rows: np.ndarray) -> np.ndarray:
        shifted = replace(sla, tpot_ms=sla.tpot_ms / factor)
        return np.asarray(_priced_by_shape(_ModelPoints(table, model, shifted, corrected), p[rows], o[rows])[0], float)

    lo = cost_at(lo_f, np.arange(len(gpu_s)))
    hi = np.full(len(gpu_s), np.nan)
    for power in (1.0, 0.75, 0.5, 0.25):  # each looser step prices only the rows still without a cost
        missing = np.flatnonzero(~np.isfinite(hi))
        if not len(missing):
            break
        hi[missing] = cost_at(hi_f ** power, missing)
    lo = np.minimum(np.where(np.isfinite(lo), lo, gpu_s) * lo_f, gpu_s * lo_f)
    hi = np.maximum(np.where(np.isfinite(hi), hi, gpu_s) * hi_f, gpu_s * hi_f)
    return np.minimum(lo, gpu_s), np.maximum(hi, gpu_s)


class Priced(NamedTuple):
    """One model's requests priced on a served table (arrays, one entry per request; NaN GPU-s
    and a reason where unpriced). `method`: per request, METHOD_SIMULATED, or METHOD_TRANSFER or
    METHOD_SIZE + the simulated models it was priced from ("" where unpriced)."""

    gpu_s: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    gpus: np.ndarray
    placement: np.ndarray
    extrapolated: np.ndarray
    reasons: np.ndarray
    batch: np.ndarray
    method: np.ndarray


def _with_placements(table: ServedTable, key: str, min_gpus: int) -> ServedTable:
    """`table` with `key`'s stored points on fewer than `min_gpus` GPUs (TP × PP) left out."""
    if min_gpus <= 1:
        return table
    entry = dict(table.entries[key])
    entry["points"] = {shape: [row for row in rows if int(row[0]) * int(row[1]) >= min_gpus] for shape, rows in entry["points"].items()}
    return ServedTable(table.name, dict(table.raw, entries={key: entry}))


def price_simulated(table: ServedTable, key: str, sla: Sla, p: np.ndarray, o: np.ndarray, lo_f: float, hi_f: float,
                    min_gpus: int = 1) -> Priced:
    """The requests (p, o) of a model the table simulates, at its stored points under `sla` (on at
    least `min_gpus` GPUs), with the 90% band."""
    table = _with_placements(table, key, min_gpus)
    corrected: Dict[Tuple[int, int], List[Dict[str, Any]]] = {}  # each shape's corrected points, shared by the three targets
    gpu_s, gpus, placement, extrapolated, reasons, batch = _priced_by_shape(_ModelPoints(table, key, sla, corrected), p, o)
    gpu_s = np.asarray(gpu_s, float)
    lo, hi = np.full(len(p), np.nan), np.full(len(p), np.nan)
    ok = np.isfinite(gpu_s)
    lo[ok], hi[ok] = _band_at_target(table, key, sla, p[ok], o[ok], gpu_s[ok], lo_f, hi_f, corrected)
    return Priced(gpu_s, lo, hi, np.asarray(gpus, int), np.asarray(placement, dtype=object), np.asarray(extrapolated, bool),
                  np.asarray(reasons, dtype=object), np.asarray(batch, float), np.where(ok, METHOD_SIMULATED, "").astype(object))


def simulated_architectures(table: ServedTable) -> Dict[str, Dict[str, int]]:
    """{registry key: architecture} of the models the table simulates (those the registry describes)."""
    from helm_efficiency.analytic.registry import registry_architecture

    return {key: arch for key in table.entries for arch in [registry_architecture(key)] if arch}


# A neighbour's priced requests rescaled to the model priced: (p, o, the neighbour's GPUs and
# running batch; arrays, one entry per request) -> (GPU-s ratio, the model's running batch there),
# the ratio NaN where the model cannot run there.
Rescale = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


def _first_reason(why: np.ndarray, rows: np.ndarray, reasons: Sequence[str]) -> None:
    """Give each of `rows` its reason (one per row) unless it has one already: a request keeps the first."""
    fresh = why[rows] == ""
    why[rows[fresh]] = np.asarray(reasons, dtype=object)[fresh]


def _price_from_neighbours(table: ServedTable, refs: Sequence[str], rescale: Callable[[str], Rescale], min_gpus: int, sla: Sla,
                           p: np.ndarray, o: np.ndarray, lo_f: float, hi_f: float, spread: Tuple[float, float], method: str,
                           model: str, far: bool = False) -> Priced:
    """Each neighbour's priced request (on at least `min_gpus` GPUs) times its `rescale(neighbour)`
    ratio, combined geometrically over the neighbours that priced it and could run it; the band
    widened by `spread` (served_transfer.widen). GPUs, placement and running batch are those of
    the first neighbour that priced each request; `far`: every priced request is flagged extrapolated
    (the nearest neighbour is farther than the spread was measured at)."""
    from helm_efficiency.tables import served_transfer as T

    n = len(p)
    logs, count = np.zeros((3, n)), np.zeros(n, int)  # the sums of log GPU-s, lo and hi over the neighbours that ran each request
    gpus, placement, batch = np.zeros(n, int), np.full(n, "", dtype=object), np.full(n, np.nan)
    extrapolated, empty = np.zeros(n, bool), np.zeros(n, bool)
    used, why = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    for ref in refs:
        priced = price_simulated(table, ref, sla, p, o, lo_f, hi_f, min_gpus)
        ran = np.isfinite(priced.gpu_s)
        _first_reason(why, np.flatnonzero(~ran), [str(r) for r in priced.reasons[~ran]])
        rows = np.flatnonzero(ran)
        ratio, running = rescale(ref)(p[rows], o[rows], priced.gpus[rows], priced.batch[rows])
        fits = np.isfinite(ratio)
        _first_reason(why, rows[~fits], [f"{model} does not fit {ref}'s placement ({where}) with this request's KV cache"
                                         for where in priced.placement[rows[~fits]]])
        rows, ratio, running = rows[fits], ratio[fits], running[fits]
        cost = priced.gpu_s[rows] > 0  # an empty request (p = o = 0) costs nothing, as on a simulated model
        logs[:, rows[cost]] += np.log(np.stack([priced.gpu_s, priced.lo, priced.hi])[:, rows[cost]] * ratio[cost])
        empty[rows[~cost]] = True
        first = count[rows] == 0
        at = rows[first]
        gpus[at], placement[at], batch[at], extrapolated[at] = priced.gpus[at], priced.placement[at], running[first], priced.extrapolated[at] | far
        count[rows] += 1
        used[rows] = np.where(first, ref, used[rows] + ", " + ref)
    ok = count > 0
    cost = ok & ~empty
    gpu_s, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    gpu_s[cost], lo[cost], hi[cost] = np.exp(logs[:, cost] / count[cost])
    lo[cost], hi[cost] = T.widen(gpu_s[cost], lo[cost], hi[cost], *spread)
    gpu_s[ok & empty] = lo[ok & empty] = hi[ok & empty] = 0.0
    names = ", ".join(refs) or "none"
    reasons = np.full(n, "", dtype=object)
    reasons[~ok] = [f"{model} on {table.name}: priced from {names}, none of which served it: {w or 'no neighbour'}" for w in why[~ok]]
    methods = np.where(ok, method + used, "").astype(object)
    return Priced(gpu_s, lo, hi, gpus, placement, extrapolated, reasons, batch, methods)


def price_transferred(table: ServedTable, key: str, arch: Dict[str, int], hardware: Any, sla: Sla, p: np.ndarray, o: np.ndarray,
                      lo_f: float, hi_f: float, spread: Tuple[float, float], exclude: Sequence[str] = ()) -> Priced:
    """The requests of registry model `key` (architecture `arch`), which the table does not
    simulate, from its nearest simulated neighbours (tables/served_transfer.py): each neighbour's
    price on placements that hold the model's weights, scaled by the two models' served roofline,
    the model's running batch cut to what its KV cache leaves room for. `exclude`: models not to
    use (the held-out architecture when the spread is measured)."""
    from helm_efficiency.analytic.transfer import tensor_parallel_for
    from helm_efficiency.tables import served_transfer as T

    candidates = simulated_architectures(table)

    def rescale(ref: str) -> Rescale:
        return lambda a, b, gpus, batch: T.rescale(arch, candidates[ref], hardware, a, b, gpus, batch)

    refs = T.neighbours(arch, candidates, exclude)
    far = bool(refs) and T.beyond_validated(table.name, T.kind_of(arch), T.transfer_distance(arch, candidates[refs[0]]))
    return _price_from_neighbours(table, refs, rescale, tensor_parallel_for(arch, hardware), sla, p, o, lo_f, hi_f, spread, METHOD_TRANSFER,
                                  key, far)


def price_by_size(table: ServedTable, size: float, hardware: Any, sla: Sla, p: np.ndarray, o: np.ndarray, lo_f: float, hi_f: float,
                  spread: Tuple[float, float], exclude: Sequence[str] = (), name: str = "the model", active: Optional[float] = None) -> Priced:
    """The requests of a model known only by its parameter count `size` (as `size_only` prices it
    at batch 1): the nearest simulated dense models by size, on placements that hold 16-bit
    weights of that size, each scaled by the size ratio at its own running batch. A mixture of
    experts running `active` parameters per token: the nearest simulated mixtures of experts by
    both sizes, scaled by the ratio of active sizes."""
    from helm_efficiency.analytic.transfer import gpus_to_hold
    from helm_efficiency.tables import served_transfer as T

    candidates = simulated_architectures(table)

    def rescale(ref: str) -> Rescale:
        ratio = active / T.active_parameters(candidates[ref]) if active is not None else size / T.stored_parameters(candidates[ref])
        return lambda a, b, gpus, batch: (np.full(len(a), ratio), batch)

    refs = T.size_neighbours(size, candidates, exclude, active)
    far = bool(refs) and T.beyond_validated(table.name, T.size_kind(active), T.size_distance(size, active, candidates[refs[0]]))
    return _price_from_neighbours(table, refs, rescale, gpus_to_hold(2.0 * size, hardware), sla, p, o, lo_f, hi_f, spread, METHOD_SIZE,
                                  name, far)


def served_hardware(table: ServedTable) -> str:
    """The GPU a served table was simulated on (its provenance, else its stack's name)."""
    return str(table.raw.get("provenance", {}).get("hardware") or table.name.split("-")[0])


@dataclass(frozen=True)
class _Plan:
    """How one model is priced: `simulated` (what: registry key), `transfer` (what: architecture)
    or `size` (what: parameter count, and active parameters for a mixture of experts, else None),
    with the transfer's spread."""

    kind: str
    what: Any
    spread: Tuple[float, float] = (0.0, 0.0)
    name: str = ""


def _plan(table: ServedTable, stack: str, spec: Any, key: Optional[str], name: Optional[str], catalog: Catalog,
          sizes: Optional[pd.DataFrame] = None) -> Tuple[Optional[_Plan], str]:
    """(how to price the model, or None with why not). `sizes`: the requests' size columns
    (analytic/identity.SIZE_COLUMNS), read as the batch-1 identity reads them."""
    from helm_efficiency.analytic.identity import identify
    from helm_efficiency.analytic.registry import registry_architecture
    from helm_efficiency.tables import served_transfer

    if key is not None and key in table.entries:
        return _Plan("simulated", key), ""
    shipped = not os.path.isfile(stack)  # the spreads were measured on the shipped tables
    by_path = "" if shipped else "; a served table given by path prices only the models it simulates (transfer spreads are measured on the shipped tables)"
    if key is not None:
        refusal = f"{key} on {table.name}: {table.not_served.get(key, 'not built into this served table')}"
        arch = registry_architecture(key)
        if arch is None or spec is None or not shipped:
            return None, refusal + by_path
        kind = served_transfer.kind_of(arch)
        spread = served_transfer.spread(table.name, kind)
        if spread is None:
            return None, f"{refusal}; no measured {kind} transfer spread on {table.name}"
        return _Plan("transfer", arch, spread), ""
    if not name:
        return None, "no model name"
    identity = identify(catalog, [name], rows=sizes)
    size, active = identity.num_parameters, identity.num_active_parameters
    if size is None:
        return None, f"{name!r} is not in the architecture registry and has no parameter count"
    per_token = float(active) if active is not None and active < size else None
    kind = served_transfer.size_kind(per_token)
    spread = served_transfer.spread(table.name, kind) if shipped and spec is not None else None
    if spread is None:
        return None, f"{name!r} is not in the architecture registry" + (by_path or f"; no measured {kind} spread on {table.name}")
    return _Plan("size", (float(size), per_token), spread, name), ""


def _sizes(column: pd.Series) -> List[Optional[float]]:
    """A size column of `served_estimates`' `sizes`: each value a positive finite number or blank (None)."""
    from helm_efficiency.costmodel.measurements import check_optional_positive

    values = check_optional_positive(column.to_frame(), str(column.name), "served_estimates", first_row=0)
    return [None if np.isnan(v) else float(v) for v in values]


def served_estimates(model_names: Sequence[Optional[str]], p: ArrayLike, o: ArrayLike, *, stack: str, sla: Sla = DEFAULT_SLA,
                     catalog: Catalog = HELM_ONLY, sizes: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Served GPU-seconds, cost and energy per request (one row per input), with 90% intervals,
    the placement that serves it (`served_placement`, e.g. 'tp8pp2 (2 nodes)'), the registry
    model priced (`served_model`) and how (`served_method`: `simulated`, or `transfer from` /
    `size_only from` the simulated models a refused model, or one known only by its size, is
    priced from: tables/served_transfer.py).

    `model_names` are HELM names, deployments, Hugging Face ids or registry keys, resolved as the
    batch-1 estimates resolve them (`analytic.identity.registry_key`, in `catalog`); `p`, `o` the prompt and output
    tokens of each request; `sizes` (optional, one row per request) the requests' `num_parameters`
    and `num_active_parameters`, which price a model outside the registry as they do at batch 1. A request longer than the model's context window (`analytic.identity.context_window`, as at
    batch 1) is not priced. NaN rows say why in `served_reason`. Pure: reads the shipped served
    table (or a served table's path as `stack`), hardware.json, the registry and `catalog` only.
    """
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.identity import SIZE_COLUMNS
    from helm_efficiency.analytic.registry import registry_architecture
    from helm_efficiency.tables import served_transfer

    names = list(model_names)
    p = np.asarray(p, float).reshape(-1)
    o = np.asarray(o, float).reshape(-1)
    if not (len(names) == len(p) == len(o)):
        raise EfficiencyInputError("served_estimates", "model_names", f"lengths differ: {len(names)} names, {len(p)} p, {len(o)} o")
    if not isinstance(sla, Sla):
        raise EfficiencyInputError("served_estimates", "sla", f"expected an Sla, got {type(sla).__name__}")
    table = load_served_table(stack)
    hardware = served_hardware(table)
    spec = hardware_spec(hardware)
    usd = spec.usd_per_gpu_hour if spec is not None and spec.usd_per_gpu_hour is not None else math.nan
    lo_f, hi_f, _ = interval_factors(table.name)
    out = {c: np.full(len(p), np.nan) for c in ESTIMATE_COLUMNS if c not in _TEXT_COLUMNS + ("served_extrapolated",)}
    extrapolated = np.zeros(len(p), bool)
    text = {c: np.full(len(p), "", dtype=object) for c in _TEXT_COLUMNS}
    reasons = text["served_reason"]
    valid = np.isfinite(p) & np.isfinite(o) & (p >= 0) & (o >= 0)
    for i in np.flatnonzero(~valid):
        reasons[i] = f"invalid token counts p={p[i]}, o={o[i]}"
    # Each distinct name (with the sizes its rows give) resolved once, in order of first appearance, its valid rows at once.
    given = None
    if sizes is not None:
        given = sizes.reset_index(drop=True)[[c for c in SIZE_COLUMNS if c in sizes.columns]]
        if len(given) != len(names):
            raise EfficiencyInputError("served_estimates", "sizes", f"{len(given)} rows for {len(names)} names")
    columns = [] if given is None else [_sizes(given[c]) for c in given.columns]
    groups = list(zip(names, *columns))
    seen: Dict[Tuple[Any, ...], int] = {}
    code = np.fromiter((seen.setdefault(group, len(seen)) for group in groups), np.int64, len(names))
    rows_valid = np.flatnonzero(valid)
    order = rows_valid[np.argsort(code[rows_valid], kind="stable")]
    bounds = np.searchsorted(code[order], np.arange(len(seen) + 1))
    # how each distinct model is priced: its stored points, transfer from its architecture, or its size alone
    plans: Dict[Any, _Plan] = {}
    plan_rows: Dict[Any, List[np.ndarray]] = {}
    for u, (name, *_) in enumerate(seen):
        rows = order[bounds[u]:bounds[u + 1]]
        if not len(rows):
            continue
        key = registry_key(name, catalog)
        if key is not None:
            text["served_model"][rows] = key
        plan, why = _plan(table, stack, spec, key, name, catalog, None if given is None else given.iloc[rows[:1]])
        if plan is None:
            reasons[rows] = why
            continue
        window = context_window([name] + ([key] if key else []), catalog)
        if window is not None:
            beyond = p[rows] + o[rows] > window[0]
            reasons[rows[beyond]] = f"prompt + output tokens exceed the model's context window ({window[0]} tokens, {window[1]})"
            rows = rows[~beyond]
        label = key or plan.what  # models known by the same sizes are priced alike
        plans.setdefault(label, plan)
        plan_rows.setdefault(label, []).append(rows)
    for label, parts in plan_rows.items():
        index = np.sort(np.concatenate(parts))  # rows in table order, whichever names they came by
        plan = plans[label]
        if plan.kind == "simulated":
            priced = price_simulated(table, plan.what, sla, p[index], o[index], lo_f, hi_f)
        elif plan.kind == "transfer":
            priced = price_transferred(table, str(label), plan.what, spec, sla, p[index], o[index], lo_f, hi_f, plan.spread)
        else:
            priced = price_by_size(table, plan.what[0], spec, sla, p[index], o[index], lo_f, hi_f, plan.spread, name=plan.name, active=plan.what[1])
        extrapolated[index] = priced.extrapolated
        reasons[index] = priced.reasons
        text["served_placement"][index] = priced.placement
        ok = np.isfinite(priced.gpu_s)
        rows = index[ok]
        text["served_method"][rows] = priced.method[ok]
        gpu_s, lo, hi = priced.gpu_s[ok], priced.lo[ok], priced.hi[ok]
        power, power_lo, power_hi, _ = served_power_w(hardware, priced.batch[ok])  # at each chosen point's running batch
        out["served_gpu_s"][rows] = gpu_s
        out["served_gpu_s_lo"][rows] = lo
        out["served_gpu_s_hi"][rows] = hi
        out["served_num_gpus"][rows] = priced.gpus[ok]
        for suffix, value in (("", gpu_s), ("_lo", lo), ("_hi", hi)):
            out[f"served_cost_usd{suffix}"][rows] = value / 3600.0 * usd
        out["served_energy_j"][rows] = gpu_s * power
        out["served_energy_j_lo"][rows] = lo * power_lo
        out["served_energy_j_hi"][rows] = hi * power_hi
    frame = pd.DataFrame(out)
    frame["served_extrapolated"] = extrapolated
    for column, values in text.items():
        frame[column] = values
    return frame[list(ESTIMATE_COLUMNS)]
