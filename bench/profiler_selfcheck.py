"""The profiler against itself: calibrate on a 5×3 sub-grid, predict a denser grid profiled in
the same run, and report MAPE (CPU target ≤ 3%), plus repeat-noise (std/mean) of the points.

    python bench/profiler_selfcheck.py [--arch he-tiny] [--repeats 5]
"""

import argparse

import numpy as np

from helm_efficiency.costmodel.estimator import RuntimeModel
from helm_efficiency.profiling.profile_cmd import profile

PROMPTS = (1, 64, 128, 192, 256, 384, 512, 768, 1024)
OUTPUTS = (1, 4, 8, 16, 32)
CAL_P, CAL_O = (1, 128, 256, 512, 1024), (1, 8, 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="he-tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    df = profile(None, args.arch, device=args.device, dtype="fp32" if args.device == "cpu" else "bf16", prompts=PROMPTS, outputs=OUTPUTS,
                 repeats=args.repeats, warmup=2, hardware=args.device)
    cal = df[df["num_prompt_tokens"].isin(CAL_P) & df["num_output_tokens"].isin(CAL_O)]
    test = df.drop(cal.index)
    model = RuntimeModel().fit(cal)
    pred = model.predict(test["num_prompt_tokens"], test["num_output_tokens"])
    errors = np.abs(pred["runtime_s"].to_numpy() / test["runtime_s"].to_numpy() - 1) * 100
    inside = (test["runtime_s"].to_numpy() >= pred["runtime_lo_s"].to_numpy()) & (test["runtime_s"].to_numpy() <= pred["runtime_hi_s"].to_numpy())
    noise = (df["runtime_std_s"] / df["runtime_s"]) * 100
    print(f"{args.arch} on {args.device}: calibrated on {len(cal)} points (form {model.form_}), predicted {len(test)} others")
    print(f"MAPE {errors.mean():.2f}%  median APE {np.median(errors):.2f}%  p90 APE {np.percentile(errors, 90):.2f}%  "
          f"90% interval coverage {inside.mean() * 100:.0f}%")
    print(f"repeat std/mean: median {noise.median():.1f}%, max {noise.max():.1f}%, points under 5%: {(noise < 5).mean() * 100:.0f}%")


if __name__ == "__main__":
    main()
