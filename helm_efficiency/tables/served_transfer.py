"""Served cost of a model its stack's simulator refuses, from the nearest simulated models.

aiconfigurator-core lacks kernel data for some architectures on some stacks (attention head sizes
its tables never measured, MoE shapes it has no data for; a served table's `not_served` says
which). Such a model still prices at batch 1 (by transfer, analytic/transfer.py), so a served number
should price the same request. It is priced from the NEIGHBOURS simulated models of the same
stack nearest to it, dense with dense and mixture-of-experts with mixture-of-experts, by distance
over (ln matmul parameters, ln stored parameters, ln layers). Each neighbour's served GPU-s for
the request, at its own operating point under the latency target (on placements with enough
GPUs for the model's 16-bit weights), is scaled by the ratio of the two models' served roofline
(`rescale`): at the neighbour's running batch B, cut to what the model's KV cache leaves room for
on those GPUs, and the neighbours' answers are combined geometrically.

A model known only by its parameter count (no architecture anywhere; `size_only` at batch 1) is
priced the same way from the NEIGHBOURS dense simulated models nearest in size, each scaled by the
ratio of the two sizes; a mixture of experts known by its total and active sizes from the
NEIGHBOURS simulated mixtures of experts nearest in both, scaled by the ratio of active sizes
(what a token runs through sets a batched step's compute).

How far each lands from a simulated table is measured leave-one-model-out on each stack's
simulated models (builders/served_transfer.py writes served_transfer.json: the median |error|
and the 5th and 95th percentiles of log(priced / simulated), per KINDS). The 90% band of such a
request is the neighbours' band widened by that spread (`widen`).
"""

import json
import math
import os
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.architecture import is_moe
from helm_efficiency.analytic.hardware import HardwareSpec
from helm_efficiency.util import data_paths

SPREAD_PATH = data_paths.SERVED_TRANSFER_PATH
NEIGHBOURS = 2
KINDS = ("dense", "moe", "size", "size_moe")  # transfer of a dense or a mixture-of-experts architecture; size alone; total and active size
MIN_MODELS = 6  # a stack's own spread of a kind needs this many held-out models; else all stacks' pooled
MEMORY_USABLE = 0.9  # share of GPU memory for weights and KV cache (vLLM's default gpu_memory_utilization)
TWIN_DISTANCE = 0.02  # architectures this close (in `_position`) are one architecture when the spread is measured
Floats = Union[float, np.ndarray]  # one value, or one per request (a float array)


def size_kind(active: Optional[float]) -> str:
    """The KINDS entry whose spread a price by size carries: size alone, or total and `active` size."""
    return "size" if active is None else "size_moe"


def kind_of(arch: Mapping[str, int]) -> str:
    """The KINDS entry whose spread a transfer of `arch` carries."""
    return "moe" if is_moe(arch) else "dense"


def stored_parameters(arch: Dict[str, int]) -> float:
    """Every stored parameter (all experts), as HELM's num_parameters counts a model's size."""
    return float(F.parameter_count(arch, active_only=False))


def active_parameters(arch: Dict[str, int]) -> float:
    """Parameters one token runs through (its experts only, for a mixture of experts)."""
    return float(F.parameter_count(arch, active_only=True))


def stored_bytes(arch: Dict[str, int]) -> float:
    """16-bit weights held in GPU memory (bytes)."""
    return 2.0 * stored_parameters(arch)


def step_weight_bytes(arch: Dict[str, int], batch: Floats) -> Floats:
    """Weight bytes (16-bit) one decode step of `batch` tokens reads: every weight of a dense
    model; of a mixture of experts, the active weights plus the further experts the batch
    touches: in each MoE layer about E · (1 − (1 − k/E)^B) of its E experts (k active per token,
    uniform independent routing, so an upper bound for skewed routers), each expert's bytes summed
    over the layers. `batch`: one, or one per request (an array)."""
    active = F.weight_bytes(arch)
    if not is_moe(arch):
        return active
    experts, k = float(arch["num_experts"]), float(arch.get("num_active_experts") or arch["num_experts"])
    if experts <= k:
        return active
    per_expert = (F.parameter_count(arch, active_only=False) - F.parameter_count(arch, active_only=True)) * 2.0 / (experts - k)
    touched = experts * (1.0 - (1.0 - k / experts) ** np.maximum(batch, 1.0))
    return active + np.maximum(touched - k, 0.0) * per_expert


