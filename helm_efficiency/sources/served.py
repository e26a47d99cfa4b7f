"""Served operating points from AIConfigurator's aggregated (continuous-batching) search.

The batch-1 tables price one request alone on the GPUs. A deployment that serves many users
batches them, and a request then costs far less GPU time. This module asks the same simulator
(`aiconfigurator-core`) what a stack can do when it batches: for one model, stack, tensor
parallelism (TP) and request shape (p prompt tokens, o output tokens) it runs the package's
own SLA-constrained aggregated search, `BaseBackend.find_best_agg_result_under_constraints`,
with the latency limits lifted (ttft = tpot = inf, top_k = 0), so it returns every
(batch size, context tokens per step) point the search visits that fits in GPU memory. Each
point is one steady state of in-flight batching: b requests in flight, `ctx_tokens` prompt
tokens scheduled per step, with its time to first token (TTFT), time per output token (TPOT)
and throughput.

We keep, per (p, o), the points that no other point beats on all three of throughput per GPU,
TTFT and TPOT (the Pareto set over all TPs tried): the best feasible point under any latency
target is always in that set. The set is then thinned (`thin`) to the points needed to answer
any latency target within 15% of the full sweep's best GPU time per request, never below it,
and wherever the sweep meets a target the stored points meet it too. So the table answers any
SLA without re-running the simulator, a little conservatively.

Each point's GPU time per request, G = TP / (requests per second), is split into a prefill and
a decode part from the simulator's own step schedule (`run_agg`'s `scheduling` block): a
mixed step's decode share is the latency of a decode-only step with the same decode requests
(`_get_genonly_step_latency`), the rest of the mixed step is prefill, and decode-only steps
are all decode. So prefill tokens/s per GPU = p / (G · prefill share) and decode tokens/s per
GPU = o / (G · decode share), and p / prefill + o / decode = G at the point's own (p, o).
The first output token is counted with the decode tokens (o, not o − 1), so the identity holds.

Only table building calls the simulator; estimation reads the stored points.
"""

import json
import math
import os
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.aiconfigurator import (
    PACKAGE,
    ReferenceStack,
    _silence_simulator_logs,
    backend_version,
    compile_engine,
    normalized_attention,
    shipped_config,
    simulator_config,
    simulator_version,
)

# Prompt lengths at which operating points are stored, and the fixed representative output
# length: a request's point is interpolated between the stored prompt lengths (log scale).
SERVED_PROMPT_TOKENS = (128, 512, 2048, 8192)
SERVED_OUTPUT_TOKENS = 256
# Tensor parallelism tried per model: the batch-1 TP (smallest power of two whose GPUs hold the
# bf16 weights), then 2x and 4x it while that stays within one 8-GPU node.
MAX_TP_FACTOR = 4
NODE_GPUS = 8
# The aggregated search's own sweep settings (its defaults), recorded in provenance.
SEARCH = {"function": "BaseBackend.find_best_agg_result_under_constraints", "max_batch_size": 512,
          "ctx_stride": 512, "enable_chunked_prefill": False, "ttft": "inf", "tpot": "inf", "top_k": 0}
# The stored points answer any latency target within this fraction of the full sweep's best GPU
# time per request (never below it), and meet it wherever the sweep does (`thin`).
THIN_TOLERANCE = 0.15
# Points slower than these are never stored: no served deployment targets them.
MAX_STORED_TTFT_MS = 30_000.0
MAX_STORED_TPOT_MS = 200.0
# The default latency target (tables/served.py's Sla()): its best point is always stored exactly.
DEFAULT_TTFT_S, DEFAULT_TPOT_MS = 2.0, 50.0
# Stored columns (one list per point); GPU time per request is p / prefill + o / decode.
STORED_FIELDS = ("tp", "ep", "batch_size", "ctx_tokens", "ttft_ms", "tpot_ms", "prefill_tok_s_per_gpu", "decode_tok_s_per_gpu")


def tensor_parallel_candidates(base_tp: int) -> List[int]:
    """The batch-1 TP and its 2x, 4x multiples within one node (a model that needs more than a
    node keeps its batch-1 TP only)."""
    out = [int(base_tp)]
    for factor in (2, 4)[: int(math.log2(MAX_TP_FACTOR))]:
        tp = int(base_tp) * factor
        if tp <= NODE_GPUS:
            out.append(tp)
    return out


