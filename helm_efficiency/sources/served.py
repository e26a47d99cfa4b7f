"""Served operating points from AIConfigurator's aggregated (continuous-batching) search.

The batch-1 tables price one request alone on the GPUs. A deployment that serves many users
batches them, and a request then costs far less GPU time. This module asks the same simulator
(`aiconfigurator-core`) what a stack can do when it batches: for one model, stack, placement
(tensor parallelism TP within a node x pipeline stages PP across nodes, and expert parallelism for
MoE) and request shape (p prompt tokens, o output tokens) it runs the package's
own SLA-constrained aggregated search, `BaseBackend.find_best_agg_result_under_constraints`,
with the latency limits lifted (ttft = tpot = inf, top_k = 0), so it returns every
(batch size, context tokens per step) point the search visits that fits in GPU memory. Each
point is one steady state of in-flight batching: b requests in flight, `ctx_tokens` prompt
tokens scheduled per step, with its time to first token (TTFT), time per output token (TPOT)
and throughput. The simulator's memory check reserves each request's KV cache for its whole
sequence (p + o tokens), so at long outputs fewer requests fit and each costs more.

We keep, per (p, o) and per placement, the points that no other point of that placement beats
on all four of GPU time per request, TTFT, TPOT and running batch (`pareto`): the best feasible
point under any latency target and batch cap, on any placement, is always in that set. The set
is then thinned (`thin`) to the points needed to answer any latency target and batch cap on each
placement within 15% of the full sweep's best GPU time per request there, never below it, and
wherever the sweep meets a target the stored points meet it too. So the table answers any SLA
without re-running the simulator, a little conservatively, and the served correction, which
moves placements apart, still finds each placement's own points.

Each point's GPU time per request, G = TP x PP / (requests per second), is split into a prefill and
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

# The request shapes at which operating points are stored: every (prompt, output) pair of these
# two grids that the model's context window allows (`served_shapes`). A request's cost is
# interpolated between them in log p and log o (tables/served.py). Each simulated point holds
# its requests' whole KV cache (p + o tokens each), so long outputs limit the batch.
SERVED_PROMPT_TOKENS = (128, 512, 2048, 4096, 8192, 16384, 32768)
SERVED_OUTPUT_TOKENS = (16, 256, 1024, 2048, 4096, 8192, 16384)
# Placement: GPUs per replica G in (base, 2 base, 4 base), base = the batch-1 GPUs (smallest power
# of two whose GPUs hold the bf16 weights). Within one 8-GPU node G GPUs are tensor parallel;
# beyond it TP stays within the node (8) and pipeline stages span G / 8 nodes, up to twice the
# nodes the weights need (`placements`). No cross-node TP; no disaggregated prefill/decode.
MAX_GPU_FACTOR = 4
NODE_GPUS = 8
# The aggregated search's own sweep settings (its defaults), recorded in provenance.
SEARCH = {"function": "BaseBackend.find_best_agg_result_under_constraints", "max_batch_size": 512,
          "ctx_stride": 512, "enable_chunked_prefill": False, "ttft": "inf", "tpot": "inf", "top_k": 0}
# The stored points answer any latency target and batch cap, on each placement, within this
# fraction of the full sweep's best GPU time per request there (never below it), and meet it
# wherever the sweep does (`pareto`, `thin`).
THIN_TOLERANCE = 0.15
# Points slower than these are never stored: no served deployment targets them.
MAX_STORED_TTFT_MS = 30_000.0
MAX_STORED_TPOT_MS = 200.0
# The default latency target (tables/served.py's Sla()): its best point is always stored exactly.
DEFAULT_TTFT_S, DEFAULT_TPOT_MS = 2.0, 50.0
# Stored columns (one list per point): the placement (tensor, pipeline, expert parallelism), the
# steady state, and its rates; GPU time per request is p / prefill + o / decode.
STORED_FIELDS = ("tp", "pp", "ep", "batch_size", "ctx_tokens", "ttft_ms", "tpot_ms", "prefill_tok_s_per_gpu", "decode_tok_s_per_gpu")


def shape_key(num_prompt_tokens: int, num_output_tokens: int) -> str:
    """A stored shape's key: '512x2048' (prompt x output tokens)."""
    return f"{int(num_prompt_tokens)}x{int(num_output_tokens)}"