def roofline_gpu_s(arch: Dict[str, int], hw: HardwareSpec, p: Floats, o: Floats, batch: Floats) -> Floats:
    """GPU-seconds (one GPU at `peak_flops` FLOP/s and `memory_bandwidth` B/s; 16-bit weights and
    KV cache) of one request of p prompt and o output tokens at a running batch: prefill
    compute-bound, and o decode steps at the mean context c = p + o/2, each the longer of its
    FLOPs and its bytes (its share of the weights, B requests sharing them, plus its own KV
    cache; exact in c, since both are linear in it). No efficiency factor: used only as a ratio.
    Token counts are truncated to whole tokens. Each argument: one, or one per request (arrays)."""
    peak, bandwidth = hw.required("peak_flops"), hw.required("memory_bandwidth")
    batch = np.maximum(batch, 1.0)
    context = np.trunc(p + o / 2.0)
    prefill: Floats = F.prefill_flops(arch, np.trunc(p)) / peak
    step: Floats = np.maximum(F.decode_flops(arch, context) / peak,
                              (step_weight_bytes(arch, batch) / batch + F.kv_cache_bytes(arch, context)) / bandwidth)
    return prefill + o * step


def kv_room(arch: Dict[str, int], hw: HardwareSpec, gpus: Floats, p: Floats, o: Floats) -> Floats:
    """Requests of p + o tokens whose KV cache fits beside the weights on `gpus` GPUs (may be < 1;
    each argument one, or one per request)."""
    free = gpus * float(hw.memory_bytes or 0.0) * MEMORY_USABLE - stored_bytes(arch)
    room: Floats = free / np.maximum(F.kv_cache_bytes(arch, np.trunc(p + o)), 1.0)
    return room


def rescale(arch: Dict[str, int], ref: Dict[str, int], hw: HardwareSpec, p: Floats, o: Floats, gpus: Floats, batch: Floats
            ) -> Tuple[np.ndarray, np.ndarray]:
    """(GPU-s of `arch` / GPU-s of `ref`, the running batch of `arch`) per request (p, o), where
    `ref` serves it on `gpus` GPUs at running `batch` (each one, or one per request): the batch
    is cut by the two models' KV room there (the simulator's own memory model for `ref`, scaled),
    and the ratio is their roofline at their own batches. The ratio is NaN where `arch`'s weights
    and one request's KV cache do not fit (a running batch below 1)."""
    room, ref_room = kv_room(arch, hw, gpus, p, o), kv_room(ref, hw, gpus, p, o)
    with np.errstate(divide="ignore", invalid="ignore"):
        running = np.where(ref_room > 0, batch * np.minimum(1.0, room / ref_room), np.minimum(batch, room))
        ours, theirs = roofline_gpu_s(arch, hw, p, o, running), roofline_gpu_s(ref, hw, p, o, batch)
        ratio = np.where(theirs > 0, ours / theirs, 1.0)  # an empty request costs nothing on either
    return np.where(running < 1.0, np.nan, ratio), running


def _position(arch: Dict[str, int]) -> np.ndarray:
    """Where an architecture sits among others: ln matmul (active) parameters, ln stored
    parameters, ln layers and ln KV-cache bytes per token (so multi-head attention finds its like)."""
    return np.array([math.log(F.matmul_params(arch)), math.log(F.parameter_count(arch, active_only=False)), math.log(arch["num_layers"]),
                     math.log(max(F.kv_cache_bytes(arch, 1), 1.0))])


def transfer_distance(arch: Dict[str, int], other: Dict[str, int]) -> float:
    """How far apart two architectures sit (`_position`, Euclidean)."""
    return float(np.linalg.norm(_position(other) - _position(arch)))