class ServedSimulator:
    """One model on one stack at one TP: the simulator's model, database and backend objects,
    set up with the same config and parallel layout as the batch-1 table (`compile_engine`)."""

    def __init__(self, config: dict, hf_id: Optional[str], reference: ReferenceStack, tensor_parallel: int,
                 source: str, moe: bool = False, expert_parallel: Optional[int] = None, quant: Optional[Dict[str, str]] = None):
        from aiconfigurator_core.sdk import perf_database
        from aiconfigurator_core.sdk.backends.factory import get_backend
        from aiconfigurator_core.sdk.config_builders import build_model_config
        from aiconfigurator_core.sdk.models import get_model

        _silence_simulator_logs()
        # compile_engine finds the config variant and parallel layout the simulator accepts.
        _, provenance = compile_engine(config, hf_id, reference, tensor_parallel, source, moe=moe)
        shipped = shipped_config(hf_id)
        if shipped is not None:
            sim_config = shipped
        else:
            sim_config, _ = simulator_config(config, source)
            if "128-wide heads" in provenance["mapped_from"]:
                sim_config = normalized_attention(sim_config)
        ep = int(provenance["expert_parallel"] if expert_parallel is None else expert_parallel)
        provenance["expert_parallel"] = ep
        tp = int(tensor_parallel)
        moe_tp = 1 if (ep > 1 or tp <= 1 or not moe) else tp
        self.provenance = dict(provenance)
        self.provenance["source"] = f"{PACKAGE} {simulator_version()} aggregated (in-flight batching) search"
        self.tp = tp
        self._folder = tempfile.TemporaryDirectory()
        with open(os.path.join(self._folder.name, "config.json"), "w") as f:
            json.dump(sim_config, f)
        # quant: the simulator's quant-mode overrides (e.g. gemm_quant_mode="fp8"); None keeps bf16, as our tables
        model_config = build_model_config(tp_size=tp, pp_size=1, attention_dp_size=1, moe_tp_size=moe_tp, moe_ep_size=ep, **(quant or {}))
        if quant:
            self.provenance["dtype"] = ",".join(f"{k}={v}" for k, v in sorted(quant.items()))
        self.model = get_model(self._folder.name, model_config, reference.backend)
        self.database = perf_database.get_database(reference.system, reference.backend,
                                                   backend_version(reference.system, reference.backend))
        if self.database is None:
            raise EfficiencyInputError(source, "stack", f"{PACKAGE} has no kernel database for {reference.name}")
        self.backend = get_backend(reference.backend)
        self.expert_parallel = ep
        self.run_point(16, 2, 1, 16)  # the simulator refuses here when a layout has no kernel data

    def close(self) -> None:
        self._folder.cleanup()

    def run_point(self, isl: int, osl: int, batch_size: int, ctx_tokens: int) -> Optional[dict]:
        """One aggregated steady state (run_agg), with its GPU time split into prefill and
        decode; None when it does not fit in memory."""
        from aiconfigurator_core.sdk.config import RuntimeConfig

        extra = self.backend._resolve_agg_kwargs({}, isl=isl, osl=osl, backend_version=self.database.version)
        runtime = RuntimeConfig(isl=isl, osl=osl, batch_size=batch_size, ttft=math.inf, tpot=math.inf)
        summary = self.backend.run_agg(self.model, self.database, runtime, ctx_tokens=ctx_tokens, **extra)
        if summary.check_oom() or summary.check_kv_cache_oom():
            return None
        return self._point(summary, runtime, isl, osl)

    def _point(self, summary, runtime, isl: int, osl: int) -> Optional[dict]:
        result = summary.get_result_dict()
        scheduling = summary.get_per_ops_data()["scheduling"]
        seq_s = float(result["seq/s"])
        if not seq_s > 0:
            return None
        mix_ms, gen_ms = scheduling["mix_step_latency_ms"], scheduling["genonly_step_latency_ms"]
        n_mix, n_gen = scheduling["num_mix_steps"], scheduling["num_genonly_steps"]
        mix_decode_requests = int(scheduling["mix_decode_requests"])
        mix_decode_ms = 0.0
        if mix_decode_requests > 0:
            mix_decode_ms = float(self.backend._get_genonly_step_latency(
                self.model, self.database, runtime, mix_decode_requests, isl, osl)[0])
        mix_decode_ms = min(mix_decode_ms, mix_ms)
        prefill_ms = n_mix * (mix_ms - mix_decode_ms)
        decode_ms = n_mix * mix_decode_ms + n_gen * gen_ms
        total_ms = prefill_ms + decode_ms
        if not (total_ms > 0 and prefill_ms > 0 and decode_ms > 0):
            return None
        gpu_s = self.tp / seq_s  # GPU-seconds per request at this steady state
        return {
            "tp": self.tp,
            "ep": self.expert_parallel,
            "batch_size": int(result["bs"]),
            "ctx_tokens": int(result["ctx_tokens"]),
            "ttft_ms": float(result["ttft"]),
            "tpot_ms": float(result["tpot"]),
            "request_latency_s": float(result["request_latency"]) / 1000.0,
            "gpu_s_per_request": gpu_s,
            "prefill_tok_s_per_gpu": isl / (gpu_s * prefill_ms / total_ms),
            "decode_tok_s_per_gpu": osl / (gpu_s * decode_ms / total_ms),
            "output_tok_s_per_gpu": float(result["tokens/s/gpu"]),
            "memory_gb": float(result["memory"]),
        }

    def sweep(self, isl: int, osl: int, max_batch_size: int = SEARCH["max_batch_size"]) -> List[dict]:
        """Every point the package's aggregated search visits that fits in memory, with no
        latency limit (its own sweep of batch size x context tokens per step)."""
        from aiconfigurator_core.sdk.config import RuntimeConfig

        runtime = RuntimeConfig(isl=isl, osl=osl, ttft=math.inf, tpot=math.inf)
        summary = self.backend.find_best_agg_result_under_constraints(
            self.model, self.database, runtime, top_k=SEARCH["top_k"], max_batch_size=max_batch_size,
            ctx_stride=SEARCH["ctx_stride"], enable_chunked_prefill=SEARCH["enable_chunked_prefill"])
        frame = summary.get_summary_df()
        points = []
        for b, ctx in sorted({(int(b), int(c)) for b, c in zip(frame["bs"], frame["ctx_tokens"])}):
            point = self.run_point(isl, osl, b, ctx)  # a cache hit in the backend: same (b, ctx)
            if point is not None:
                points.append(point)
        return points


