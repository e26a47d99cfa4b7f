"""Was this machine busy while a run was timed? Other processes' share of the CPUs over a window.

A local model's timings are only as good as the machine was quiet: another job on the same cores
can make every request several times slower, and the denoising envelope cannot see it, because
every request is slowed. So the live metric measures, over the window in which helm-run made the
run's requests, how much CPU time the rest of the machine used:

    others_cpu_share = (all CPUs' busy seconds − this process's CPU seconds) / (CPUs × wall seconds)

from Linux's /proc/stat (busy = user + nice + system + irq + softirq + steal; steal is time a
hypervisor gave to other guests) and os.times(). Where /proc/stat is missing, the 1-minute load
average less this process's own CPU use stands in. A run is flagged busy above BUSY_SHARE.
No helm or torch import: the window starts when the plugin is imported (helm-run's start) and
each metric evaluation ends one window and starts the next.
"""

import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

# Flag a run when other processes used more than this share of all CPUs while it was timed
# (a single busy thread on a 2-core machine is 0.5).
BUSY_SHARE = 0.25
PROC_STAT = "/proc/stat"
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (idle 3 and iowait 4 are not busy)


@dataclass(frozen=True)
class CpuClock:
    """One reading: wall seconds (monotonic), this process's CPU seconds (all threads), all CPUs' busy seconds (None off Linux)."""

    wall_s: float
    process_cpu_s: float
    busy_cpu_s: Optional[float]


def _busy_cpu_s(path: str = PROC_STAT) -> Optional[float]:
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    return sum(ticks[i] for i in BUSY_FIELDS if i < len(ticks)) / os.sysconf("SC_CLK_TCK")


def read_clock() -> CpuClock:
    times = os.times()
    return CpuClock(time.monotonic(), times.user + times.system, _busy_cpu_s())


def load_between(start: CpuClock, end: CpuClock, num_cpus: Optional[int] = None) -> Dict[str, Any]:
    """What the rest of the machine did between two readings: the metadata's `machine_load`
    (window_s, process_cpu_s, others_cpu_share, how it was measured, busy, note)."""
    num_cpus = num_cpus or os.cpu_count() or 1
    wall = max(end.wall_s - start.wall_s, 1e-9)
    process = max(end.process_cpu_s - start.process_cpu_s, 0.0)
    if start.busy_cpu_s is not None and end.busy_cpu_s is not None:
        others = max(end.busy_cpu_s - start.busy_cpu_s - process, 0.0) / (num_cpus * wall)
        method = "/proc/stat busy time less this process's CPU time"
    else:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        others = max(load - process / wall, 0.0) / num_cpus
        method = "1-minute load average less this process's CPU use"
    others = min(others, 1.0)
    busy = others > BUSY_SHARE
    note = (f"busy machine: other processes used {others:.0%} of the {num_cpus} CPUs while this run was timed; "
            "measured runtimes of a model served on this machine are inflated") if busy else ""
    return {"window_s": round(wall, 3), "process_cpu_s": round(process, 3), "num_cpus": num_cpus, "others_cpu_share": round(others, 4),
            "busy_threshold": BUSY_SHARE, "method": method, "busy": busy, "note": note}


_window_start: Optional[CpuClock] = None


def start_window() -> None:
    """Start timing a window (the plugin calls this when helm-run imports it)."""
    global _window_start
    _window_start = read_clock()


def end_window() -> Optional[Dict[str, Any]]:
    """The load since the window started (None if none was started), and start the next window."""
    global _window_start
    start, _window_start = _window_start, read_clock()
    return None if start is None else load_between(start, _window_start)