def size_distance(size: float, active: Optional[float], other: Dict[str, int]) -> float:
    """How far an architecture sits from a model known by its size (and active size): in log size
    (and log active size), Euclidean."""
    here = [size] + ([active] if active is not None else [])
    there = [stored_parameters(other)] + ([active_parameters(other)] if active is not None else [])
    return float(np.linalg.norm(np.log(there) - np.log(here)))


def twins(arch: Dict[str, int], candidates: Mapping[str, Dict[str, int]]) -> List[str]:
    """The candidates within TWIN_DISTANCE of `arch` (its own entry, and the same architecture under other names)."""
    return sorted(k for k, a in candidates.items() if transfer_distance(arch, a) <= TWIN_DISTANCE)


def neighbours(arch: Dict[str, int], candidates: Mapping[str, Dict[str, int]], exclude: Sequence[str] = ()) -> List[str]:
    """The NEIGHBOURS candidates (registry key: architecture) nearest to `arch`, of its kind
    (dense or mixture of experts) where the stack simulates any, nearest first (ties by name)."""
    pool = {k: a for k, a in candidates.items() if k not in exclude}
    same = {k: a for k, a in pool.items() if is_moe(a) == is_moe(arch)} or pool
    return sorted(same, key=lambda k: (transfer_distance(arch, same[k]), k))[:NEIGHBOURS]


def size_neighbours(size: float, candidates: Mapping[str, Dict[str, int]], exclude: Sequence[str] = (),
                    active: Optional[float] = None) -> List[str]:
    """The NEIGHBOURS dense candidates nearest to `size` parameters in log size or, for a mixture
    of experts that runs `active` of them per token, the mixtures of experts nearest in (log
    size, log active size); ties by name."""
    pool = {k: a for k, a in candidates.items() if k not in exclude and is_moe(a) == (active is not None)}
    return sorted(pool, key=lambda k: (size_distance(size, active, pool[k]), k))[:NEIGHBOURS]


@lru_cache(maxsize=None)
def _spreads() -> Dict[str, Any]:
    if not os.path.isfile(SPREAD_PATH):
        return {}
    with open(SPREAD_PATH) as f:
        return dict(json.load(f))


def _measured(stack: str, kind: str) -> Optional[Dict[str, Any]]:
    """One kind's stored summary on `stack`: its own where it held out MIN_MODELS models, else all stacks' pooled."""
    measured = _spreads().get("stacks", {}).get(stack, {}).get(kind)
    if measured and measured["models"] < MIN_MODELS:
        measured = _spreads().get("pooled", {}).get(kind, measured)
    return dict(measured) if measured else None


def spread(stack: str, kind: str) -> Optional[Tuple[float, float]]:
    """(5th, 95th percentile) of log(priced / simulated) on `stack`, leave one architecture out,
    for one of KINDS: the stack's own where it held out MIN_MODELS models of that kind, else all
    stacks' pooled; None where it was not measured (no such pricing then)."""
    measured = _measured(stack, kind)
    return (float(measured["lo_log"]), float(measured["hi_log"])) if measured else None


def beyond_validated(stack: str, kind: str, distance: float) -> bool:
    """Whether a model's nearest neighbour is farther (transfer_distance or size_distance) than
    any held-out model's was when the spread of `kind` was measured: its band is then an extrapolation."""
    measured = _measured(stack, kind)
    return bool(measured and "max_distance" in measured and distance > float(measured["max_distance"]))


def widen(gpu_s: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_log: float, hi_log: float) -> Tuple[np.ndarray, np.ndarray]:
    """The band of a transferred value P. `lo_log`, `hi_log`: the 5th and 95th percentiles of
    e = log(P / simulated), so the simulated value P·exp(−e) lies in [P·exp(−hi_log),
    P·exp(−lo_log)] 90% of the time. On each side that half-width and the neighbours' own
    (independent errors) are added in quadrature, in log."""
    down = np.sqrt(np.log(gpu_s / lo) ** 2 + max(hi_log, 0.0) ** 2)
    up = np.sqrt(np.log(hi / gpu_s) ** 2 + max(-lo_log, 0.0) ** 2)
    return gpu_s * np.exp(-down), gpu_s * np.exp(up)
