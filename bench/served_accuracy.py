"""How close are the served tables to published throughput-at-latency measurements?

    python bench/served_accuracy.py                 # print the comparison
    python bench/served_accuracy.py --write         # also write the interval (tables/data/served/accuracy.json)

Each published measurement in helm_efficiency/sources/measured_served/ is simulated with the
same machinery that builds the served tables (helm_efficiency/sources/served.py: AIConfigurator's
aggregated search), at the source's own model, GPU, tensor parallelism, precision (16-bit rows
in bf16, FP8 rows with FP8 GEMMs and KV cache) and request shape. The compared quantity is
GPU-seconds per request (GPUs / requests per second), the quantity the served tables price:

- **at the SLA** (the point the tables store): per measured concurrency sweep, the measured
  best GPU-s per request among the concurrencies that meet the target (TPOT ≤ 50 ms, TTFT ≤ 2 s
  by default, `--sla`) against the simulator's best under the same target, with the batch
  capped at the sweep's largest concurrency;
- **per concurrency**: each measured concurrency c against the simulator at batch c (its best
  context-tokens choice at that batch);
- **max throughput**: TensorRT-LLM's perf-overview rows (no latency target) against the
  simulator's unconstrained best (batch up to 1024).

error = simulated / measured − 1 (positive: the table says a request costs more than measured).
16-bit and FP8 rows are reported apart. A price check compares the default table's cost per
million output tokens with a few public list prices (a sanity check, not a target).
"""

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from helm_efficiency.analytic.architecture import architecture_from_config  # noqa: E402
from helm_efficiency.analytic.registry import load_registry  # noqa: E402
from helm_efficiency.sources.aiconfigurator import STACKS  # noqa: E402
from helm_efficiency.sources.served import ServedSimulator, best_point  # noqa: E402
from helm_efficiency.tables.served import ACCURACY_FILE, SERVED_DIR, Sla, parse_sla  # noqa: E402

DATA = os.path.join(ROOT, "helm_efficiency", "sources", "measured_served")
FP8 = {"gemm_quant_mode": "fp8", "kvcache_quant_mode": "fp8"}

# Public per-token list prices: a sanity check only. Serverless prices include margin, idle
# capacity, and (for "Turbo") FP8 serving; they are not a target for our numbers.
LIST_PRICES = [
    # (registry model, USD per 1M tokens (input and output alike), what, source URL)
    ("meta/llama-3.1-8b", 0.18, "Together AI serverless, Meta-Llama-3.1-8B-Instruct-Turbo (FP8), 2024-25 list price",
     "https://www.together.ai/pricing"),
    ("meta/llama-3.1-70b", 0.88, "Together AI serverless, Meta-Llama-3.1-70B-Instruct-Turbo (FP8), 2024-25 list price",
     "https://www.together.ai/pricing"),
    ("meta/llama-3.1-405b", 3.50, "Together AI serverless, Meta-Llama-3.1-405B-Instruct-Turbo (FP8), 2024-25 list price",
     "https://www.together.ai/pricing"),
]


def stack_of(gpu: str, stack: str) -> Optional[str]:
    g = gpu.lower()
    hw = "h200" if "h200" in g else "h100" if "h100" in g else "a100" if "a100" in g else None
    backend = "trtllm" if ("tensorrt" in stack.lower() or "nim" in stack.lower()) else "vllm" if "vllm" in stack.lower() else None
    name = f"{hw}-{backend}" if hw and backend else None
    return name if name in STACKS else None


def load_measured() -> pd.DataFrame:
    frames = []
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".csv"):
            frames.append(pd.read_csv(os.path.join(DATA, name)).assign(file=name))
    out = pd.concat(frames, ignore_index=True)
    out["stack_name"] = [stack_of(g, s) for g, s in zip(out["gpu"], out["stack"])]
    out["bits"] = np.where(out["dtype"].str.upper().isin(["FP16", "BF16"]), "16-bit", out["dtype"].str.upper())
    return out


_SIMS: Dict[tuple, ServedSimulator] = {}


def simulator(model: str, stack_name: str, tp: int, bits: str) -> ServedSimulator:
    key = (model, stack_name, tp, bits)
    if key not in _SIMS:
        entry = load_registry()[model]
        arch = architecture_from_config(entry["config"], model)
        _SIMS[key] = ServedSimulator(entry["config"], entry.get("hf_id"), STACKS[stack_name], tp, f"registry {model}",
                                     moe=bool(arch.get("num_experts")), quant=FP8 if bits == "FP8" else None)
    return _SIMS[key]


