"""Denoised runtime for a requests table: one lower-envelope fit per model deployment."""

from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.denoise.envelope import LowerEnvelopeDenoiser
from helm_efficiency.requests import STATUS_OK, usable_timings


def denoise_requests(
    requests: pd.DataFrame, quantile: Optional[float] = None, min_requests: int = 8
) -> Tuple[pd.DataFrame, Dict[str, dict]]:
    """Fit one lower envelope per model deployment (pooled over all rows given) and add
    `denoised_runtime_s`, `denoise_quality` and `used_in_denoise_fit` to a copy of `requests`."""
    out = requests.copy()
    out["denoised_runtime_s"] = np.nan
    out["denoise_quality"] = None
    out["used_in_denoise_fit"] = out["status"] == STATUS_OK
    reports: Dict[str, dict] = {}
    for deployment, rows in out.groupby("model_deployment", sort=True, dropna=False):
        timings = usable_timings(rows).rename(columns={"raw_runtime_s": "runtime_s"})
        denoiser = LowerEnvelopeDenoiser(quantile=quantile, min_requests=min_requests).fit(timings)
        out.loc[rows.index, "denoised_runtime_s"] = denoiser.predict(rows["num_prompt_tokens"], rows["num_output_tokens"])
        out.loc[rows.index, "denoise_quality"] = denoiser.quality_
        reports[str(deployment)] = denoiser.report()
    return out, reports
