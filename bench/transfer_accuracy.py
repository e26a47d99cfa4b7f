"""Zero-shot (architecture-only) runtime on the public Megatron-LM profiles, leave one model out.

For each hardware (A100, V100) and each profiled model: fit on the *other* models of that
hardware, predict the held-out model's whole (p, o) grid from its architecture alone, and
report MAPE of
  - roofline:  the pure roofline time (analytic/roofline.py), no fitting at all
  - flops_nn:  FLOP-proportional scaling of the nearest profiled model (by parameter count)
  - transfer:  our TransferModel (statsmodels WLS on roofline features)
plus the empirical coverage of the transfer model's 90% intervals. Data:
github.com/stanford-crfm/helm-efficiency (logs/).

    python bench/transfer_accuracy.py --profiles ../shared/data/reference_profiles
"""

import argparse
import glob
import os

import numpy as np
import pandas as pd

from helm_efficiency.analytic.flops import decode_flops, parameter_count, prefill_flops
from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.roofline import request_time_s
from helm_efficiency.analytic.transfer import TransferModel
from helm_efficiency.measurements import architecture_of
from helm_efficiency.tables.megatron import import_megatron_logs


def request_flops(arch, p, o):
    return prefill_flops(arch, int(p)) + sum(decode_flops(arch, int(p) + i) for i in range(1, int(o)))


def flops_nearest(target_arch, target, others):
    """Scale the runtime of the profiled model nearest in parameter count by the FLOP ratio."""
    n = parameter_count(target_arch)
    ranked = sorted(others, key=lambda m: abs(np.log(parameter_count(m[1]) / n)))
    out = []
    for p, o in zip(target["num_prompt_tokens"], target["num_output_tokens"]):
        for _, arch, rows in ranked:
            hit = rows[(rows["num_prompt_tokens"] == p) & (rows["num_output_tokens"] == o)]
            if len(hit):
                out.append(hit["runtime_s"].iloc[0] * request_flops(target_arch, p, o) / request_flops(arch, p, o))
                break
        else:
            out.append(np.nan)
    return np.array(out)


def mape(pred, truth):
    ok = np.isfinite(pred)
    return float(np.mean(np.abs(pred[ok] / truth[ok] - 1)) * 100)


def evaluate(measurements: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for hardware, stack in measurements.groupby("hardware", sort=True):
        hw = hardware_spec(hardware)
        models = {m: (m, architecture_of(g), g) for m, g in stack.groupby("model", sort=True)}
        for model, (_, arch, target) in models.items():
            others = [v for k, v in models.items() if k != model]
            train = stack[stack["model"] != model]
            transfer = TransferModel().fit(train).predict(arch, target["num_prompt_tokens"], target["num_output_tokens"])
            truth = target["runtime_s"].to_numpy()
            roof = np.array([request_time_s(arch, hw, p, o) for p, o in zip(target["num_prompt_tokens"], target["num_output_tokens"])])
            inside = (truth >= transfer["runtime_lo_s"]) & (truth <= transfer["runtime_hi_s"])
            rows.append(
                {
                    "hardware": hardware,
                    "model": model,
                    "params_b": parameter_count(arch) / 1e9,
                    "tp": arch.get("tensor_parallel", 1),
                    "roofline": mape(roof, truth),
                    "flops_nn": mape(flops_nearest(arch, target, others), truth),
                    "transfer": mape(transfer["runtime_s"].to_numpy(), truth),
                    "coverage90": float(inside.mean() * 100),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "reference_profiles"))
    args = parser.parse_args()
    table = evaluate(import_megatron_logs(sorted(glob.glob(os.path.join(args.profiles, "*", "*.log")))))
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    for hw, g in table.groupby("hardware"):
        med = g[["roofline", "flops_nn", "transfer", "coverage90"]].median()
        wins = int(((g["transfer"] < g["roofline"]) & (g["transfer"] < g["flops_nn"])).sum())
        print(f"{hw}: median MAPE %  roofline {med.roofline:.1f}  flops_nn {med.flops_nn:.1f}  transfer {med.transfer:.1f}"
              f"  | transfer/flops_nn {med.transfer / med.flops_nn:.2f}x | transfer beats both on {wins}/{len(g)} models"
              f"  | median 90% coverage {med.coverage90:.0f}%")


if __name__ == "__main__":
    main()
