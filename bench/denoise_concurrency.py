"""Denoised runtime under HELM's default 4 threads, against a 1-thread run of the same suite.

    python bench/denoise_concurrency.py [--instances 30] [--threads 4]

Runs the real `helm-run` twice on a random-weight local model (he-tiny, built from its config,
served by HELM's local Hugging Face client, `efficiency=cpu`), once with --num-threads 1 and
once with --threads, each on a fresh request cache. Prints, for each run, raw and denoised
runtime means and the measured concurrency, and the denoised runtime of the threaded run
without the contention correction (the same requests, denoised as if served remotely).
Target (issue #19): the threaded run's denoised runtime within 15% of the 1-thread run's.
"""

import argparse
import glob
import json
import os
import subprocess
import tempfile

from helm_efficiency.denoise.requests import denoise_requests
from helm_efficiency.profiling.profile_cmd import demo_model_configs
from helm_efficiency.profiling.random_model import save_random_model
from helm_efficiency.rescore import read_run


def run_suite(work: str, threads: int, instances: int) -> str:
    suite = f"threads{threads}"
    entry = "synthetic_reasoning:mode=pattern_match,model=huggingface/he-tiny,efficiency=cpu"
    subprocess.run(["helm-run", "--run-entries", entry, "--suite", suite, "--max-eval-instances", str(instances),
                    "--output-path", os.path.join(work, "out"), "--local-path", os.path.join(work, f"prod_env_{threads}"),
                    "--num-threads", str(threads), "--enable-local-huggingface-models", os.path.join(work, "he-tiny")],
                   check=True, capture_output=True, cwd=work)
    [run] = glob.glob(os.path.join(work, "out", "runs", suite, "synthetic_reasoning*"))
    return run


def test_split_stats(run: str) -> dict:
    with open(os.path.join(run, "stats.json")) as f:
        stats = json.load(f)
    # A stat with no value is written with count 0 and no mean (HELM's own convention): left out.
    return {s["name"]["name"]: s["mean"] for s in stats
            if s["name"].get("split") == "test" and "perturbation" not in s["name"] and s["name"]["name"].startswith("efficiency_")
            and s.get("count", 0) > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        save_random_model(demo_model_configs()["he-tiny"], os.path.join(work, "he-tiny"))
        rows = {}
        for threads in (1, args.threads):
            run = run_suite(work, threads, args.instances)
            stats = test_split_stats(run)
            requests = read_run(run).requests.assign(serving="remote")
            uncorrected, _ = denoise_requests(requests)
            test = uncorrected["split"].fillna("test") == "test"
            rows[threads] = (stats.get("efficiency_raw_runtime_s"), stats.get("efficiency_denoised_runtime_s"),
                             float(uncorrected.loc[test, "denoised_runtime_s"].mean()), stats.get("efficiency_concurrency"))
    print(f"{'threads':>7} {'raw (s)':>9} {'denoised (s)':>13} {'uncorrected (s)':>16} {'concurrency':>12}")
    for threads, (raw, denoised, uncorrected, concurrency) in rows.items():
        print(f"{threads:>7} {raw:9.4f} {denoised:13.4f} {uncorrected:16.4f} {concurrency if concurrency is not None else float('nan'):12.2f}")
    base = rows[1][1]
    print(f"\n{args.threads} threads vs 1: denoised {rows[args.threads][1] / base:.2f}x (target within 15%: "
          f"{'met' if abs(rows[args.threads][1] / base - 1) <= 0.15 else 'NOT met'}), uncorrected {rows[args.threads][2] / base:.2f}x")


if __name__ == "__main__":
    main()
