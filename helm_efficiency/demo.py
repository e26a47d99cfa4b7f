"""`helm-efficiency demo`: a real, offline `helm-run` with the plugin, then a short table.

Two random-weight GPT-2-shaped models (built from configs, saved under
OUTPUT_PATH/demo_models and registered in prod_env/, served by HELM's local Hugging Face client) and HELM's `simple/model1` answer `synthetic_reasoning`
and `simple1`. Idealized runtime comes from the shipped CPU reference table, which was
profiled on a CPU with `helm-efficiency profile`; `simple/model1` has no reference entry and
is reported as not estimated.
"""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pandas as pd

from helm_efficiency.helm.metric_names import LEADERBOARD_STATS
from helm_efficiency.helm.run_metadata import read_metadata
from helm_efficiency.helm_io.runs import list_run_dirs, model_deployment_of, run_spec_of

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


# HELM logs "Running RUN_NAME {" when it starts a run entry, and "NAME {" when it enters a step.
RUN_START = re.compile(r" INFO\s+Running (\S+) \{$")
STEP_START = re.compile(r" INFO\s+(scenario\.get_instances|Executor\.execute|\d+ metrics) \{$")
STEPS = {"scenario.get_instances": "loading the scenario", "Executor.execute": "sending requests"}
HEARTBEAT_S = 20.0  # the longest silence: a progress line at least this often (issue #33 asks for 30 s at most)


def run_with_progress(command: List[str], log_path: str, total: int, heartbeat_s: float = HEARTBEAT_S) -> int:
    """Run `command`, its output going to `log_path`; print a line as each run entry starts, and
    one at least every `heartbeat_s` seconds while it runs (which run, which step, for how long):
    HELM prints nothing while a local model answers, and a run can take minutes."""
    started = time.monotonic()
    done, current, step, run_started, last_print = 0, "", "starting helm-run", started, started
    lines: "queue.Queue[Optional[str]]" = queue.Queue()
    with open(log_path, "w") as log, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        def read() -> None:
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=min(1.0, heartbeat_s))
            except queue.Empty:
                line = ""
            if line is None:
                break
            now = time.monotonic()
            if line:
                log.write(line)
                text = line.rstrip("\n")
                run = RUN_START.search(text)
                if run:
                    done, current, step, run_started, last_print = done + 1, run.group(1), "starting", now, now
                    print(f"  [{done}/{total}] {now - started:5.0f} s  helm-run: {current}", flush=True)
                    continue
                entered = STEP_START.search(text)
                if entered:
                    step = STEPS.get(entered.group(1), "computing metrics")
            if now - last_print >= heartbeat_s:
                where = f"{current}, {step}, {now - run_started:.0f} s into this run" if current else step
                print(f"  [{done}/{total}] {now - started:5.0f} s  still running ({where})", flush=True)
                last_print = now
        process.wait()
    print(f"  helm-run finished in {time.monotonic() - started:.0f} s (log: {log_path})", flush=True)
    return process.returncode


def busy_runs(suite_dir: str) -> Dict[str, float]:
    """{model deployment: the largest share of the CPUs other processes used while one of its runs
    was timed}, for the models with a run the live metric flagged busy (machine_load.py)."""
    busiest: Dict[str, float] = {}
    for run_dir in list_run_dirs(suite_dir):
        load = read_metadata(run_dir).get("machine_load") or {}
        if load.get("busy"):
            model = model_deployment_of(run_spec_of(run_dir))
            busiest[model] = max(busiest.get(model, 0.0), float(load.get("others_cpu_share", 0.0)))
    return busiest


def add_busy_notes(table: pd.DataFrame, busiest: Dict[str, float]) -> pd.DataFrame:
    """A note on each model whose timings were taken on a busy machine: its raw and denoised runtimes are inflated."""
    table = table.copy()
    for i, model in table["model"].items():
        if model in busiest:
            note = f"BUSY MACHINE: other processes used up to {busiest[model]:.0%} of the CPUs while timed; raw and denoised inflated"
            table.loc[i, "note"] = "; ".join(n for n in (note, table.loc[i, "note"]) if isinstance(n, str) and n)
    return table


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
    suite_dir = os.path.join(output_path, "runs", suite)
    return add_busy_notes(model_table(suite_run_table(suite_dir, "exact_match"), efficiency="idealized"), busy_runs(suite_dir))


def format_demo_table(table: pd.DataFrame) -> str:
    """The demo's table: one row per model, its notes numbered under the table (so a long note,
    such as a busy machine's, does not stretch every row)."""
    runtimes = {s.column: f"{s.leaderboard} (s)" for s in LEADERBOARD_STATS if s.column.endswith("_runtime_s")}
    columns = {"model": "model", "capability": "exact_match", **runtimes, "scenarios": "scenarios", "note": "note"}
    shown = table[[c for c in columns if c in table.columns]].copy()
    shown["capability"] = shown["capability"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    notes: List[str] = []
    if "note" in shown:
        for i, note in shown["note"].items():
            if isinstance(note, str) and note:
                notes.append(f"[{len(notes) + 1}] {shown.loc[i, 'model']}: {note}")
                shown.loc[i, "note"] = f"[{len(notes)}]"
            else:
                shown.loc[i, "note"] = ""
    shown = shown.rename(columns=columns)
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="not estimated")
    return "\n".join([text, *notes])