def best_at_batch(sim: ServedSimulator, isl: int, osl: int, batch: int) -> Optional[dict]:
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


def summarize(frame: pd.DataFrame, by: List[str]) -> pd.DataFrame:
    rows = []
    for keys, g in frame.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        rows.append({**dict(zip(by, keys)), "rows": len(g), "median |err|": f"{np.median(np.abs(g['err'])):.1%}",
                     "signed": f"{np.median(g['err']):+.1%}", "p90 |err|": f"{np.percentile(np.abs(g['err']), 90):.1%}"})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sla", default="tpot=50ms,ttft=2s")
    parser.add_argument("--write", action="store_true", help=f"write the interval to {os.path.join(SERVED_DIR, ACCURACY_FILE)}")
    args = parser.parse_args(argv)
    sla: Sla = parse_sla(args.sla)
    started = time.time()
    measured = load_measured()
    print(f"{len(measured)} published rows from {measured['source_id'].nunique()} sources; SLA {sla}")

    at_sla, per_c, max_tp = [], [], []
    sweeps = measured[measured["kind"] == "concurrency_sweep"].copy()
    sweeps["isl"] = sweeps["prompt_tokens"].round(-1).astype(int)
    sweeps["osl"] = sweeps["output_tokens"].round().astype(int)
    for (model, stack_name, tp, bits, isl, osl, gpu), g in sweeps.groupby(
            ["registry_model", "stack_name", "tp", "bits", "isl", "osl", "gpu"], sort=True):
        sim = simulator(model, stack_name, int(tp), bits)
        cmax = int(g["concurrency"].max())
        grid_points = []
        for _, r in g.iterrows():
            point = best_at_batch(sim, isl, osl, int(r["concurrency"]))
            if point is None:
                continue
            grid_points.append(point)
            measured_gpu_s = r["num_gpus"] / r["request_s"]
            per_c.append({"stack": stack_name, "bits": bits, "model": model, "tp": tp, "isl": isl, "osl": osl,
                          "concurrency": int(r["concurrency"]), "err": point["gpu_s_per_request"] / measured_gpu_s - 1,
                          "ttft_err": point["ttft_ms"] / r["ttft_ms"] - 1, "tpot_err": point["tpot_ms"] / r["tpot_ms"] - 1})
        ok = g[(g["tpot_ms"] <= sla.tpot_ms) & (g["ttft_ms"] <= sla.ttft_s * 1000.0)]
        simulated = best_point(sim.sweep(isl, osl, max_batch_size=cmax), sla.ttft_s, sla.tpot_ms)
        on_grid = best_point(grid_points, sla.ttft_s, sla.tpot_ms)
        if ok.empty or simulated is None or on_grid is None:
            at_sla.append({"stack": stack_name, "bits": bits, "model": model, "tp": tp, "isl": isl, "osl": osl, "err": np.nan,
                           "note": "measured meets SLA" if not ok.empty else "no measured concurrency meets the SLA"})
            continue
        best = ok.loc[(ok["num_gpus"] / ok["request_s"]).idxmin()]
        measured_gpu_s = best["num_gpus"] / best["request_s"]
        at_sla.append({"stack": stack_name, "bits": bits, "model": model, "tp": tp, "isl": isl, "osl": osl,
                       "measured_c": int(best["concurrency"]), "simulated_b": simulated["batch_size"],
                       "measured_gpu_s": measured_gpu_s, "simulated_gpu_s": simulated["gpu_s_per_request"],
                       "err": simulated["gpu_s_per_request"] / measured_gpu_s - 1,
                       "grid_c": on_grid["batch_size"], "grid_gpu_s": on_grid["gpu_s_per_request"],
                       "grid_err": on_grid["gpu_s_per_request"] / measured_gpu_s - 1, "note": ""})

    overview = measured[measured["kind"] == "max_throughput"]
    for _, r in overview.iterrows():
        sim = simulator(r["registry_model"], r["stack_name"], int(r["tp"]), r["bits"])
        isl, osl = int(r["prompt_tokens"]), int(r["output_tokens"])
        simulated = best_point(sim.sweep(isl, osl, max_batch_size=1024), math.inf, math.inf)
        if simulated is None:
            continue
        measured_gpu_s = r["num_gpus"] / (r["output_tok_s"] / osl)
        max_tp.append({"stack": r["stack_name"], "bits": r["bits"], "model": r["registry_model"], "tp": r["tp"], "isl": isl, "osl": osl,
                       "err": simulated["gpu_s_per_request"] / measured_gpu_s - 1})

    pd.set_option("display.width", 200)
    sla_frame = pd.DataFrame(at_sla)
    placed = sla_frame.dropna(subset=["err"])
    print(f"\n== Throughput at the SLA ({sla}): GPU-s per request, simulated vs measured (one row per measured sweep) ==")
    print("(a) the table's view: the simulator's best at any batch size up to the sweep's largest concurrency")
    print(summarize(placed, ["stack", "bits"]).to_string(index=False))
    print("(b) like for like: the simulator restricted to the measured concurrency levels (the sweep's coarse grid)")
    print(summarize(placed.assign(err=placed["grid_err"]), ["stack", "bits"]).to_string(index=False))
    print(f"unplaced sweeps: {len(sla_frame) - len(placed)} ({'; '.join(sorted(set(sla_frame.loc[sla_frame['err'].isna(), 'note'])))})")
    print("\nper sweep (16-bit):")
    cols = ["stack", "model", "tp", "isl", "osl", "measured_c", "measured_gpu_s", "simulated_b", "simulated_gpu_s", "err", "grid_c", "grid_err"]
    print(placed[placed["bits"] == "16-bit"][cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    per_frame = pd.DataFrame(per_c)
    print("\n== Per measured concurrency: GPU-s per request at batch = concurrency ==")
    print(summarize(per_frame, ["stack", "bits"]).to_string(index=False))
    print("TTFT median |err| %.1f%% (signed %+.1f%%), TPOT median |err| %.1f%% (signed %+.1f%%) over %d rows" % (
        100 * np.median(np.abs(per_frame["ttft_err"])), 100 * np.median(per_frame["ttft_err"]),
        100 * np.median(np.abs(per_frame["tpot_err"])), 100 * np.median(per_frame["tpot_err"]), len(per_frame)))
    if max_tp:
        print("\n== Max throughput, no latency target (TensorRT-LLM perf overview) ==")
        print(summarize(pd.DataFrame(max_tp), ["stack", "bits"]).to_string(index=False))

    # the interval: measured / simulated at the SLA, like for like (b), 16-bit rows, per backend
    interval = {}
    sixteen = placed[placed["bits"] == "16-bit"]
    ratio = 1.0 / (1.0 + sixteen["grid_err"].to_numpy())
    if len(ratio) >= 5:
        lo, hi = (float(f"{np.percentile(ratio, q):.4g}") for q in (5, 95))
        src = (f"bench/served_accuracy.py: 5th-95th percentile of measured/simulated GPU-s per request at the SLA, simulator "
               f"restricted to the measured concurrency levels, over {len(ratio)} 16-bit NIM (TensorRT-LLM 2024) sweeps on A100/H100")
        interval["trtllm"] = {"lo": min(lo, 1.0), "hi": max(hi, 1.0), "n": int(len(ratio)), "source": src}
        interval["pooled"] = dict(interval["trtllm"], source=src + "; vLLM stacks borrow it (no published vLLM sweep gathered)")
        print(f"\ninterval (16-bit, at the SLA): served GPU-s x [{interval['trtllm']['lo']}, {interval['trtllm']['hi']}] (n = {len(ratio)})")

    # price sanity check
    print("\n== Price check: served cost per 1M output tokens (default table h100-trtllm, p = 512, o = 256) vs list prices ==")
    try:
        from helm_efficiency.tables.served import served_estimates

        for model, price, what, url in LIST_PRICES:
            est = served_estimates([model], np.array([512.0]), np.array([256.0]), "h100-trtllm", sla).iloc[0]
            per_m = est["served_cost_usd"] / (512 + 256) * 1e6
            print(f"  {model}: ours ${per_m:.3f} per 1M tokens (prompt+output, bf16, $4/GPU-h) vs ${price:.2f} ({what}; {url})"
                  if np.isfinite(per_m) else f"  {model}: not estimated ({est['served_reason']})")
    except Exception as e:  # table not built yet
        print(f"  skipped: {e}")

    if args.write:
        os.makedirs(SERVED_DIR, exist_ok=True)
        path = os.path.join(SERVED_DIR, ACCURACY_FILE)
        payload = {"sla": str(sla), "command": "python bench/served_accuracy.py --write", "interval": interval,
                   "summary_at_sla_any_batch": summarize(placed, ["stack", "bits"]).to_dict(orient="records"),
                   "summary_at_sla_measured_levels": summarize(placed.assign(err=placed["grid_err"]), ["stack", "bits"]).to_dict(orient="records")}
        with open(path, "w") as f:
            json.dump(payload, f, indent=1)
            f.write("\n")
        print(f"wrote {path}")
    print(f"\ndone in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
