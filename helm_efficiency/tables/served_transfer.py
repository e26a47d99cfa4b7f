"""Served cost of a model its stack's simulator refuses, from the nearest simulated models.

aiconfigurator-core lacks kernel data for some architectures on some stacks (attention head sizes
its tables never measured, MoE shapes it has no data for; a served table's `not_served` says
which). Such a model still prices at batch 1 (by transfer, analytic/transfer.py), so a served number
should price the same request. It is priced from the NEIGHBOURS simulated models of the same
stack nearest to it, dense with dense and mixture-of-experts with mixture-of-experts, by distance
over (ln matmul parameters, ln stored parameters, ln layers). Each neighbour's served GPU-s for
the request, at its own operating point under the latency target, is scaled by the ratio of the
two models' served roofline at that point's running batch B (`roofline_gpu_s`), and the
neighbours' answers are combined geometrically.

A model known only by its parameter count (no architecture anywhere; `size_only` at batch 1) is
priced the same way from the NEIGHBOURS dense simulated models nearest in size, each scaled by the
ratio of the two sizes.

How far each lands from a simulated table is measured leave-one-model-out on each stack's
simulated models (builders/served_transfer.py writes served_transfer.json: the median |error|
and the 5th and 95th percentiles of log(priced / simulated), per KINDS). The 90% band of such a
request is the neighbours' band widened by that spread (`widen`).
"""

import json
import math
import os
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.hardware import HardwareSpec
from helm_efficiency.util import data_paths

SPREAD_PATH = data_paths.SERVED_TRANSFER_PATH
NEIGHBOURS = 2
KINDS = ("dense", "moe", "size")  # transfer of a dense or a mixture-of-experts architecture; size alone


def is_moe(arch: Mapping[str, int]) -> bool:
    return int(arch.get("num_experts") or 1) > 1


def kind_of(arch: Mapping[str, int]) -> str:
    """The KINDS entry whose spread a transfer of `arch` carries."""
    return "moe" if is_moe(arch) else "dense"


def stored_parameters(arch: Dict[str, int]) -> float:
    """Every stored parameter (all experts), as HELM's num_parameters counts a model's size."""
    return float(F.parameter_count(arch, active_only=False))


def step_weight_bytes(arch: Dict[str, int], batch: float) -> float:
    """Weight bytes (16-bit) one decode step of `batch` tokens reads: every weight of a dense
    model; of a mixture of experts, the shared weights plus the experts the batch touches, about
    E · (1 − (1 − k/E)^B) per layer for E experts with k active per token."""
    active = F.weight_bytes(arch)
    if not is_moe(arch):
        return active
    experts, k = float(arch["num_experts"]), float(arch.get("num_active_experts") or arch["num_experts"])
    if experts <= k:
        return active
    per_expert = (F.parameter_count(arch, active_only=False) - F.parameter_count(arch, active_only=True)) * 2.0 / (experts - k)
    touched = experts * (1.0 - (1.0 - k / experts) ** max(float(batch), 1.0))
    return float(active + max(touched - k, 0.0) * per_expert)


def roofline_gpu_s(arch: Dict[str, int], hw: HardwareSpec, p: float, o: float, batch: float) -> float:
    """GPU-seconds of one request of p prompt and o output tokens at a running batch, at the
    hardware's peaks: prefill compute-bound, and o decode steps at the mean context c = p + o/2,
    each the longer of its FLOPs and its bytes (its share of the weights, B requests sharing
    them, plus its own KV cache). No efficiency factor: only ratios between models are used."""
    peak, bandwidth = hw.required("peak_flops"), hw.required("memory_bandwidth")
    batch = max(float(batch), 1.0)
    context = int(p + o / 2.0)
    prefill = F.prefill_flops(arch, int(p)) / peak
    step = max(F.decode_flops(arch, context) / peak, (step_weight_bytes(arch, batch) / batch + F.kv_cache_bytes(arch, context)) / bandwidth)
    return prefill + o * step


def _position(arch: Dict[str, int]) -> np.ndarray:
    return np.array([math.log(F.matmul_params(arch)), math.log(F.parameter_count(arch, active_only=False)), math.log(arch["num_layers"])])


def neighbours(arch: Dict[str, int], candidates: Mapping[str, Dict[str, int]], exclude: Sequence[str] = ()) -> List[str]:
    """The NEIGHBOURS candidates (registry key: architecture) nearest to `arch`, of its kind
    (dense or mixture of experts) where the stack simulates any, nearest first (ties by name)."""
    pool = {k: a for k, a in candidates.items() if k not in exclude}
    same = {k: a for k, a in pool.items() if is_moe(a) == is_moe(arch)} or pool
    here = _position(arch)
    return sorted(same, key=lambda k: (float(np.linalg.norm(_position(same[k]) - here)), k))[:NEIGHBOURS]


def size_neighbours(size: float, candidates: Mapping[str, Dict[str, int]], exclude: Sequence[str] = ()) -> List[str]:
    """The NEIGHBOURS dense candidates nearest to `size` parameters in log size (ties by name)."""
    dense = [k for k, a in candidates.items() if k not in exclude and not is_moe(a)]
    return sorted(dense, key=lambda k: (abs(math.log(stored_parameters(candidates[k]) / size)), k))[:NEIGHBOURS]


@lru_cache(maxsize=None)
def _spreads() -> Dict[str, Any]:
    if not os.path.isfile(SPREAD_PATH):
        return {}
    with open(SPREAD_PATH) as f:
        return dict(json.load(f).get("stacks", {}))


def spread(stack: str, kind: str) -> Optional[Tuple[float, float]]:
    """(5th, 95th percentile) of log(priced / simulated) on `stack`, leave-one-model-out, for
    one of KINDS; None where it was not measured (no such pricing then)."""
    measured = _spreads().get(stack, {}).get(kind)
    return (float(measured["lo_log"]), float(measured["hi_log"])) if measured else None


def widen(gpu_s: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_log: float, hi_log: float) -> Tuple[np.ndarray, np.ndarray]:
    """The band of a transferred value: on each side the neighbours' log half-width and the
    transfer's (independent errors) added in quadrature, around the transferred value."""
    down = np.sqrt(np.log(gpu_s / lo) ** 2 + min(lo_log, 0.0) ** 2)
    up = np.sqrt(np.log(hi / gpu_s) ** 2 + max(hi_log, 0.0) ** 2)
    return gpu_s * np.exp(-down), gpu_s * np.exp(up)