def pareto(points: Sequence[dict]) -> List[dict]:
    """The points no other point beats on all of: GPU time per request (lower), TTFT (lower),
    TPOT (lower). The best feasible point under any (TTFT, TPOT) limit is among them."""
    ordered = sorted(points, key=lambda q: (q["gpu_s_per_request"], q["ttft_ms"], q["tpot_ms"], q["tp"], q["batch_size"], q["ctx_tokens"]))
    kept: List[dict] = []
    for q in ordered:
        if not any(k["ttft_ms"] <= q["ttft_ms"] and k["tpot_ms"] <= q["tpot_ms"] for k in kept):
            kept.append(q)
    return kept


def thin(points: Sequence[dict], tolerance: float) -> List[dict]:
    """A subset of a Pareto set that answers every latency target within `tolerance`: a point
    is dropped only when a kept point has no higher TTFT or TPOT and at most (1 + tolerance)
    times its GPU time. Kept points are never dropped later, so the errors do not compound."""
    kept: List[dict] = []
    for q in sorted(points, key=lambda q: (-q["gpu_s_per_request"], q["ttft_ms"], q["tpot_ms"], q["tp"], q["batch_size"], q["ctx_tokens"])):
        if not any(k["ttft_ms"] <= q["ttft_ms"] and k["tpot_ms"] <= q["tpot_ms"]
                   and k["gpu_s_per_request"] <= (1.0 + tolerance) * q["gpu_s_per_request"] for k in kept):
            kept.append(q)
    return sorted(kept, key=lambda q: (q["gpu_s_per_request"], q["ttft_ms"], q["tpot_ms"], q["tp"], q["batch_size"], q["ctx_tokens"]))


