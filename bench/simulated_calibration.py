"""Cheap calibration and transfer on a simulated modern stack, against the simulator's dense grid.

    python bench/simulated_calibration.py                       # h100-trtllm, 20 models
    python bench/simulated_calibration.py --stack a100-vllm --models 40

For each model of the shipped table (an even spread over sizes), AIConfigurator's dense grid
(14 prompt x 11 output lengths = 154 points, batch 1) is the truth. Three estimates of it are
compared, all from the 24 calibration points the shipped entry was fitted on:
  - ours: the calibrated CostEntry (cost model + the stack's learned prefill shape);
  - baseline: the paper's plain form, F(p) linearly interpolated between the calibration
    prompt lengths plus g·(o−1), g fitted per prompt length (measured in this same run);
  - transfer, leaving the model out: the TransferModel fitted on the stack's other models.
Prints per-model mean absolute % error, the median over models, the worst model, the 90%
interval coverage, and the ratio baseline ÷ ours.
"""

import argparse
import time

import numpy as np
import pandas as pd

from helm_efficiency.analytic.registry import load_registry
from helm_efficiency.analytic.transfer import transfer_from_entries
from helm_efficiency.pricing.estimate import load_tables
from helm_efficiency.sources.aiconfigurator import STACKS, tabulate

DENSE_PROMPTS = (1, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)
DENSE_OUTPUTS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def paper_baseline(calibration: pd.DataFrame, p: np.ndarray, o: np.ndarray) -> np.ndarray:
    """F(p) interpolated between calibration prompt lengths + g(p)·(o−1), g per prompt length."""
    knots, prefill, slope = [], [], []
    for q, rows in calibration.groupby("num_prompt_tokens"):
        fit = np.polyfit(rows["num_output_tokens"] - 1, rows["runtime_s"], 1)
        knots.append(q), slope.append(fit[0]), prefill.append(fit[1])
    return np.interp(p, knots, prefill) + np.interp(p, knots, slope) * (o - 1)


def spread(entries, n):
    """n entries spread evenly over the table's sizes (by GPU count, then name): deterministic."""
    ordered = sorted(entries, key=lambda e: (e.num_gpus or 1, e.model))
    index = np.unique(np.linspace(0, len(ordered) - 1, min(n, len(ordered))).round().astype(int))
    return [ordered[i] for i in index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="h100-trtllm", choices=sorted(STACKS))
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--no-transfer", action="store_true")
    args = parser.parse_args()
    started = time.time()
    table = load_tables([args.stack])[0]
    registry = load_registry()
    chosen = spread([e for e in table.entries if e.model in registry], args.models)
    rows = []
    for entry in chosen:
        reg = registry[entry.model]
        truth = tabulate(reg["config"], entry.model, STACKS[args.stack], DENSE_PROMPTS, DENSE_OUTPUTS,
                         tensor_parallel=entry.num_gpus, hf_id=reg.get("hf_id"), source=entry.model)
        p, o, t = truth["num_prompt_tokens"].to_numpy(float), truth["num_output_tokens"].to_numpy(float), truth["runtime_s"].to_numpy()
        ours = entry.predict(p, o)
        baseline = paper_baseline(entry.measurements, p, o)
        row = {"model": entry.model, "tp": entry.num_gpus,
               "ours_%": 100 * np.mean(np.abs(ours["runtime_s"].to_numpy() / t - 1)),
               "covered_%": 100 * np.mean((ours["runtime_lo_s"].to_numpy() <= t) & (t <= ours["runtime_hi_s"].to_numpy())),
               "paper_form_%": 100 * np.mean(np.abs(baseline / t - 1))}
        if not args.no_transfer:
            pool = [e for e in table.entries if e.model != entry.model]
            model = transfer_from_entries(pool, args.stack)
            arch = dict(entry.architecture, tensor_parallel=entry.num_gpus)
            guess = model.predict(arch, p, o)
            row["transfer_loo_%"] = 100 * np.mean(np.abs(guess["runtime_s"].to_numpy() / t - 1))
            row["transfer_covered_%"] = 100 * np.mean((guess["runtime_lo_s"].to_numpy() <= t) & (t <= guess["runtime_hi_s"].to_numpy()))
        rows.append(row)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    df = pd.DataFrame(rows)
    print(f"\n{args.stack}: {len(df)} models x {len(DENSE_PROMPTS) * len(DENSE_OUTPUTS)} dense points, calibrated from 24 points each")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\nmedian over models: ours {df['ours_%'].median():.2f}% (worst {df['ours_%'].max():.2f}%), "
          f"paper form {df['paper_form_%'].median():.2f}% (ratio paper/ours {df['paper_form_%'].median() / df['ours_%'].median():.1f}x), "
          f"90% intervals cover {df['covered_%'].mean():.0f}%")
    if "transfer_loo_%" in df:
        print(f"transfer, leaving each model out: median {df['transfer_loo_%'].median():.2f}% (worst {df['transfer_loo_%'].max():.2f}%), "
              f"intervals cover {df['transfer_covered_%'].mean():.0f}%")
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
