"""`helm-efficiency demo`: a real, offline `helm-run` with the plugin, then a short table.

Two random-weight GPT-2-shaped models (built from configs, saved under
OUTPUT_PATH/demo_models and registered in prod_env/, served by HELM's local Hugging Face client) and HELM's `simple/model1` answer `synthetic_reasoning`
and `simple1`. Idealized runtime comes from the shipped CPU reference table, which was
profiled on a CPU with `helm-efficiency profile`; `simple/model1` has no reference entry and
is reported as not estimated.
"""

import os
import re
import subprocess
import sys
import time
from typing import List

import pandas as pd

from helm_efficiency.helm.metric_names import LEADERBOARD_STATS

from helm_efficiency.profiling.profile_cmd import demo_model_configs
from helm_efficiency.profiling.random_model import save_random_model

SUITE = "demo"


def run_entries(models: List[str], max_eval_instances: int) -> List[str]:
    entries = []
    for name in models:
        deployment = f"huggingface/{name}"
        entries.append(f"synthetic_reasoning:mode=pattern_match,model={deployment},efficiency=cpu")
        entries.append(f"simple1:model={deployment},model_deployment={deployment},efficiency=cpu")
    entries.append("simple1:model=simple/model1,efficiency=cpu")
    return entries


# HELM logs "Running RUN_NAME {" when it starts a run entry.
RUN_START = re.compile(r" INFO\s+Running (\S+) \{$")


def run_with_progress(command: List[str], log_path: str, total: int) -> int:
    """Run `command`, its output going to `log_path`; print a line as each run entry starts."""
    started = time.time()
    done = 0
    with open(log_path, "w") as log, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            log.write(line)
            match = RUN_START.search(line.rstrip("\n"))
            if match:
                done += 1
                print(f"  [{done}/{total}] {time.time() - started:5.0f} s  helm-run: {match.group(1)}", flush=True)
    print(f"  helm-run finished in {time.time() - started:.0f} s (log: {log_path})", flush=True)
    return process.returncode


def run_demo(output_path: str = "benchmark_output", max_eval_instances: int = 20, suite: str = SUITE,
             prod_env: str = "prod_env") -> pd.DataFrame:
    """Build the demo models under OUTPUT_PATH/demo_models, register them in PROD_ENV (so
    `helm-summarize --suite demo` and `helm-server` resolve them afterwards, offline), run
    helm-run with its request cache disabled (every demo run measures), return the table."""
    from helm_efficiency.helm.local_configs import write_local_model_configs
    from helm_efficiency.report.leaderboard import model_table
    from helm_efficiency.report.leaderboard_data import suite_run_table

    models = []
    for name, config in demo_model_configs().items():
        print(f"building random-weight model {name} from its config (no download)", flush=True)
        save_random_model(config, os.path.join(output_path, "demo_models", name))
        models.append(name)
    write_local_model_configs([os.path.join(output_path, "demo_models", name) for name in models], prod_env)
    print(f"registered huggingface/{', huggingface/'.join(models)} in {prod_env}/ (helm-summarize and helm-server will find them)", flush=True)
    entries = run_entries(models, max_eval_instances)
    command = [
        "helm-run",
        "--run-entries",
        *entries,
        "--suite",
        suite,
        "--max-eval-instances",
        str(max_eval_instances),
        "--output-path",
        output_path,
        "--local-path",
        prod_env,
        "--disable-cache",  # no stale timings from an earlier demo
        "--num-threads",
        "1",
    ]
    print("running: " + " ".join(command), flush=True)
    log_path = os.path.join(output_path, f"{suite}_helm_run.log")
    os.makedirs(output_path, exist_ok=True)
    returncode = run_with_progress(command, log_path, total=len(entries))
    if returncode != 0:
        sys.stderr.write(f"helm-run failed (exit {returncode}); see {log_path}\n")
        raise SystemExit(returncode)
    return model_table(suite_run_table(os.path.join(output_path, "runs", suite), "exact_match"), efficiency="idealized")


def format_demo_table(table: pd.DataFrame) -> str:
    runtimes = {s.column: f"{s.leaderboard} (s)" for s in LEADERBOARD_STATS if s.column.endswith("_runtime_s")}
    columns = {"model": "model", "capability": "exact_match", **runtimes, "note": "note"}
    shown = table[[c for c in columns if c in table.columns]].copy()
    shown["capability"] = shown["capability"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    shown = shown.rename(columns=columns)
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="not estimated")
