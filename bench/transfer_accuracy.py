"""Zero-shot (architecture-only) runtime on the public Megatron-LM profiles, leave one model out.

For each hardware (A100, V100) and each profiled model: fit on the *other* models of that
hardware, predict the held-out model's whole (p, o) grid from its architecture alone, and
report MAPE of
  - roofline:  the pure roofline time (analytic/roofline.py), no fitting at all
  - flops_nn:  FLOP-proportional scaling of the nearest profiled model (by parameter count)
  - regression: our TransferModel's shared roofline-feature regression alone
  - transfer:  our TransferModel (regression × kriged residuals of profiled neighbours)
plus the empirical coverage of the transfer model's 90% intervals. Held out means held out
on every hardware, so the V100 prediction of a model never sees its A100 profile. Data:
github.com/stanford-crfm/helm-efficiency (logs/).

    python bench/transfer_accuracy.py --profiles tests/data/reference_profiles
"""

import argparse
import glob
import os

import numpy as np
import pandas as pd

from helm_efficiency.analytic.flops import decode_flops, parameter_count, prefill_flops
from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.roofline import request_time_s
from helm_efficiency.analytic.transfer import LENGTH_SCALE, NUGGET, TransferModel
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.costmodel.measurements import architecture_of
from helm_efficiency.sources.megatron import import_megatron_logs


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


def evaluate(measurements: pd.DataFrame, length_scale: float = LENGTH_SCALE, nugget: float = NUGGET) -> pd.DataFrame:
    """One row per (hardware, model). Strictly leave-one-model-out: the held-out model's
    profiles on *every* hardware are removed before calibrating the training entries."""
    rows = []
    for held_out in sorted(measurements["model"].unique()):
        train = measurements[measurements["model"] != held_out]
        entries = calibrate_table(train, "train", source="bench").entries
        for hardware, target in measurements[measurements["model"] == held_out].groupby("hardware", sort=True):
            hw = hardware_spec(hardware)
            arch = architecture_of(target)
            p, o = target["num_prompt_tokens"].to_numpy(), target["num_output_tokens"].to_numpy()
            model = TransferModel(hardware, length_scale=length_scale, nugget=nugget).fit(entries)
            transfer = model.predict(arch, p, o)
            truth = target["runtime_s"].to_numpy()
            others = [(m, architecture_of(g), g) for m, g in train[train["hardware"] == hardware].groupby("model", sort=True)]
            roof = np.array([request_time_s(arch, hw, pi, oi) for pi, oi in zip(p, o)])
            inside = (truth >= transfer["runtime_lo_s"]) & (truth <= transfer["runtime_hi_s"])
            rows.append(
                {
                    "hardware": hardware,
                    "model": held_out,
                    "params_b": parameter_count(arch) / 1e9,
                    "tp": arch.get("tensor_parallel", 1),
                    "roofline": mape(roof, truth),
                    "flops_nn": mape(flops_nearest(arch, target, others), truth),
                    "regression": mape(model.regression(arch, hardware, p, o), truth),
                    "transfer": mape(transfer["runtime_s"].to_numpy(), truth),
                    "coverage90": float(inside.mean() * 100),
                    "extrapolated": bool(transfer["extrapolated"].iloc[0]),
                }
            )
    return pd.DataFrame(rows).sort_values(["hardware", "model"]).reset_index(drop=True)


def wins(table: pd.DataFrame) -> int:
    return int(((table["transfer"] < table["roofline"]) & (table["transfer"] < table["flops_nn"])).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "reference_profiles"))
    parser.add_argument("--sensitivity", action="store_true", help="also sweep the neighbour kernel's length scale and nugget")
    args = parser.parse_args()
    measurements = import_megatron_logs(sorted(glob.glob(os.path.join(args.profiles, "*", "*.log"))))
    table = evaluate(measurements)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    for hw, g in table.groupby("hardware"):
        med = g[["roofline", "flops_nn", "regression", "transfer", "coverage90"]].median()
        print(f"{hw}: median MAPE %  roofline {med.roofline:.1f}  flops_nn {med.flops_nn:.1f}  regression {med.regression:.1f}"
              f"  transfer {med.transfer:.1f}  | transfer/flops_nn {med.transfer / med.flops_nn:.2f}x"
              f" | transfer beats both on {wins(g)}/{len(g)} models  | median 90% coverage {med.coverage90:.0f}%")
    print(f"all: transfer beats both baselines on {wins(table)}/{len(table)} (hardware, model) pairs")
    if args.sensitivity:
        print("\nkernel sensitivity (length scale, nugget): median transfer MAPE %, wins")
        for length_scale in (0.5, 1.0, 2.0):
            for nugget in (0.01, 0.05, 0.2):
                t = evaluate(measurements, length_scale, nugget)
                print(f"  {length_scale:.1f} {nugget:.2f}: " + "  ".join(
                    f"{hw} {g['transfer'].median():.2f}% {wins(g)}/{len(g)}" for hw, g in t.groupby("hardware")))


if __name__ == "__main__":
    main()
