"""The demo's progress lines and its table's notes (issue #33, items 4 and 5), without running helm-run."""

import json
import sys
import time

import numpy as np
import pandas as pd

from helm_efficiency.demo import add_busy_notes, busy_runs, format_demo_table, run_with_progress
from helm_efficiency.report.leaderboard import model_table


def test_progress_is_printed_while_a_run_is_silent(tmp_path, capsys):
    """HELM prints nothing while a local model answers: the demo still says where it is, at least every heartbeat."""
    script = "import time; print(' INFO     Running simple1:model=x {', flush=True); time.sleep(3.5); print('done')"
    started = time.monotonic()
    assert run_with_progress([sys.executable, "-c", script], str(tmp_path / "log.txt"), total=1, heartbeat_s=1.0) == 0
    assert time.monotonic() - started >= 3.5
    lines = capsys.readouterr().out.splitlines()
    heartbeats = [line for line in lines if "still running (simple1:model=x" in line]
    assert len(heartbeats) >= 2, lines
    assert "done" in (tmp_path / "log.txt").read_text()


def write_run(suite, name, model, load):
    run = suite / name
    run.mkdir(parents=True)
    (run / "run_spec.json").write_text(json.dumps({"name": name, "adapter_spec": {"model_deployment": model}}))
    (run / "efficiency_metadata.json").write_text(json.dumps({"scored_by": "helm-run", "machine_load": load}))


def test_a_model_timed_on_a_busy_machine_gets_a_note(tmp_path):
    suite = tmp_path / "demo"
    write_run(suite, "a1", "huggingface/he-small", {"busy": True, "others_cpu_share": 0.61})
    write_run(suite, "a2", "huggingface/he-small", {"busy": False, "others_cpu_share": 0.02})
    write_run(suite, "b1", "huggingface/he-tiny", {"busy": False, "others_cpu_share": 0.05})
    busiest = busy_runs(str(suite))
    assert busiest == {"huggingface/he-small": 0.61}
    runs = pd.DataFrame({"model": ["huggingface/he-small", "huggingface/he-tiny"], "scenario": ["x", "x"], "accuracy": [0.0, 0.0],
                         "raw_runtime_s": [3.5, 0.07], "denoised_runtime_s": [3.4, 0.06], "idealized_runtime_s": [0.6, 0.08],
                         "idealized_energy_j": np.nan, "idealized_cost_usd": np.nan, "has_efficiency_stats": True})
    text = format_demo_table(add_busy_notes(model_table(runs, "idealized"), busiest))
    lines = text.splitlines()
    small_row, small_note = [line for line in lines if "he-small" in line]
    [tiny_row] = [line for line in lines if "he-tiny" in line]
    assert small_row.rstrip().endswith("[1]") and small_note.startswith("[1] huggingface/he-small: BUSY MACHINE")
    assert "61%" in small_note and not tiny_row.rstrip().endswith("]")
    assert "scenarios" in text.splitlines()[0]  # which runs the numbers are averaged over