def parse_shape_key(key: str) -> Tuple[int, int]:
    p, _, o = str(key).partition("x")
    return int(p), int(o)


def served_shapes(prompt_tokens: Sequence[int] = SERVED_PROMPT_TOKENS, output_tokens: Sequence[int] = SERVED_OUTPUT_TOKENS,
                  context_window: Optional[int] = None) -> List[Tuple[int, int]]:
    """The grid shapes a model needs: (p_i, o_j) is kept when the grid point below it on both
    axes, (p_{i-1}, o_{j-1}) (itself on the first row or column), lies inside the context window
    (p + o < window), so every cell in which a request p + o <= window has weight has all four
    corners. All of them without a window."""
    P, O = sorted(int(p) for p in prompt_tokens), sorted(int(o) for o in output_tokens)
    out = []
    for j, o in enumerate(O):
        for i, p in enumerate(P):
            if context_window is None or P[max(i - 1, 0)] + O[max(j - 1, 0)] < int(context_window):
                out.append((p, o))
    return out


def placements(base_gpus: int) -> List[Tuple[int, int]]:
    """(tensor parallel, pipeline parallel) per replica to try: G in base, 2 base, 4 base GPUs,
    TP = G within a node, TP = 8 x PP = G / 8 stages across nodes, at most twice the GPUs the
    weights need when they need a node or more."""
    base = int(base_gpus)
    out = []
    for factor in (1, 2, 4)[: int(math.log2(MAX_GPU_FACTOR)) + 1]:
        gpus = base * factor
        if gpus > max(NODE_GPUS, 2 * base):
            break
        out.append((gpus, 1) if gpus <= NODE_GPUS else (NODE_GPUS, gpus // NODE_GPUS))
    return out


def placement_label(tp: int, pp: int = 1, ep: int = 1) -> str:
    """'tp8', 'tp8pp2 (2 nodes)', 'tp4ep4': a placement as the tables and estimates show it."""
    text = f"tp{int(tp)}" + (f"pp{int(pp)}" if int(pp) > 1 else "") + (f"ep{int(ep)}" if int(ep) > 1 else "")
    nodes = -(-int(tp) * int(pp) // NODE_GPUS)
    return text + (f" ({nodes} nodes)" if nodes > 1 else "")


class ServedSimulator:
    """One model on one stack at one placement (TP GPUs per stage x PP stages): the simulator's
    model, database and backend objects, set up with the same config and parallel layout as the
    batch-1 table (`compile_engine`)."""

    def __init__(self, config: dict, hf_id: Optional[str], reference: ReferenceStack, tensor_parallel: int,
                 source: str, moe: bool = False, expert_parallel: Optional[int] = None, quant: Optional[Dict[str, str]] = None,
                 pipeline_parallel: int = 1):
        from aiconfigurator_core.sdk import perf_database
        from aiconfigurator_core.sdk.backends.factory import get_backend
        from aiconfigurator_core.sdk.config_builders import build_model_config
        from aiconfigurator_core.sdk.models import get_model

        _silence_simulator_logs()
        # compile_engine finds the config variant and parallel layout the simulator accepts.
        _, provenance = compile_engine(config, hf_id, reference, tensor_parallel, source, moe=moe, pipeline_parallel=pipeline_parallel)
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
        self.tp, self.pp = tp, int(pipeline_parallel)
        self._folder = tempfile.TemporaryDirectory()
        with open(os.path.join(self._folder.name, "config.json"), "w") as f:
            json.dump(sim_config, f)
        # quant: the simulator's quant-mode overrides (e.g. gemm_quant_mode="fp8"); None keeps bf16, as our tables
        model_config = build_model_config(tp_size=tp, pp_size=self.pp, attention_dp_size=1, moe_tp_size=moe_tp, moe_ep_size=ep, **(quant or {}))
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

    def decode_step_ms(self, isl: int, osl: int, batch_size: int) -> Optional[float]:
        """The simulator's pure decode step (static generation, no prefill mixed in) at
        `batch_size` requests of `isl` prompt and `osl` output tokens, in ms; None when it does not
        fit in memory."""
        from aiconfigurator_core.sdk.config import RuntimeConfig

        runtime = RuntimeConfig(isl=isl, osl=osl, batch_size=batch_size, ttft=math.inf, tpot=math.inf)
        summary = self.backend.run_static(self.model, self.database, runtime, mode="static_gen")
        return None if summary.check_oom() else float(summary.get_result_dict()["tpot"])

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
        gpu_s = self.tp * self.pp / seq_s  # GPU-seconds per request at this steady state (seq/s of the whole replica)
        return {
            "tp": self.tp,
            "pp": self.pp,
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


def _order(q: dict) -> tuple:
    """Ties among points go to lower TTFT, then TPOT, then fewer GPUs, then the rest of the placement and steady state."""
    return (q["ttft_ms"], q["tpot_ms"], q["tp"] * q.get("pp", 1), q["tp"], q.get("ep", 1), q["batch_size"], q["ctx_tokens"])


def placement_of(point: dict) -> Tuple[int, int, int]:
    """A point's placement: (tensor, pipeline, expert parallelism)."""
    return int(point["tp"]), int(point.get("pp", 1)), int(point.get("ep", 1))


def _covers(k: dict, q: dict) -> bool:
    """k serves whatever q serves: the same placement, no higher TTFT or TPOT, no more requests in flight."""
    return (placement_of(k) == placement_of(q) and k["ttft_ms"] <= q["ttft_ms"] and k["tpot_ms"] <= q["tpot_ms"]
            and k["batch_size"] <= q["batch_size"])


def pareto(points: Sequence[dict]) -> List[dict]:
    """Per placement, the points no other point of it beats on all of: GPU time per request
    (lower), TTFT (lower), TPOT (lower), running batch (lower). The best feasible point under
    any (TTFT, TPOT) limit and batch cap, on any placement, is among them."""
    ordered = sorted(points, key=lambda q: (q["gpu_s_per_request"],) + _order(q))
    kept: List[dict] = []
    for q in ordered:
        if not any(_covers(k, q) for k in kept):
            kept.append(q)
    return kept


def thin(points: Sequence[dict], tolerance: float) -> List[dict]:
    """A subset of a Pareto set that answers every latency target and batch cap on every
    placement within `tolerance`: a point is dropped only when a kept point of its placement
    has no higher TTFT, TPOT or running batch and at most (1 + tolerance) times its GPU time.
    Kept points are never dropped later, so the errors do not compound. Thinning per placement
    keeps each placement's small batches, which a batch cap needs and which the served
    correction (its TP and per-request terms) can make the cheapest after the fact."""
    kept: List[dict] = []
    for q in sorted(points, key=lambda q: (-q["gpu_s_per_request"],) + _order(q)):
        if not any(_covers(k, q) and k["gpu_s_per_request"] <= (1.0 + tolerance) * q["gpu_s_per_request"] for k in kept):
            kept.append(q)
    return sorted(kept, key=lambda q: (q["gpu_s_per_request"],) + _order(q))


def best_point(points: Sequence[dict], ttft_s: float, tpot_ms: float, max_batch: Optional[int] = None) -> Optional[dict]:
    """The throughput-optimal point (least GPU time per request) within the latency limits (and
    at most `max_batch` running requests when given); ties go to lower TTFT, then TPOT, then
    fewer GPUs. None when no point meets them."""
    feasible = [q for q in points if meets(q, ttft_s, tpot_ms, max_batch)]
    if not feasible:
        return None
    return min(feasible, key=lambda q: (q["gpu_s_per_request"],) + _order(q))


def meets(point: dict, ttft_s: float, tpot_ms: float, max_batch: Optional[int] = None) -> bool:
    """The point meets the latency limits (TTFT ≤ ttft_s, TPOT ≤ tpot_ms) and runs at most `max_batch` requests (when given)."""
    return (point["ttft_ms"] <= ttft_s * 1000.0 and point["tpot_ms"] <= tpot_ms
            and (max_batch is None or point["batch_size"] <= max_batch))


def feasible_points(points: Sequence[dict], ttft_s: float, tpot_ms: float, max_batch: Optional[int] = None) -> List[dict]:
    """The points that can serve under the target: the stored ones that meet it and, per
    placement, the in-between ones on its TPOT line (`points_at_target`)."""
    return [q for q in points if meets(q, ttft_s, tpot_ms, max_batch)] + points_at_target(points, ttft_s, tpot_ms, max_batch)


def stored_row(point: dict) -> list:
    """Stored form of a point (STORED_FIELDS), 5 significant digits: compact, and byte-identical across rebuilds."""
    return [point[k] if isinstance(point[k], int) else float(f"{point[k]:.5g}") for k in STORED_FIELDS]


def points_at_target(points: Sequence[dict], ttft_s: float, tpot_ms: float, max_batch: Optional[int] = None) -> List[dict]:
    """Per placement (tp, pp, ep), points between its stored batch sizes, up to the latency target
    (and up to `max_batch` running requests when it is given).

    The search stores a few batch sizes per placement (its Pareto front, thinned by `thin`, both
    before the served correction moved their step times), so a latency target between two of them would
    otherwise fall back to the smaller batch or to another placement. TPOT grows about linearly
    with the running batch within one placement (each step reads the weights once and each
    request's KV cache), so on each stretch between two stored batches (and below the smallest,
    along the line through the two smallest, down to batch 1) the largest whole batch whose TPOT
    on that line meets `tpot_ms` is added, short of the stretch's upper end. Its prefill rate,
    and the ratio of its decode rate to batch / (TPOT × GPUs), are those of the stored batch the
    stretch starts from (below the smallest: the smallest), and its TTFT that of the stored batch
    above it (an overestimate). So along a stretch the cost falls or rises steadily with the
    batch and a looser target never adds a dearer point than it keeps: a tighter target never
    lowers the cost. Nothing is added above the largest stored batch (the KV cache may not hold
    more), on a stretch whose line does not rise, or below the smallest where the line would
    reach zero TPOT."""
    groups: Dict[Tuple[int, int, int], List[dict]] = {}
    for q in points:
        groups.setdefault(placement_of(q), []).append(q)
    out = []
    for (tp, pp, _), group in sorted(groups.items()):
        group = sorted(group, key=lambda q: q["batch_size"])
        # (line through a and b; lowest and highest batch added; TTFT; below the smallest stored batch)
        stretches = [(a, b, a["batch_size"] + 1, b["batch_size"] - 1, b["ttft_ms"], False) for a, b in zip(group, group[1:])]
        if len(group) >= 2:
            stretches.append((group[0], group[1], 1, group[0]["batch_size"] - 1, group[0]["ttft_ms"], True))
        for a, b, lowest, highest, ttft, below in stretches:
            if not b["batch_size"] > a["batch_size"]:
                continue
            rise = (b["tpot_ms"] - a["tpot_ms"]) / (b["batch_size"] - a["batch_size"])
            at_zero = a["tpot_ms"] - rise * a["batch_size"]
            if not rise > 0 or (below and not at_zero > 0) or ttft > ttft_s * 1000.0:
                continue
            batch = min(highest, math.floor(a["batch_size"] + (tpot_ms - a["tpot_ms"]) / rise))
            if max_batch is not None:
                batch = min(batch, max_batch)
            if batch < lowest:
                continue
            tpot = a["tpot_ms"] + rise * (batch - a["batch_size"])
            gpus = tp * pp
            ratio = a["decode_tok_s_per_gpu"] * a["tpot_ms"] * gpus / (1000.0 * a["batch_size"])
            q = dict(a, batch_size=batch, tpot_ms=tpot, ttft_ms=ttft, decode_tok_s_per_gpu=ratio * 1000.0 * batch / (tpot * gpus))
            q.pop("gpu_s_per_request", None)
            out.append(q)
    return out


def point_from_row(row: Sequence, num_prompt_tokens: int, num_output_tokens: int) -> dict:
    """A stored row as a point dict at its shape (num_prompt_tokens, num_output_tokens), with GPU
    time per request there."""
    point = dict(zip(STORED_FIELDS, row))
    point["num_prompt_tokens"], point["num_output_tokens"] = int(num_prompt_tokens), int(num_output_tokens)
    point["gpu_s_per_request"] = num_prompt_tokens / point["prefill_tok_s_per_gpu"] + num_output_tokens / point["decode_tok_s_per_gpu"]
    return point


def _refusal(e: Exception) -> str:
    if isinstance(e, EfficiencyInputError):
        return e.problem
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def simulate_served(config: dict, model: str, reference: ReferenceStack, base_gpus: int, hf_id: Optional[str] = None,
                    source: str = "config", moe: bool = False, shapes: Optional[Sequence[Tuple[int, int]]] = None
                    ) -> Tuple[Dict[str, List[list]], dict, Dict[str, str], List[str]]:
    """Stored points per shape ({shape_key(p, o): [row, ...]}, rows as `stored_row`: per
    placement tried, the Pareto set thinned by `thin`), the provenance of the first placement
    the simulator models, the reason for each placement (or shape) it refused, and the
    placements tried. `shapes` defaults to the full grid (`served_shapes()`).
    Raises EfficiencyInputError when no placement is modelled."""
    shapes = list(shapes if shapes is not None else served_shapes())
    frontier: Dict[str, List[list]] = {}
    provenance: Optional[dict] = None
    refused: Dict[str, str] = {}
    tried: List[str] = []
    all_points: Dict[Tuple[int, int], List[dict]] = {shape: [] for shape in shapes}
    seen = set()
    for tp, pp in placements(base_gpus):
        # MoE: experts split by TP (as the batch-1 table), and by expert parallelism over the same GPUs
        for ep in ([None, tp] if (moe and tp > 1) else [None]):
            label = placement_label(tp, pp, ep or 1).split(" ")[0]
            tried.append(label)
            try:
                sim = ServedSimulator(config, hf_id, reference, tp, source, moe=moe, expert_parallel=ep, pipeline_parallel=pp)
            except Exception as e:  # our refusal, or the simulator's own
                refused[label] = _refusal(e)
                continue
            if (tp, pp, sim.expert_parallel) in seen:  # compile_engine had already chosen this layout
                sim.close()
                continue
            seen.add((tp, pp, sim.expert_parallel))
            try:
                for p, o in shapes:
                    try:
                        all_points[(p, o)].extend(sim.sweep(int(p), int(o)))
                    except Exception as e:
                        refused[f"{label}@{shape_key(p, o)}"] = _refusal(e)
            finally:
                sim.close()
            if provenance is None:
                provenance = sim.provenance
    if provenance is None:
        first = next(iter(refused.values()), "no placement candidate")
        raise EfficiencyInputError(source, "architecture", f"{PACKAGE} does not model it on {reference.name} at "
                                   + ", ".join(refused) + f"; first refusal: {first[:400]}")
    for p, o in shapes:
        within = [q for q in all_points[(p, o)] if q["ttft_ms"] <= MAX_STORED_TTFT_MS and q["tpot_ms"] <= MAX_STORED_TPOT_MS]
        kept = thin(pareto(within), THIN_TOLERANCE)
        exact = best_point(within, DEFAULT_TTFT_S, DEFAULT_TPOT_MS)
        if exact is not None and all(q is not exact for q in kept):
            kept.append(exact)
        # re-thin on the stored (rounded) values so the order and choice are those a reader sees
        points = [point_from_row(stored_row(q), p, o) for q in kept]
        frontier[shape_key(p, o)] = [stored_row(q) for q in pareto(points)]
    return frontier, provenance, refused, tried
