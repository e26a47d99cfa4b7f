"""Cost-model accuracy on the public Megatron-LM profiles (github.com/stanford-crfm/helm-efficiency).

For each (hardware, model) profile: calibrate on the 15 points p ∈ {1, 256, 512, 1024, 1536}
× o ∈ {1, 8, 64} (those present), predict every other profiled point, and report the MAPE of
  - helm_rule:   HELM's step-and-rescale rule on F(p) knots + g fitted to the calibration points
  - interp:      the same knots and g, F linearly interpolated
  - flops:       runtime ∝ FLOPs(p, o) (2·params·tokens + attention), scale fitted on the same points
  - cv:          RuntimeModel(form="cv"): the form chosen by cross-validation on the 15 points
                 (the default until the sixth session), same prefill shape as ours
  - ours:        RuntimeModel(form="auto") with the hardware's prefill shape learned from the
                 *other* models' profiles, leaving the model out on both GPUs (its A100 profile
                 never informs its V100 estimate, nor the reverse)
plus the empirical coverage of our 90% prediction intervals. All in one run.

    python bench/costmodel_accuracy.py --profiles tests/data/reference_profiles --png bench/out/costmodel_accuracy.png
"""

import argparse
import glob
import os

import numpy as np
import pandas as pd
import statsmodels.api as sm

from helm_efficiency.analytic.flops import decode_flops, prefill_flops
from helm_efficiency.costmodel.estimator import RuntimeModel, learn_prefill_shape
from helm_efficiency.costmodel.forms import knot_weights
from helm_efficiency.costmodel.measurements import architecture_of
from helm_efficiency.sources.megatron import import_megatron_logs

CAL_P = (1, 256, 512, 1024, 1536)
CAL_O = (1, 8, 64)


def knots_and_g(cal: pd.DataFrame):
    """The paper's regression: T = F(p_k) (one per profiled prompt length) + g·(o−1)."""
    knots = np.sort(cal["num_prompt_tokens"].unique())
    x = np.hstack([knot_weights(cal["num_prompt_tokens"], knots), (cal["num_output_tokens"] - 1).to_numpy()[:, None]])
    params = sm.OLS(cal["runtime_s"].to_numpy(), x).fit().params
    return knots, params[:-1], params[-1]


def helm_rule(knots, f, g, p, o):
    """HELM's rule: F(p) = F(k)·p/k for the smallest profiled k ≥ p (beyond the largest k, scale it)."""
    idx = np.minimum(np.searchsorted(knots, p), len(knots) - 1)
    return f[idx] * p / knots[idx] + g * np.maximum(o - 1, 0)


def interp_rule(knots, f, g, p, o):
    return np.interp(p, knots, f) + g * np.maximum(o - 1, 0)


def total_flops(arch, p, o):
    return np.array([prefill_flops(arch, int(pi)) + sum(decode_flops(arch, int(pi) + i) for i in range(int(oi) - 1)) for pi, oi in zip(p, o)])


def mape(pred, truth):
    return float(np.mean(np.abs(pred / truth - 1)) * 100)


def evaluate(measurements: pd.DataFrame) -> pd.DataFrame:
    rows, points = [], []
    for (hardware, model), g in measurements.groupby(["hardware", "model"], sort=True):
        cal = g[g["num_prompt_tokens"].isin(CAL_P) & g["num_output_tokens"].isin(CAL_O)]
        test = g.drop(cal.index)
        p, o, t = (test[c].to_numpy(float) for c in ("num_prompt_tokens", "num_output_tokens", "runtime_s"))
        knots, f, slope = knots_and_g(cal)
        arch = architecture_of(g)
        scale = np.linalg.lstsq(total_flops(arch, cal["num_prompt_tokens"], cal["num_output_tokens"])[:, None], cal["runtime_s"].to_numpy(), rcond=None)[0][0]
        # Leave the model out on every GPU: only other models' profiles shape its prefill curve.
        shape = learn_prefill_shape(measurements[measurements["hardware"] == hardware], exclude_models=[model])
        ours = RuntimeModel(prefill_shape=shape).fit(cal)
        cv = RuntimeModel(form="cv", prefill_shape=shape).fit(cal)
        pred = ours.predict(p, o)
        inside = (t >= pred["runtime_lo_s"]) & (t <= pred["runtime_hi_s"])
        rows.append(
            {
                "hardware": hardware,
                "model": model,
                "n_cal": len(cal),
                "n_test": len(test),
                "helm_rule": mape(helm_rule(knots, f, slope, p, o), t),
                "interp": mape(interp_rule(knots, f, slope, p, o), t),
                "flops": mape(scale * total_flops(arch, p, o), t),
                "cv": mape(cv.predict(p, o)["runtime_s"].to_numpy(), t),
                "ours": mape(pred["runtime_s"].to_numpy(), t),
                "ours_form": ours.form_,
                "coverage90": float(inside.mean() * 100),
            }
        )
        points.append(pd.DataFrame({"hardware": hardware, "model": model, "measured": t, "predicted": pred["runtime_s"]}))
    return pd.DataFrame(rows), pd.concat(points, ignore_index=True)


def plot(points: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hardware = sorted(points["hardware"].unique())
    fig, axes = plt.subplots(1, len(hardware), figsize=(6 * len(hardware), 5.5), squeeze=False)
    for ax, hw in zip(axes[0], hardware):
        sub = points[points["hardware"] == hw]
        for model, g in sub.groupby("model"):
            ax.scatter(g["measured"], g["predicted"], s=10, label=model, alpha=0.7)
        lo, hi = sub[["measured", "predicted"]].min().min(), sub[["measured", "predicted"]].max().max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        ax.set(xscale="log", yscale="log", xlabel="measured runtime (s)", ylabel="predicted runtime (s)",
               title=f"{hw.upper()}: held-out points (calibrated on the p×o points present of 5×3)")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("helm-efficiency cost model vs Megatron-LM profiles (github.com/stanford-crfm/helm-efficiency)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "reference_profiles"))
    parser.add_argument("--png", default=os.path.join(os.path.dirname(__file__), "out", "costmodel_accuracy.png"))
    args = parser.parse_args()
    logs = sorted(glob.glob(os.path.join(args.profiles, "*", "*.log")))
    table, points = evaluate(import_megatron_logs(logs))
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print()
    for hw, g in table.groupby("hardware"):
        med = g[["helm_rule", "interp", "flops", "cv", "ours", "coverage90"]].median()
        beats = int(((g["ours"] < g["helm_rule"]) & (g["ours"] < g["interp"])).sum())
        print(f"{hw}: median MAPE %  helm_rule {med.helm_rule:.2f}  interp {med.interp:.2f}  flops {med.flops:.2f}  cv {med.cv:.2f}  ours {med.ours:.2f}"
              f"  | ours/helm_rule {med.ours / med.helm_rule:.2f}x  | beats both baselines on {beats}/{len(g)} models"
              f"  | median 90% coverage {med.coverage90:.0f}%")
    print(f"all: median MAPE ours {table['ours'].median():.2f}% (cv {table['cv'].median():.2f}%), "
          f"pooled 90% coverage {np.average(table['coverage90'], weights=table['n_test']):.1f}% over {table['n_test'].sum()} held-out points")
    plot(points, args.png)
    print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
