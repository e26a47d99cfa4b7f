"""How many requests a deployment had in flight at once, from HELM's own timestamps.

HELM runs requests on several threads (4 by default). Requests that overlap on hardware they
share (a model served locally) slow each other down, so even their lower envelope is contended.
A deployment's mean concurrency is its busy time over its wall span:

    concurrency = Σ request_time / Σ over sessions (max(start + request_time) − min(start))

where a session ends when nothing was in flight for more than SESSION_GAP_S (a suite run over
weeks, or resumed from HELM's cache, is not one long idle span);
with start = `request_datetime`, which HELM records in whole seconds. Each session's true span
is then at most START_RESOLUTION_S longer than the one measured, so that second is added: the
figure is a lower bound on the true concurrency, and contention is never flagged on requests that
ran one at a time however short the run. Over a span of a few seconds the rounding is still a
large error, so concurrency is reported only when the span is at least MIN_SPAN_S long. A single
thread gives at most 1 (less when HELM spends time between requests); 4 threads on a saturated
model give about 4.
"""

from typing import Optional

import numpy as np
import pandas as pd

MIN_SPAN_S = 2.0
# HELM's request_datetime is whole seconds: a session's start may be up to this much late.
START_RESOLUTION_S = 1.0
SESSION_GAP_S = 60.0
# Above this mean concurrency, requests overlapped for most of the run.
CONTENDED = 1.5


def mean_concurrency(start_s: pd.Series, runtime_s: pd.Series) -> Optional[float]:
    """Mean requests in flight (busy time / wall span, a lower bound given whole-second starts),
    or None when the timestamps cannot tell."""
    start = pd.to_numeric(start_s, errors="coerce").to_numpy(float)
    runtime = pd.to_numeric(runtime_s, errors="coerce").to_numpy(float)
    keep = np.isfinite(start) & np.isfinite(runtime) & (runtime > 0)
    if keep.sum() < 2:
        return None
    start, runtime = start[keep], runtime[keep]
    order = np.argsort(start, kind="stable")
    start, end = start[order], (start + runtime)[order]
    latest_end = np.maximum.accumulate(end)
    first = np.flatnonzero(np.concatenate([[True], start[1:] > latest_end[:-1] + SESSION_GAP_S]))
    last = np.concatenate([first[1:] - 1, [len(start) - 1]])
    spans = latest_end[last] - start[first]
    if float(spans.sum()) < MIN_SPAN_S:
        return None
    return float(runtime.sum() / np.sum(spans + START_RESOLUTION_S))
