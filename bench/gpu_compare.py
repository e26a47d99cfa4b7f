"""Summarize profiles taken by bench/gpu_bench.sh into one JSON: eager vs optimized torch, against
our simulated reference stack for the same GPU, and measured energy against our power assumptions.

    python bench/gpu_compare.py PROFILE.csv [...] --json bench/data/gpu/RUN.json [--table h100-trtllm]

Per (model, stack): time to first token at each profiled prompt length (runtime at o = 1), ms
per output token (the decode slope at the longest prompt), and the ratio measured / estimate at
every profiled point against `--table` (default: h200-trtllm on an H200, else h100-trtllm).
With an energy_j column (NVML), the measured joules per request and the average power they
imply, next to the table's estimate of the same requests' energy.
"""

import argparse
import json
import os
import platform
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from helm_efficiency.pricing.estimate import estimate_idealized, load_tables


def default_table(hardware: str) -> str:
    return "h200-trtllm" if "H200" in hardware.upper() else "h100-trtllm"


def summarize(profile: pd.DataFrame, table: str) -> dict:
    model, software = profile["model"].iloc[0], profile["software"].iloc[0]
    stack = "optimized" if "static KV cache" in software else "eager"
    first = profile[profile["num_output_tokens"] == profile["num_output_tokens"].min()].sort_values("num_prompt_tokens")
    longest = profile[profile["num_prompt_tokens"] == profile["num_prompt_tokens"].max()].sort_values("num_output_tokens")
    tpot = float(np.polyfit(longest["num_output_tokens"] - 1, longest["runtime_s"], 1)[0]) if len(longest) > 1 else None
    estimates = estimate_idealized(profile[["model", "num_prompt_tokens", "num_output_tokens"]], load_tables([table]), name_columns=("model",))
    ratio = profile["runtime_s"].to_numpy() / estimates["idealized_runtime_s"].to_numpy()
    out = {
        "model": model, "stack": stack, "software": software, "hardware": profile["hardware"].iloc[0], "points": int(len(profile)),
        "ttft_s": {int(p): float(t) for p, t in zip(first["num_prompt_tokens"], first["runtime_s"])},
        "ms_per_output_token": None if tpot is None else 1000 * tpot,
        "reference_table": table,
        "reference_method": estimates["method"].iloc[0],
        "measured_over_reference": {"median": float(np.nanmedian(ratio)), "min": float(np.nanmin(ratio)), "max": float(np.nanmax(ratio))}
        if np.isfinite(ratio).any() else None,
        "points_detail": [
            {"p": int(p), "o": int(o), "runtime_s": float(t), "reference_s": None if np.isnan(e) else float(e)}
            for p, o, t, e in zip(profile["num_prompt_tokens"], profile["num_output_tokens"], profile["runtime_s"], estimates["idealized_runtime_s"])
        ],
    }
    if "energy_j" in profile and profile["energy_j"].notna().any():
        power = profile["energy_j"] / profile["runtime_s"]
        out["energy"] = {
            "joules_per_request": {f"{int(p)}x{int(o)}": float(e) for p, o, e in zip(profile["num_prompt_tokens"], profile["num_output_tokens"], profile["energy_j"])},
            "average_power_w": {"median": float(power.median()), "min": float(power.min()), "max": float(power.max())},
            "reference_energy_over_measured": float(np.nanmedian(estimates["idealized_energy_j"].to_numpy() / profile["energy_j"].to_numpy())),
            "resolution": "NVML total-energy counter differenced over back-to-back requests spanning >= 2 s",
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+")
    parser.add_argument("--json", required=True)
    parser.add_argument("--table", help="reference table to compare with (default: by GPU)")
    parser.add_argument("--extra", action="append", default=[], help="NAME=FILE: attach another result file's text (e.g. the contention bench)")
    args = parser.parse_args()
    profiles = [pd.read_csv(p) for p in args.profiles]
    hardware = profiles[0]["hardware"].iloc[0]
    table = args.table or default_table(hardware)
    result = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": hardware,
        "host": platform.node(),
        "versions": {name: __import__(name).__version__ for name in ("torch", "transformers", "pandas", "numpy")},
        "runs": [summarize(p, table) for p in profiles],
        "extra": {name: open(path).read() for name, path in (e.split("=", 1) for e in args.extra) if os.path.exists(path)},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    for run in result["runs"]:
        ratio = run["measured_over_reference"]
        print(f"{run['model']:28s} {run['stack']:9s} ms/token {run['ms_per_output_token'] or float('nan'):8.2f}  "
              f"measured/{table} median {ratio['median'] if ratio else float('nan'):.2f}"
              + (f"  avg power {run['energy']['average_power_w']['median']:.0f} W" if "energy" in run else ""))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
