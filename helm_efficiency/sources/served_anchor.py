"""Simulate every published served operating point at its own configuration.

Each concurrency-sweep row of sources/measured_served/ (sources/measured_served.py) is run
through the same simulator machinery that builds the served tables (sources/served.py,
AIConfigurator's aggregated in-flight batching), at the row's own model, GPU, framework, TP,
precision (16-bit in bf16, FP8 with FP8 GEMMs) and request shape, with `concurrency` requests in
flight (the simulator's best context-tokens choice at that batch). The served correction
(sources/served_correction.py) is fitted on measured / simulated.

    python -m helm_efficiency.sources.served_anchor --simulate -j 2   # cached by shape: only new rows run
"""

import argparse
import math
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.util import data_paths

if TYPE_CHECKING:
    from helm_efficiency.sources.served import ServedSimulator  # imported where used: it needs the simulator

SERVED_CACHE = data_paths.SERVED_CACHE
SIM_KEY = ["hf_id", "gpu", "backend", "tp", "sim_dtype", "p", "o", "concurrency"]
# sim_prefill_share: the share of the simulated GPU time spent on prefill (bench/served_accuracy.py
# compares the correction's closed-loop composition with one that scales this share by the TTFT ratio)
SIM_COLUMNS = ["num_layers", "sim_ttft_s", "sim_tpot_s", "sim_gpu_s_per_token", "sim_prefill_share", "sim_batch", "sim_reason"]
FP8 = {"gemm_quant_mode": "fp8", "moe_quant_mode": "fp8", "kvcache_quant_mode": "fp8"}


def best_at_batch(sim: "ServedSimulator", isl: int, osl: int, batch: int) -> Optional[Dict[str, Any]]:
    """The simulator at exactly `batch` requests in flight: its best context-tokens choice."""
    ctx_list = sim.backend._get_ctx_tokens_list_for_agg_sweep(isl, 512, False)
    best = None
    for ctx in ctx_list:
        if batch - math.ceil(ctx / isl) < (0 if batch == 1 else 1):
            break
        point = sim.run_point(isl, osl, batch, ctx)
        if point is not None and (best is None or point["gpu_s_per_request"] < best["gpu_s_per_request"]):
            best = point
    return best


def point_at_concurrency(sim: "ServedSimulator", isl: int, osl: int, concurrency: float) -> Optional[Dict[str, Any]]:
    """The simulator at `concurrency` requests in flight per replica. A fractional one (a client's
    concurrency split over data-parallel replicas, e.g. 25 over 2) is replicas at the floor and at
    the ceiling in proportion, each replica with the same GPUs: requests per GPU-second add up
    (gpu_s_per_request), the prefill share of GPU time is the replicas' mean, and TTFT and TPOT
    are averaged over the requests in flight. Only the fields the caller reads are returned. Under
    one request per replica (some replicas idle) is refused."""
    if concurrency < 1:
        raise ValueError(f"{concurrency:g} requests in flight per replica: under one, some replicas idle")
    low = math.floor(concurrency)
    share = concurrency - low  # of the replicas at the ceiling
    if share == 0:
        return best_at_batch(sim, isl, osl, int(low))
    points = [best_at_batch(sim, isl, osl, low), best_at_batch(sim, isl, osl, low + 1)]
    if points[0] is None or points[1] is None:
        return None
    weights = [(1.0 - share, points[0]), (share, points[1])]
    rate = sum(w / q["gpu_s_per_request"] for w, q in weights)  # requests per GPU-second
    requests = sum(w * q["batch_size"] for w, q in weights)
    prefill_share = sum(w * isl / (q["gpu_s_per_request"] * q["prefill_tok_s_per_gpu"]) for w, q in weights)
    return {"gpu_s_per_request": 1.0 / rate, "prefill_tok_s_per_gpu": isl * rate / prefill_share,
            "ttft_ms": sum(w * q["batch_size"] * q["ttft_ms"] for w, q in weights) / requests,
            "tpot_ms": sum(w * q["batch_size"] * q["tpot_ms"] for w, q in weights) / requests,
            "batch_size": concurrency}


ServedJob = Tuple[Tuple[str, str, str, int, str], List[Tuple[float, float, float]]]  # (hf_id, gpu, backend, tp, dtype), its (p, o, concurrency)


