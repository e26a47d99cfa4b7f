"""Denoised runtime for a requests table: one lower-envelope fit per model deployment.

Concurrency (denoise/concurrency.py) is measured per deployment. Where requests overlapped on
the model's own hardware (`serving == "local"`, e.g. HELM's local Hugging Face client with
`--num-threads 4`) the envelope is divided by the mean concurrency, as if the requests had
shared the machine equally (processor sharing), and the fit is marked `contended`: that
correction removes most, not all, of the contention (bench/denoise_concurrency.py). Remote
deployments (APIs) are reported, not corrected: their hardware is not ours to model.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.denoise.concurrency import CONTENDED, mean_concurrency
from helm_efficiency.denoise.envelope import QUALITY_CONTENDED, QUALITY_OK, LowerEnvelopeDenoiser
from helm_efficiency.requests import STATUS_OK, usable_timings


def denoise_requests(
    requests: pd.DataFrame, quantile: Optional[float] = None, min_requests: int = 8
) -> Tuple[pd.DataFrame, Dict[str, dict]]:
    """Fit one lower envelope per model deployment (pooled over all rows given) and add
    `denoised_runtime_s`, `denoise_quality`, `used_in_denoise_fit`, `concurrency` and
    `denoised_above_raw` (a usable timing below the envelope: the envelope is a low quantile,
    so a few per deployment are; flagged and counted, never silently) to a copy of `requests`."""
    out = requests.copy()
    out["denoised_runtime_s"] = np.nan
    out["denoise_quality"] = None
    out["used_in_denoise_fit"] = out["status"] == STATUS_OK
    out["concurrency"] = np.nan
    reports: Dict[str, dict] = {}
    for deployment, rows in out.groupby("model_deployment", sort=True, dropna=False):
        timings = usable_timings(rows).rename(columns={"raw_runtime_s": "runtime_s"})
        denoiser = LowerEnvelopeDenoiser(quantile=quantile, min_requests=min_requests).fit(timings)
        denoised = denoiser.predict(rows["num_prompt_tokens"], rows["num_output_tokens"])
        quality = denoiser.quality_
        report = denoiser.report()
        concurrency = mean_concurrency(timings["request_datetime"], timings["runtime_s"]) if "request_datetime" in timings else None
        report["concurrency"] = concurrency
        local = "serving" in rows and (rows["serving"] == "local").any()
        if concurrency is not None and concurrency > CONTENDED and local:
            denoised = denoised / concurrency
            quality = QUALITY_CONTENDED if quality == QUALITY_OK else quality
            report["contention_correction"] = f"divided by the mean concurrency {concurrency:.2f} (processor sharing)"
        report["quality"] = quality
        out.loc[rows.index, "denoised_runtime_s"] = denoised
        out.loc[rows.index, "denoise_quality"] = quality
        out.loc[rows.index, "concurrency"] = np.nan if concurrency is None else concurrency
        reports[str(deployment)] = report
    raw = pd.to_numeric(out["raw_runtime_s"], errors="coerce")
    out["denoised_above_raw"] = (out["status"] == STATUS_OK) & (out["denoised_runtime_s"] > raw)
    return out, reports