def best_point(points: Sequence[dict], ttft_s: float, tpot_ms: float) -> Optional[dict]:
    """The throughput-optimal point (least GPU time per request) within the latency limits;
    ties go to lower TTFT, then TPOT, then fewer GPUs. None when no point meets them."""
    feasible = [q for q in points if q["ttft_ms"] <= ttft_s * 1000.0 and q["tpot_ms"] <= tpot_ms]
    if not feasible:
        return None
    return min(feasible, key=lambda q: (q["gpu_s_per_request"], q["ttft_ms"], q["tpot_ms"], q["tp"], q["batch_size"], q["ctx_tokens"]))


def stored_row(point: dict) -> list:
    """Stored form of a point (STORED_FIELDS), 5 significant digits: compact, and byte-identical across rebuilds."""
    return [point[k] if isinstance(point[k], int) else float(f"{point[k]:.5g}") for k in STORED_FIELDS]


def point_from_row(row: Sequence, num_prompt_tokens: int, num_output_tokens: int) -> dict:
    """A stored row as a point dict, with GPU time per request at its own (p, o)."""
    point = dict(zip(STORED_FIELDS, row))
    point["gpu_s_per_request"] = num_prompt_tokens / point["prefill_tok_s_per_gpu"] + num_output_tokens / point["decode_tok_s_per_gpu"]
    return point


def simulate_served(config: dict, model: str, reference: ReferenceStack, base_tp: int, hf_id: Optional[str] = None,
                    source: str = "config", moe: bool = False,
                    prompt_tokens: Sequence[int] = SERVED_PROMPT_TOKENS,
                    output_tokens: int = SERVED_OUTPUT_TOKENS) -> Tuple[Dict[str, List[list]], dict, Dict[str, str]]:
    """Stored points per prompt length ({str(p): [row, ...]}, rows as `stored_row`: the Pareto
    set over every TP tried, thinned by `thin`), the provenance
    of the first TP that the simulator models, and the reason for each TP it refused.
    Raises EfficiencyInputError when no TP is modelled."""
    frontier: Dict[str, List[list]] = {}
    provenance: Optional[dict] = None
    refused: Dict[str, str] = {}
    all_points: Dict[int, List[dict]] = {int(p): [] for p in prompt_tokens}
    seen = set()
    for tp in tensor_parallel_candidates(base_tp):
        # MoE: experts split by TP (as the batch-1 table), and by expert parallelism over the same GPUs
        for ep in ([None, tp] if (moe and tp > 1) else [None]):
            label = f"{tp}" if ep is None else f"{tp}/ep{ep}"
            try:
                sim = ServedSimulator(config, hf_id, reference, tp, source, moe=moe, expert_parallel=ep)
            except EfficiencyInputError as e:
                refused[label] = e.problem
                continue
            except Exception as e:  # the simulator's own refusal
                refused[label] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                continue
            if (tp, sim.expert_parallel) in seen:  # compile_engine had already chosen this layout
                sim.close()
                continue
            seen.add((tp, sim.expert_parallel))
            try:
                for p in prompt_tokens:
                    try:
                        all_points[int(p)].extend(sim.sweep(int(p), int(output_tokens)))
                    except Exception as e:
                        refused[f"{label}@p={p}"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            finally:
                sim.close()
            if provenance is None:
                provenance = sim.provenance
    if provenance is None:
        first = next(iter(refused.values()), "no TP candidate")
        raise EfficiencyInputError(source, "architecture", f"{PACKAGE} does not model it on {reference.name} at TP "
                                   + ", ".join(refused) + f"; first refusal: {first[:400]}")
    for p in prompt_tokens:
        within = [q for q in all_points[int(p)] if q["ttft_ms"] <= MAX_STORED_TTFT_MS and q["tpot_ms"] <= MAX_STORED_TPOT_MS]
        kept = thin(pareto(within), THIN_TOLERANCE)
        exact = best_point(within, DEFAULT_TTFT_S, DEFAULT_TPOT_MS)
        if exact is not None and all(q is not exact for q in kept):
            kept.append(exact)
        rows = [stored_row(q) for q in kept]
        # re-thin on the stored (rounded) values so the order and choice are those a reader sees
        points = [point_from_row(r, int(p), int(output_tokens)) for r in rows]
        frontier[str(int(p))] = [stored_row(q) for q in pareto(points)]
    return frontier, provenance, refused
