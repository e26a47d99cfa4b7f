"""A run timed while other processes kept the machine busy is flagged (issue #33, item 4):
machine_load.py's arithmetic, a real CPU hog seen by it, and the live metric recording and
logging it during helm-run."""

import json
import os
import subprocess
import sys
import pytest

from helm_efficiency.denoise import machine_load
from helm_efficiency.denoise.machine_load import BUSY_SHARE, CpuClock, load_between
from helm_efficiency.helm_io.runs import RUN_METADATA, list_run_dirs

HOG = "import time\nend = time.time() + float(__import__('sys').argv[1])\nwhile time.time() < end: pass\n"


def hogs(seconds: float):
    """One busy-looping process per CPU, for `seconds`."""
    return [subprocess.Popen([sys.executable, "-c", HOG, str(seconds)]) for _ in range(os.cpu_count() or 1)]


def test_others_share_is_busy_time_less_our_own_over_all_cpus():
    start, end = CpuClock(0.0, 1.0, 100.0), CpuClock(10.0, 6.0, 113.0)  # 10 s; we used 5 CPU-s, the machine 13
    load = load_between(start, end, num_cpus=2)
    assert load["others_cpu_share"] == pytest.approx(8 / 20) and load["busy"] and "40%" in load["note"]
    quiet = load_between(start, CpuClock(10.0, 6.0, 105.0), num_cpus=2)  # all the busy time was ours
    assert quiet["others_cpu_share"] == pytest.approx(0.0) and not quiet["busy"] and quiet["note"] == ""
    assert 0 < BUSY_SHARE < 0.5  # one busy thread on two cores is flagged


def test_a_real_cpu_hog_is_seen():
    start = machine_load.read_clock()
    for process in hogs(2.0):
        process.wait()
    load = load_between(start, machine_load.read_clock())
    assert load["busy"], load


@pytest.mark.e2e
def test_the_live_metric_flags_a_run_timed_on_a_busy_machine(tmp_path):
    running = hogs(120.0)
    try:
        done = subprocess.run(["helm-run", "--run-entries", "simple1:model=simple/model1,efficiency=true", "--suite", "busy",
                               "--max-eval-instances", "10", "-o", str(tmp_path / "out"), "--local-path", str(tmp_path / "prod_env")],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
    finally:
        for process in running:
            process.kill()
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = list_run_dirs(str(tmp_path / "out" / "runs" / "busy"))
    load = json.load(open(os.path.join(run, RUN_METADATA)))["machine_load"]
    assert load["busy"] and load["others_cpu_share"] > BUSY_SHARE, load
    assert "busy machine: other processes used" in done.stdout + done.stderr
