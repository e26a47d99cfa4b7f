"""Denoised runtime for a requests table: one lower-envelope fit per model deployment.

Concurrency (denoise/concurrency.py) is measured per deployment. Where requests overlapped on
the model's own hardware (`serving == "local"`, e.g. HELM's local Hugging Face client with
`--num-threads 4`) the envelope is divided by the mean concurrency, as if the requests had
shared the machine equally (processor sharing), and the fit is marked `contended`: that
correction removes most, not all, of the contention (bench/denoise_concurrency.py). Remote
deployments (APIs) are reported, not corrected: their hardware is not ours to model.
"""

from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.util.frames import with_columns
from helm_efficiency.denoise.concurrency import CONTENDED, mean_concurrency
from helm_efficiency.denoise.envelope import MAX_FIT_REQUESTS, QUALITY_CONTENDED, QUALITY_OK, LowerEnvelopeDenoiser
from helm_efficiency.request_table.table import STATUS_OK


def denoise_requests(
    requests: pd.DataFrame, quantile: Optional[float] = None, min_requests: int = 8,
    max_fit_requests: Optional[int] = MAX_FIT_REQUESTS,
) -> Tuple[pd.DataFrame, Dict[str, Dict[str, Any]]]:
    """Fit one lower envelope per model deployment (pooled over all rows given) and add
    `denoised_runtime_s`, `denoise_quality`, `used_in_denoise_fit`, `concurrency` and
    `denoised_above_raw` (a usable timing below the envelope: the envelope is a low quantile,
    so a few per deployment are; flagged and counted, never silently) to `requests` (frames.with_columns).
    A deployment with more than `max_fit_requests` usable timings is fitted on a fixed-seed
    sample of them (LowerEnvelopeDenoiser); only the sampled rows are `used_in_denoise_fit`."""
    out = requests
    status_ok = (out["status"] == STATUS_OK).to_numpy()
    p = out["num_prompt_tokens"].to_numpy()
    o = out["num_output_tokens"].to_numpy()
    raw = pd.to_numeric(out["raw_runtime_s"], errors="coerce").to_numpy(dtype=float)
    started = out["request_datetime"].to_numpy() if "request_datetime" in out else None
    local_rows = (out["serving"] == "local").to_numpy() if "serving" in out else np.zeros(len(out), bool)
    denoised_runtime = np.full(len(out), np.nan)
    quality_of = np.full(len(out), None, dtype=object)
    used = status_ok.copy()
    concurrency_of = np.full(len(out), np.nan)
    reports: Dict[str, Dict[str, Any]] = {}
    # One fit per deployment, in sorted order (a missing deployment last), as groupby(sort=True) lists them.
    codes, deployments = pd.factorize(out["model_deployment"], sort=True, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(deployments) + 1))
    for code, deployment in enumerate(deployments):
        index = order[bounds[code]:bounds[code + 1]]
        usable = index[status_ok[index]]
        timings = pd.DataFrame({"num_prompt_tokens": p[usable], "num_output_tokens": o[usable], "runtime_s": raw[usable]})
        denoiser = LowerEnvelopeDenoiser(quantile=quantile, min_requests=min_requests, max_fit_requests=max_fit_requests).fit(timings)
        denoised = denoiser.predict(p[index], o[index])
        quality = denoiser.quality_
        report = denoiser.report()
        concurrency = mean_concurrency(pd.Series(started[usable]), timings["runtime_s"]) if started is not None else None
        report["concurrency"] = concurrency
        if concurrency is not None and concurrency > CONTENDED and local_rows[index].any():
            denoised = denoised / concurrency
            quality = QUALITY_CONTENDED if quality == QUALITY_OK else quality
            report["contention_correction"] = f"divided by the mean concurrency {concurrency:.2f} (processor sharing)"
        report["quality"] = quality
        if denoiser.fitted_rows_ is not None:  # fitted on a sample: only those rows were used
            used[np.setdiff1d(usable, usable[denoiser.fitted_rows_])] = False
        denoised_runtime[index] = denoised
        quality_of[index] = quality
        concurrency_of[index] = np.nan if concurrency is None else concurrency
        reports[str(deployment)] = report
    return with_columns(requests, {"denoised_runtime_s": denoised_runtime, "denoise_quality": quality_of, "used_in_denoise_fit": used,
                                   "concurrency": concurrency_of, "denoised_above_raw": status_ok & (denoised_runtime > raw)}), reports
