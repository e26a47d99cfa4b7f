"""Served tables: what a request costs when a stack serves it well (batched, under a latency target).

Idealized runtime prices a request at batch 1. A deployment serving many users batches them
(in-flight batching), and each request then costs far fewer GPU-seconds. A served table stores,
per model on one modern stack (h100-trtllm, h100-vllm, h200-trtllm, a100-trtllm, a100-vllm),
the operating points AIConfigurator's aggregated search finds at a few prompt lengths
(`sources/served.py`): for each, the tensor parallelism, batch size and context tokens per step,
the time to first token and time per output token achieved, and the prefill and decode tokens/s
per GPU there. The throughput-optimal point under a latency target (`Sla`, default: time per
output token ≤ 50 ms and first token ≤ 2 s) prices a request of p prompt and o output tokens:

    served_gpu_s = p / prefill_tok_s_per_gpu + o / decode_tok_s_per_gpu

    python -m helm_efficiency.tables.served --stack h100-trtllm -j 1            # build one stack
    python -m helm_efficiency.tables.served --stack h100-trtllm --models meta/llama-3-8b --out-dir /tmp/t

Estimation (`served_estimates`) is pure and reads only the stored points; any latency target is
answered from them (the table keeps every point needed, see `sources/served.py`).
"""

import argparse
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError

SCHEMA_VERSION = 1
SERVED_DIR = os.path.join(os.path.dirname(__file__), "data", "served")
ACCURACY_FILE = "accuracy.json"  # the interval, written by bench/served_accuracy.py --write
CREDIT = "NVIDIA AIConfigurator (aiconfigurator-core, Apache-2.0) measured-kernel simulation, aggregated (in-flight batching) search"


# --------------------------------------------------------------------------- the latency target


