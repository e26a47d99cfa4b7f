"""Would disaggregated prefill/decode serve a request cheaper than the served tables' aggregated points?

    python bench/served_disaggregated.py                       # three stacks, four models, six shapes, two targets
    python bench/served_disaggregated.py --stacks h100-trtllm --models meta/llama-3.1-8b

The served tables store aggregated (in-flight batching) operating points only. This bench prices
the same requests disaggregated, from the simulator's own prefill-only (`static_ctx`) and
decode-only (`static_gen`) runs at the placements the tables try (base, 2x and 4x the batch-1
GPUs within a node):

    disaggregated GPU-s per request = p / prefill tokens/s per GPU + o / decode tokens/s per GPU

each side the cheapest that meets its own latency: a prefill worker at batch 1–8 (its TTFT is
that batch's latency) and a decode worker at batch 1–512 whose KV cache (p + o tokens per
request) fits, both through the served correction at their batch (`correct_points`), as the
tables' points are. Some assumptions favour disaggregation: prefill and decode workers in any
ratio (no rounding to whole workers), KV-cache transfer free, no queue before a prefill batch.
One has an unknown sign: the correction's TTFT and TPOT ratios were fitted on aggregated rows,
where prefill interferes with decode. The prefill and decode points are built as the tables'
stored points (`STORED_FIELDS`), with the other side's latency and rate set to a placeholder
(1.0) that nothing prices. `correct_points` scales a prefill point's GPU time by the TTFT ratio
alone (one output token) and a decode point's by about the TPOT ratio alone (its placeholder
1 ms TTFT weighs under 0.2% against o − 1 steps).
The aggregated price is the shipped table's at the same stored shape (`served_estimates`).

Prints, per stack and target, the median and range of disaggregated / aggregated GPU-s per
request; below 1 means disaggregation would serve cheaper.
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STACKS = ("h100-trtllm", "h100-vllm", "b200-vllm")
MODELS = ("meta/llama-3.1-8b", "qwen/qwen2.5-7b", "meta/llama-3.1-70b", "qwen/qwen2.5-32b")
SHAPES = ((512, 256), (2048, 256), (8192, 256), (512, 2048), (2048, 2048), (8192, 2048))
PREFILL_BATCHES = (1, 2, 4, 8)
DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def side_points(sim, p: int, o: int):
    """(prefill points, decode points) of one placement at shape (p, o), as stored-point dicts."""
    from aiconfigurator_core.sdk.config import RuntimeConfig

    prefill, decode = [], []
    for b in PREFILL_BATCHES:
        s = sim.backend.run_static(sim.model, sim.database, RuntimeConfig(isl=p, osl=1, batch_size=b, ttft=math.inf, tpot=math.inf), mode="static_ctx")
        ms = float(s.get_result_dict()["ttft"])
        if not s.check_oom() and ms > 0:
            prefill.append({"tp": sim.tp, "pp": sim.pp, "ep": sim.expert_parallel, "batch_size": b, "ctx_tokens": b * p, "ttft_ms": ms,
                            "tpot_ms": 1.0, "prefill_tok_s_per_gpu": b * p / (ms / 1e3) / (sim.tp * sim.pp), "decode_tok_s_per_gpu": 1.0,
                            "num_output_tokens": 1})  # the correction's latency factor: TTFT alone
    for b in DECODE_BATCHES:
        ms = sim.decode_step_ms(p, o, b)
        if ms is None:
            break
        if ms > 0:
            decode.append({"tp": sim.tp, "pp": sim.pp, "ep": sim.expert_parallel, "batch_size": b, "ctx_tokens": b, "ttft_ms": 1.0,
                           "tpot_ms": ms, "prefill_tok_s_per_gpu": 1.0, "decode_tok_s_per_gpu": b / (ms / 1e3) / (sim.tp * sim.pp),
                           "num_output_tokens": o})  # about the TPOT ratio alone (its 1 ms TTFT is a placeholder)
    return prefill, decode


def disaggregated_gpu_s(prefill, decode, p: int, o: int, ttft_s: float, tpot_ms: float) -> float:
    """The cheapest prefill side meeting TTFT plus the cheapest decode side meeting TPOT (NaN if either has none)."""
    pre = [p / q["prefill_tok_s_per_gpu"] for q in prefill if q["ttft_ms"] <= ttft_s * 1e3]
    dec = [o / q["decode_tok_s_per_gpu"] for q in decode if q["tpot_ms"] <= tpot_ms]
    return min(pre) + min(dec) if pre and dec else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", nargs="+", default=list(STACKS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.analytic.hardware import require_hardware_spec
    from helm_efficiency.analytic.registry import load_registry
    from helm_efficiency.analytic.transfer import tensor_parallel_for
    from helm_efficiency.sources.aiconfigurator import STACKS as REFERENCES
    from helm_efficiency.sources.served import ServedSimulator, placements
    from helm_efficiency.sources.served_correction import correct_points
    from helm_efficiency.tables.served import DEFAULT_SLA, Sla, num_layers, served_estimates

    targets = {"default (tpot 50 ms, ttft 2 s)": DEFAULT_SLA, "tight (tpot 20 ms, ttft 0.5 s)": Sla(tpot_ms=20.0, ttft_s=0.5)}
    registry = load_registry()
    rows, last = [], time.monotonic()
    for stack in args.stacks:
        reference = REFERENCES[stack]
        for key in args.models:
            entry = registry[key]
            arch = architecture_from_config(entry["config"], f"registry {key}")
            base = int(tensor_parallel_for(arch, require_hardware_spec(reference.hardware)))
            sides = {shape: ([], []) for shape in SHAPES}
            for tp, pp in placements(base):
                try:
                    sim = ServedSimulator(entry["config"], entry.get("hf_id"), reference, tp, f"registry {key}", pipeline_parallel=pp)
                except Exception as e:  # the simulator refusing a layout
                    print(f"  {stack} {key} tp{tp}pp{pp}: not modelled ({str(e).splitlines()[0][:120]})")
                    continue
                try:
                    for p, o in SHAPES:
                        pre, dec = side_points(sim, p, o)
                        sides[(p, o)][0].extend(correct_points(stack, key, pre, layers=num_layers(key)))
                        sides[(p, o)][1].extend(correct_points(stack, key, dec, layers=num_layers(key)))
                finally:
                    sim.close()
            for (p, o), (pre, dec) in sides.items():
                for name, sla in targets.items():
                    agg = float(served_estimates([key], [p], [o], stack=stack, sla=sla)["served_gpu_s"].iloc[0])
                    dis = disaggregated_gpu_s(pre, dec, p, o, sla.ttft_s, sla.tpot_ms)
                    rows.append({"stack": stack, "model": key, "p": p, "o": o, "target": name, "aggregated_gpu_s": agg,
                                 "disaggregated_gpu_s": dis, "ratio": dis / agg})
            if time.monotonic() - last > 20:
                print(f"  ... {stack} {key} done", flush=True)
                last = time.monotonic()
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nper request, disaggregated / aggregated GPU-s (below 1: disaggregation serves cheaper), shapes "
          + ", ".join(f"{p}x{o}" for p, o in SHAPES))
    both = frame.dropna(subset=["ratio"])
    summary = both.groupby(["target", "stack"]).agg(
        shapes=("ratio", "size"), median=("ratio", "median"), min=("ratio", "min"), max=("ratio", "max"),
        share_cheaper_by_15pct=("ratio", lambda r: float(np.mean(r < 0.85))))
    print(summary.to_string(float_format=lambda v: f"{v:.2f}"))
    only = frame[frame["aggregated_gpu_s"].isna() & frame["disaggregated_gpu_s"].notna()]
    print(f"\nrequests only disaggregation can serve at its target: {len(only)} of {len(frame)}")
    print("\nby model and shape (tight target):")
    tight = frame[frame["target"].str.startswith("tight")].pivot_table(index=["stack", "model"], columns=["p", "o"], values="ratio")
    print(tight.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