def _simulate_group(job: ServedJob) -> List[Dict[str, Any]]:
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.sources.anchor import config_for, row_stack
    from helm_efficiency.sources.served import ServedSimulator

    (hf_id, gpu, backend, tp, dtype), shapes = job
    base = {"hf_id": hf_id, "gpu": gpu, "backend": backend, "tp": tp, "sim_dtype": dtype}
    stack, found = row_stack(gpu, backend), config_for(hf_id)
    if stack is None or found is None:
        return [dict(base, p=p, o=o, concurrency=c, sim_reason="no simulated stack" if stack is None else "no config for this model")
                for p, o, c in shapes]
    config, source = found
    try:
        arch = architecture_from_config(config, source)
        sim = ServedSimulator(config, hf_id, stack[1], int(tp), source, moe=bool(arch.get("num_experts")),
                              quant=FP8 if dtype == "fp8" else None)
    except Exception as e:  # the simulator's own refusal (family, layout, kernel data)
        return [dict(base, p=p, o=o, concurrency=c, sim_reason=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}") for p, o, c in shapes]
    out = []
    try:
        for p, o, c in shapes:
            try:
                point = point_at_concurrency(sim, int(round(p)), int(round(o)), float(c))
            except Exception as e:
                point, why = None, f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            else:
                why = "does not fit in memory at this batch"
            if point is None:
                out.append(dict(base, p=p, o=o, concurrency=c, sim_reason=why))
                continue
            out.append(dict(base, p=p, o=o, concurrency=c, num_layers=int(arch["num_layers"]), sim_ttft_s=point["ttft_ms"] / 1e3,
                            sim_tpot_s=point["tpot_ms"] / 1e3, sim_gpu_s_per_token=point["gpu_s_per_request"] / o,
                            sim_prefill_share=round(p) / (point["gpu_s_per_request"] * point["prefill_tok_s_per_gpu"]),
                            sim_batch=point["batch_size"], sim_reason=""))
    finally:
        sim.close()
    return out


def simulate_served(rows: pd.DataFrame, jobs: int = 1, progress: bool = True, cache: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """`rows` (served_rows) with the simulated TTFT, TPOT and GPU-s per output token at each row's
    own configuration; shapes in `cache` (an earlier output) are not simulated again."""
    from helm_efficiency.util.executors import map_ordered

    rows = rows.copy()
    rows["sim_dtype"] = ["bf16" if a else "fp8" for a in rows["dtype16"]]
    # FP8 rows are also simulated in bf16: a 16-bit served estimate must never be cheaper than them.
    rows = pd.concat([rows, rows[rows["sim_dtype"] == "fp8"].assign(sim_dtype="bf16")], ignore_index=True)
    rows["tp"] = rows["tp"].astype(int)
    known = pd.DataFrame(columns=SIM_KEY + SIM_COLUMNS)
    if cache is not None and len(cache):
        known = cache[SIM_KEY + SIM_COLUMNS].drop_duplicates(SIM_KEY).astype({"tp": int})
    shapes = rows[SIM_KEY].drop_duplicates()
    missing = shapes.merge(known[SIM_KEY], on=SIM_KEY, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"]
    groups = [((h, g, b, int(t), d), list(zip(r["p"], r["o"], r["concurrency"])))
              for (h, g, b, t, d), r in missing.groupby(["hf_id", "gpu", "backend", "tp", "sim_dtype"], sort=True)]
    results = map_ordered(_simulate_group, groups, jobs, "simulating served rows" if progress else "", unit="config")
    fresh = pd.DataFrame([r for group in results for r in group], columns=SIM_KEY + SIM_COLUMNS)
    simulated = fresh if known.empty else (pd.concat([known, fresh], ignore_index=True) if len(fresh) else known)
    return rows.merge(simulated.astype({"tp": int}), on=SIM_KEY, how="left")


def load_served_simulated(path: str = SERVED_CACHE) -> pd.DataFrame:
    if not os.path.exists(path):
        raise EfficiencyInputError(path, "<file>", "missing: run `python -m helm_efficiency.sources.served_anchor --simulate`")
    return pd.read_csv(path)


def main(argv: Optional[Sequence[str]] = None) -> None:
    from helm_efficiency.util.atomic import write_text_atomic
    from helm_efficiency.sources.measured_served import served_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate", action="store_true", help=f"simulate every served row (writes {os.path.relpath(SERVED_CACHE)})")
    parser.add_argument("--models", nargs="*", help="only rows of these Hugging Face ids (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    if args.simulate:
        rows = served_rows()
        if args.models:
            rows = rows[rows["hf_id"].isin(args.models)]
        cache = pd.read_csv(SERVED_CACHE) if os.path.exists(SERVED_CACHE) else None
        if cache is not None and not set(SIM_COLUMNS) <= set(cache.columns):
            missing = sorted(set(SIM_COLUMNS) - set(cache.columns))
            if args.models:  # a partial run would write only these models' rows
                raise EfficiencyInputError(SERVED_CACHE, missing[0], "missing: the cache predates this column; run --simulate without --models")
            cache = None  # written before a column was added: every row runs again
        simulated = simulate_served(rows, jobs=args.jobs, cache=cache)
        merged = simulated if cache is None else pd.concat([cache, simulated], ignore_index=True).drop_duplicates(["where", "sim_dtype"], keep="last")
        os.makedirs(os.path.dirname(SERVED_CACHE), exist_ok=True)
        write_text_atomic(SERVED_CACHE, merged.sort_values(["where", "sim_dtype"]).to_csv(index=False, float_format="%.9g"))
        print(f"simulated {merged['sim_tpot_s'].notna().sum()} of {len(merged)} served rows -> {SERVED_CACHE}")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