@dataclass(frozen=True)
class Sla:
    """A latency target: time per output token (ms) and time to first token (s), both upper limits.
    The first-token limit applies at the request's own prompt length."""

    tpot_ms: float = 50.0
    ttft_s: float = 2.0

    def __post_init__(self):
        for name in ("tpot_ms", "ttft_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not value > 0:
                raise EfficiencyInputError("sla", name.split("_")[0], f"must be a positive number, got {value!r}")

    def __str__(self) -> str:
        return f"tpot={self.tpot_ms:g}ms,ttft={self.ttft_s:g}s"


DEFAULT_SLA = Sla()
_UNITS = {"tpot": {"ms": 1.0, "s": 1000.0, "us": 1e-3}, "ttft": {"s": 1.0, "ms": 1e-3}}


def parse_sla(text: str) -> Sla:
    """`"tpot=50ms,ttft=2s"` → Sla(50, 2.0). Either key may be left out (its default stays); units
    are required (tpot: ms, s or us; ttft: s or ms). Errors name the field at fault."""
    if not isinstance(text, str) or not text.strip():
        raise EfficiencyInputError("--sla", "sla", f"empty latency target {text!r}; expected e.g. 'tpot=50ms,ttft=2s'")
    values: Dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            raise EfficiencyInputError("--sla", "sla", f"empty item in {text!r}; expected e.g. 'tpot=50ms,ttft=2s'")
        if "=" not in item:
            raise EfficiencyInputError("--sla", "sla", f"malformed item {item.strip()!r} in {text!r}: expected key=value with a unit, e.g. 'tpot=50ms'")
        key, _, raw = item.partition("=")
        key = key.strip().lower()
        if key not in _UNITS:
            raise EfficiencyInputError("--sla", key or "sla", f"unknown key {key!r} in {text!r}; known: tpot, ttft")
        if key in values:
            raise EfficiencyInputError("--sla", key, f"given twice in {text!r}")
        match = re.fullmatch(r"\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", raw)
        if match is None:
            raise EfficiencyInputError("--sla", key, f"malformed value {raw.strip()!r}: expected a number and a unit, e.g. '{'50ms' if key == 'tpot' else '2s'}'")
        number, unit = float(match.group(1)), match.group(2).lower()
        if not unit:
            raise EfficiencyInputError("--sla", key, f"missing unit in {raw.strip()!r}; use one of {', '.join(_UNITS[key])}")
        if unit not in _UNITS[key]:
            raise EfficiencyInputError("--sla", key, f"unknown unit {unit!r} in {raw.strip()!r}; use one of {', '.join(_UNITS[key])}")
        if not number > 0 or math.isinf(number):
            raise EfficiencyInputError("--sla", key, f"must be a positive, finite time, got {raw.strip()!r}")
        values[key] = number * _UNITS[key][unit]
    return Sla(tpot_ms=values.get("tpot", DEFAULT_SLA.tpot_ms), ttft_s=values.get("ttft", DEFAULT_SLA.ttft_s))


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ServedTable:
    """One stack's served table, as stored (`raw` is the JSON). Read-only."""

    name: str
    raw: dict

    @property
    def prompt_tokens(self) -> Tuple[int, ...]:
        return tuple(int(p) for p in self.raw["prompt_tokens"])

    @property
    def output_tokens(self) -> int:
        return int(self.raw["output_tokens"])

    @property
    def entries(self) -> Dict[str, dict]:
        return self.raw["entries"]

    @property
    def not_served(self) -> Dict[str, str]:
        return self.raw.get("not_served", {})

    def points(self, model: str, num_prompt_tokens: int) -> List[dict]:
        from helm_efficiency.sources.served import point_from_row

        from helm_efficiency.sources.served import STORED_FIELDS
        from helm_efficiency.sources.served_correction import correct_points

        rows = self.entries[model]["points"][str(int(num_prompt_tokens))]
        corrected = correct_points(self.name, model, [dict(zip(STORED_FIELDS, r)) for r in rows])
        return [point_from_row([q[k] for k in STORED_FIELDS], int(num_prompt_tokens), self.output_tokens) for q in corrected]

    def operating_point(self, model: str, num_prompt_tokens: int, sla: Sla = DEFAULT_SLA) -> Optional[dict]:
        """The throughput-optimal stored point meeting `sla` at a stored prompt length, or None."""
        from helm_efficiency.sources.served import best_point

        return best_point(self.points(model, num_prompt_tokens), sla.ttft_s, sla.tpot_ms)


def table_from_json(raw: dict, source: str) -> ServedTable:
    for field in ("name", "prompt_tokens", "output_tokens", "entries", "columns"):
        if field not in raw:
            raise EfficiencyInputError(source, field, "missing from the served table")
    from helm_efficiency.sources.served import STORED_FIELDS

    if list(raw["columns"]) != list(STORED_FIELDS):
        raise EfficiencyInputError(source, "columns", f"expected {list(STORED_FIELDS)}, got {raw['columns']}")
    return ServedTable(name=str(raw["name"]), raw=raw)


@lru_cache(maxsize=None)
def has_served_table(stack: str) -> bool:
    """A served table ships for this stack name (h100-trtllm, ...)."""
    return "/" not in stack and os.path.isfile(os.path.join(SERVED_DIR, f"{stack}.json"))


def load_served_table(stack: str) -> ServedTable:
    """The shipped served table of a stack (`h100-trtllm`, ...) or a served-table JSON path."""
    if os.path.isfile(stack):
        with open(stack) as f:
            return table_from_json(json.load(f), stack)
    from helm_efficiency.tables.names import SIMULATED_TABLES

    if stack not in SIMULATED_TABLES:
        raise EfficiencyInputError(stack, "stack", f"no served table; known: {', '.join(SIMULATED_TABLES)} (or a JSON path)")
    path = resources.files("helm_efficiency.tables").joinpath(f"data/served/{stack}.json")
    if not path.is_file():
        raise EfficiencyInputError(stack, "stack", f"served table not built; run python -m helm_efficiency.tables.served --stack {stack}")
    return table_from_json(json.loads(path.read_text()), f"helm_efficiency/tables/data/served/{stack}.json")


@lru_cache(maxsize=1)
def served_accuracy() -> dict:
    """The measured error of served tables against published throughput (bench/served_accuracy.py),
    which sets the 90% interval; {} when not written."""
    path = resources.files("helm_efficiency.tables").joinpath(f"data/served/{ACCURACY_FILE}")
    return json.loads(path.read_text()) if path.is_file() else {}


def interval_factors(stack: str) -> Tuple[float, float, str]:
    """(lo, hi, source): multiplicative 90% band on served GPU time for a stack, from the bench's
    error of that stack's backend (pooled when the backend has too few rows)."""
    acc = served_accuracy()
    backend = stack.split("-", 1)[-1]
    band = acc.get("interval", {}).get(backend) or acc.get("interval", {}).get("pooled")
    if not band:
        return 1.0, 1.0, "no measured interval (bench/served_accuracy.py --write not run): point estimate only"
    return float(band["lo"]), float(band["hi"]), str(band.get("source", "bench/served_accuracy.py"))


# --------------------------------------------------------------------------- power and price


@lru_cache(maxsize=None)
def served_power_w(hardware: str) -> Tuple[float, float, float, str]:
    """(mid, lo, hi, source) watts per GPU while serving under load.

    H100/H200: the ML.ENERGY v3 smallest-batch rows (batch 8, vLLM, H100) in
    sources/measured/ give the measured draw (median; range low end); the board limit
    `power_w` is the high end (larger batches draw more, up to the limit). A100: no
    under-load measurement, so the board limit, with the low end scaled by the H100
    measured/limit ratio (an assumption by analogy)."""
    from helm_efficiency.analytic.hardware import hardware_spec

    spec = hardware_spec(hardware)
    if spec is None or spec.power_w is None:
        return math.nan, math.nan, math.nan, f"no power known for {hardware}"
    measured = _batch8_power_h100()
    if spec.key in ("h100", "h200") and measured:
        mid, lo = float(np.median(measured)), float(min(measured))
        return mid, lo, float(spec.power_w), (
            f"measured: median {mid:.1f} W of {len(measured)} ML.ENERGY v3 batch-8 vLLM H100 rows (low end {lo:.1f} W, their minimum), "
            f"high end the {spec.power_w:g} W board limit (served points batch more than 8); H200 shares the 700 W board (pooled, an assumption)")
    if measured:
        h100 = hardware_spec("h100")
        ratio = float(min(measured)) / float(h100.power_w)
        return float(spec.power_w), float(spec.power_w) * ratio, float(spec.power_w), (
            f"the {spec.power_w:g} W board limit (no under-load measurement on this GPU); low end scaled by the H100 batch-8 "
            f"minimum/limit ratio {ratio:.2f} (an assumption by analogy)")
    return float(spec.power_w), float(spec.power_w), float(spec.power_w), f"the {spec.power_w:g} W board limit"


def _batch8_power_h100() -> List[float]:
    """ML.ENERGY v3 avg power per GPU at its smallest batch (8), from sources/measured/ only."""
    from helm_efficiency.sources.measured import load_measured

    frame = load_measured()
    rows = frame[(frame["metric"] == "avg_power_w_per_gpu") & frame["source_id"].str.startswith("mlenergy_v3")
                 & frame["batch"].str.contains("max_num_seqs=8") & frame["gpu"].str.contains("H100")]
    return [float(v) for v in rows["value"]]


# --------------------------------------------------------------------------- estimates


ESTIMATE_COLUMNS = ("served_gpu_s", "served_gpu_s_lo", "served_gpu_s_hi", "served_cost_usd", "served_cost_usd_lo",
                    "served_cost_usd_hi", "served_energy_j", "served_energy_j_lo", "served_energy_j_hi", "served_num_gpus",
                    "served_extrapolated", "served_reason")


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
    """One model's stored points as arrays, per stored prompt length, with the SLA's feasibility."""

    def __init__(self, table: ServedTable, model: str, sla: Sla):
        self.table, self.model, self.sla = table, model, sla
        self.sides = {}
        for p in table.prompt_tokens:
            points = table.points(model, p)
            ok = [q for q in points if q["ttft_ms"] <= sla.ttft_s * 1000.0 and q["tpot_ms"] <= sla.tpot_ms]
            self.sides[p] = (np.array([1.0 / q["prefill_tok_s_per_gpu"] for q in ok]),
                             np.array([1.0 / q["decode_tok_s_per_gpu"] for q in ok]),
                             np.array([q["tp"] for q in ok], int))

    def gpu_s(self, p: float, o: float) -> Tuple[float, int, bool, str]:
        """(GPU-s, GPUs of one replica, extrapolated, reason) for one request.

        At each of the two stored prompt lengths around p (the nearer end outside the stored
        range), the throughput-optimal feasible point for this request's own (p, o) is the one
        with the least p·(s per prompt token) + o·(s per output token); the two costs are then
        interpolated in log p. A tighter latency target removes points at each side, so it
        never lowers the cost."""
        grid = self.table.prompt_tokens
        if p <= grid[0]:
            sides, weight, extrapolated = (grid[0],), 0.0, p < grid[0]
        elif p >= grid[-1]:
            sides, weight, extrapolated = (grid[-1],), 0.0, p > grid[-1]
        else:
            i = int(np.searchsorted(grid, p))
            sides = (grid[i - 1], grid[i])
            weight = (math.log(p) - math.log(sides[0])) / (math.log(sides[1]) - math.log(sides[0]))
            extrapolated = False
        costs, gpus = [], 0
        for side in sides:
            s_p, s_o, tp = self.sides[side]
            if len(s_p) == 0:
                return math.nan, 0, extrapolated, (
                    f"no served configuration of {self.model} on {self.table.name} meets {self.sla} at p = {side} "
                    f"(TTFT or TPOT too long at every batch size and TP tried)")
            cost = p * s_p + o * s_o
            j = int(np.argmin(cost))
            costs.append(float(cost[j]))
            gpus = max(gpus, int(tp[j]))
        value = costs[0] if len(costs) == 1 else (1.0 - weight) * costs[0] + weight * costs[1]
        return value, gpus, extrapolated, ""

    def gpu_s_many(self, p: np.ndarray, o: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[str]]:
        """`gpu_s` for arrays of requests at once (same rule, vectorized per stored prompt length)."""
        grid = np.asarray(self.table.prompt_tokens, float)
        n = len(p)
        lo_i = np.clip(np.searchsorted(grid, p, side="left") - 1, 0, len(grid) - 1)
        hi_i = np.clip(lo_i + 1, 0, len(grid) - 1)
        below, above = p <= grid[0], p >= grid[-1]
        lo_i = np.where(below, 0, np.where(above, len(grid) - 1, lo_i))
        hi_i = np.where(below, 0, np.where(above, len(grid) - 1, hi_i))
        inside = ~below & ~above
        # exact grid values sit on their own side
        weight = np.zeros(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = (np.log(p) - np.log(grid[lo_i])) / (np.log(grid[hi_i]) - np.log(grid[lo_i]))
        weight[inside] = w[inside]
        extrapolated = (p < grid[0]) | (p > grid[-1])
        cost_at = {"lo": np.full(n, np.nan), "hi": np.full(n, np.nan)}
        tp_at = {"lo": np.zeros(n, int), "hi": np.zeros(n, int)}
        empty = np.zeros(len(grid), bool)
        for k, side in enumerate(self.table.prompt_tokens):
            s_p, s_o, tp = self.sides[side]
            empty[k] = len(s_p) == 0
            rows = np.flatnonzero((lo_i == k) | (hi_i == k))
            if empty[k] or not len(rows):
                continue
            for chunk in np.array_split(rows, -(-len(rows) // ROWS_PER_CHUNK)):  # bounded memory: rows × points
                cost = p[chunk, None] * s_p[None, :] + o[chunk, None] * s_o[None, :]
                j = np.argmin(cost, axis=1)
                for end, at in (("lo", lo_i), ("hi", hi_i)):
                    mine = at[chunk] == k
                    cost_at[end][chunk[mine]] = cost[np.arange(len(chunk)), j][mine]
                    tp_at[end][chunk[mine]] = tp[j][mine]
        unserved = empty[lo_i] | empty[hi_i]
        with np.errstate(invalid="ignore"):
            value = np.where(lo_i != hi_i, (1.0 - weight) * cost_at["lo"] + weight * cost_at["hi"], cost_at["lo"])
        value[unserved] = np.nan
        gpus = np.where(unserved, 0, np.maximum(tp_at["lo"], tp_at["hi"]))
        reasons = np.full(n, "", dtype=object)
        for k in np.unique(np.where(empty[lo_i], lo_i, hi_i)[unserved]):
            side = self.table.prompt_tokens[k]
            reasons[unserved & (np.where(empty[lo_i], lo_i, hi_i) == k)] = (
                f"no served configuration of {self.model} on {self.table.name} meets {self.sla} at p = {side} "
                f"(TTFT or TPOT too long at every batch size and TP tried)")
        return value, gpus, extrapolated, list(reasons)


def served_estimates(model_names: Sequence[Optional[str]], p, o, stack: str, sla: Sla = DEFAULT_SLA) -> pd.DataFrame:
    """Served GPU-seconds, cost and energy per request (one row per input), with 90% intervals.

    `model_names` are HELM names, deployments, Hugging Face ids or registry keys; `p`, `o` the
    prompt and output tokens of each request. NaN rows say why in `served_reason`. Pure: reads
    the shipped served table (or a JSON path as `stack`) and hardware.json only.
    """
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.registry import registry_name

    names = list(model_names)
    p = np.asarray(p, float).reshape(-1)
    o = np.asarray(o, float).reshape(-1)
    if not (len(names) == len(p) == len(o)):
        raise EfficiencyInputError("served_estimates", "model_names", f"lengths differ: {len(names)} names, {len(p)} p, {len(o)} o")
    if not isinstance(sla, Sla):
        raise EfficiencyInputError("served_estimates", "sla", f"expected an Sla, got {type(sla).__name__}")
    table = load_served_table(stack)
    hardware = table.raw.get("provenance", {}).get("hardware") or stack.split("-")[0]
    spec = hardware_spec(hardware)
    usd = spec.usd_per_gpu_hour if spec is not None and spec.usd_per_gpu_hour is not None else math.nan
    power, power_lo, power_hi, _ = served_power_w(hardware)
    lo_f, hi_f, _ = interval_factors(table.name)
    out = {c: np.full(len(p), np.nan) for c in ESTIMATE_COLUMNS if c not in ("served_reason", "served_extrapolated")}
    extrapolated = np.zeros(len(p), bool)
    reasons = np.full(len(p), "", dtype=object)
    valid = np.isfinite(p) & np.isfinite(o) & (p >= 0) & (o >= 0)
    for i in np.flatnonzero(~valid):
        reasons[i] = f"invalid token counts p={p[i]}, o={o[i]}"
    codes, _ = pd.factorize(pd.Series(names, dtype=object))
    missing = np.flatnonzero(codes < 0)  # None and NaN apart: each is judged as given
    codes[missing] = codes.max(initial=-1) + 1 + np.array([names[i] is not None for i in missing], dtype=codes.dtype)
    models: Dict[str, list] = {}
    for code, first in zip(*np.unique(codes, return_index=True)):
        name = names[first]  # each distinct name as given
        rows = (codes == code) & valid
        if not rows.any():
            continue
        key = registry_name(name) if name else None
        if key is None:
            reasons[rows] = f"{name!r} is not in the architecture registry" if name else "no model name"
        elif key not in table.entries:
            reasons[rows] = f"{key} on {table.name}: {table.not_served.get(key, 'not built into this served table')}"
        else:
            models.setdefault(key, []).append(np.flatnonzero(rows))
    for key, index in models.items():
        index = np.sort(np.concatenate(index))
        first, shape = distinct_shapes(p[index], o[index])  # each distinct request shape priced once
        gpu_s, gpus, extrapolated[index], why = (np.asarray(v)[shape] for v in _ModelPoints(table, key, sla).gpu_s_many(p[index][first], o[index][first]))
        reasons[index] = why
        ok = np.isfinite(gpu_s)
        rows = index[ok]
        gpu_s = gpu_s[ok]
        out["served_gpu_s"][rows] = gpu_s
        out["served_gpu_s_lo"][rows] = gpu_s * lo_f
        out["served_gpu_s_hi"][rows] = gpu_s * hi_f
        out["served_num_gpus"][rows] = gpus[ok]
        for suffix, factor in (("", 1.0), ("_lo", lo_f), ("_hi", hi_f)):
            out[f"served_cost_usd{suffix}"][rows] = gpu_s * factor / 3600.0 * usd
        out["served_energy_j"][rows] = gpu_s * power
        out["served_energy_j_lo"][rows] = gpu_s * lo_f * power_lo
        out["served_energy_j_hi"][rows] = gpu_s * hi_f * power_hi
    frame = pd.DataFrame(out)
    frame["served_extrapolated"] = extrapolated
    frame["served_reason"] = reasons
    return frame[list(ESTIMATE_COLUMNS)]


# --------------------------------------------------------------------------- building


def _simulate(job: Tuple[str, str]) -> Tuple[str, str, Optional[dict], Optional[str]]:
    """(stack, model, entry or None, reason or None) for one pair: the simulator's aggregated
    search at every stored prompt length and TP candidate."""
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.registry import load_registry
    from helm_efficiency.analytic.transfer import tensor_parallel_for
    from helm_efficiency.sources.aiconfigurator import STACKS
    from helm_efficiency.sources.served import best_point, point_from_row, simulate_served, tensor_parallel_candidates

    stack_name, key = job
    reference = STACKS[stack_name]
    entry = load_registry()[key]
    try:
        arch = architecture_from_config(entry["config"], f"registry {key}")
        base_tp = int(tensor_parallel_for(arch, hardware_spec(reference.hardware)))
        points, provenance, refused = simulate_served(entry["config"], key, reference, base_tp, entry.get("hf_id"),
                                                      f"registry {key}", moe=bool(arch.get("num_experts")))
    except EfficiencyInputError as e:
        return stack_name, key, None, e.problem
    except Exception as e:  # the simulator failing in a way it does not name
        return stack_name, key, None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    if not any(points.values()):
        return stack_name, key, None, "the aggregated search found no point that fits in memory: " + "; ".join(f"{k}: {v}" for k, v in refused.items())
    operating = {}
    for p, rows in points.items():
        pts = [point_from_row(r, int(p), int(SERVED_OUTPUT)) for r in rows]
        best = best_point(pts, DEFAULT_SLA.ttft_s, DEFAULT_SLA.tpot_ms)
        if best is None:
            operating[p] = {"reason": f"no point meets {DEFAULT_SLA} at p = {p}"}
        else:
            operating[p] = {k: (float(f"{v:.5g}") if isinstance(v, float) else v) for k, v in best.items()}
    return stack_name, key, {
        "tensor_parallel_batch1": base_tp,
        "tensor_parallel_tried": tensor_parallel_candidates(base_tp),
        "refused": refused,
        "expert_parallel": provenance["expert_parallel"],
        "config": provenance["config"],
        "mapped_from": provenance["mapped_from"],
        "operating_points": operating,
        "points": points,
    }, None


SERVED_OUTPUT = 256  # kept in step with sources.served.SERVED_OUTPUT_TOKENS (checked in build)


def build_stack(stack_name: str, results, out_dir: str = SERVED_DIR) -> str:
    from helm_efficiency.sources.aiconfigurator import STACKS, backend_version, simulator_version
    from helm_efficiency.sources.served import (MAX_STORED_TPOT_MS, MAX_STORED_TTFT_MS, SEARCH, SERVED_OUTPUT_TOKENS,
                                                SERVED_PROMPT_TOKENS, STORED_FIELDS, THIN_TOLERANCE)

    assert SERVED_OUTPUT == SERVED_OUTPUT_TOKENS
    reference = STACKS[stack_name]
    entries = {key: e for stack, key, e, _ in results if stack == stack_name and e is not None}
    not_served = {key: r for stack, key, _, r in results if stack == stack_name and r is not None}
    table = {
        "schema_version": SCHEMA_VERSION,
        "kind": "served",
        "name": stack_name,
        "description": (f"{reference.system} {reference.software} bf16, aggregated in-flight batching: the throughput-optimal "
                        f"operating points per model under a latency target, simulated by AIConfigurator"),
        "source": f"{CREDIT}: {reference.system}, {reference.backend}",
        "provenance": {
            "package": "aiconfigurator-core",
            "package_version": simulator_version(),
            "system": reference.system,
            "hardware": reference.hardware,
            "backend": reference.backend,
            "backend_version": backend_version(reference.system, reference.backend),
            "dtype": "bf16",
            "database_mode": "measured kernels",
            "serving": "aggregated (in-flight batching), one replica of TP GPUs; disaggregated serving not searched",
            "search": {k: (str(v) if isinstance(v, float) else v) for k, v in SEARCH.items()},
            "command": ["python", "-m", "helm_efficiency.tables.served", "--stack", stack_name],
        },
        "prompt_tokens": list(SERVED_PROMPT_TOKENS),
        "output_tokens": SERVED_OUTPUT_TOKENS,
        "default_sla": asdict(DEFAULT_SLA),
        "stored": {"thin_tolerance": THIN_TOLERANCE, "max_ttft_ms": MAX_STORED_TTFT_MS, "max_tpot_ms": MAX_STORED_TPOT_MS,
                   "note": "points: the Pareto set (GPU-s per request, TTFT, TPOT) over every TP tried, thinned so any "
                           "latency target is answered within thin_tolerance of the full sweep's best, never below it"},
        "columns": list(STORED_FIELDS),
        "not_served": dict(sorted(not_served.items())),
        "entries": dict(sorted(entries.items())),
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{stack_name}.json")
    from helm_efficiency.atomic import write_text_atomic

    write_text_atomic(path, dumps_table(table))
    return f"{stack_name}: {len(entries)} models served, {len(not_served)} not placed -> {path}"


def dumps_table(table: dict) -> str:
    """JSON with one line per stored point (readable diffs, a few hundred KB per stack)."""
    text = json.dumps(table, indent=1, sort_keys=False)
    # collapse innermost lists of numbers onto one line
    text = re.sub(r"\[\s*([-0-9.eE+,\s]+?)\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return text + "\n"


def build(stacks: Sequence[str], out_dir: str = SERVED_DIR, models: Optional[Sequence[str]] = None, jobs: int = 1,
          progress: bool = True) -> List[str]:
    from helm_efficiency.analytic.registry import load_registry, registry_name
    from helm_efficiency.executors import map_ordered

    registry = load_registry()
    if models:
        keys = []
        for m in models:
            k = registry_name(m)
            if k is None:
                raise EfficiencyInputError("--models", "models", f"{m!r} is not in the architecture registry")
            keys.append(k)
        keys = sorted(set(keys))
    else:
        keys = [k for k in sorted(registry) if not k.startswith("test/")]
    pairs = [(stack, key) for stack in stacks for key in keys]
    results = map_ordered(_simulate, pairs, jobs, "simulating served points" if progress else "", unit="model")
    return [build_stack(stack, results, out_dir) for stack in stacks]


def main(argv: Optional[Sequence[str]] = None) -> None:
    from helm_efficiency.sources.aiconfigurator import STACKS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="stack to build (repeatable; default: all five)")
    parser.add_argument("--models", nargs="+", help="registry keys, HELM names or HF ids (default: every registry model)")
    parser.add_argument("--out-dir", default=SERVED_DIR)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    for stack_name in args.stack or list(STACKS):
        t0 = time.time()
        for line in build([stack_name], args.out_dir, args.models, args.jobs, progress=not args.no_progress):
            print(f"{line} ({time.time() - t0:.0f} s)", flush=True)
    print(f"all done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
