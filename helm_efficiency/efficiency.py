"""The core pipeline shared by the HELM metric and rescore: requests table → efficiency columns.

    requests (requests.py) ──► denoised runtime (per deployment lower-envelope fit)
                          └──► idealized runtime, energy, cost (reference CostTables)
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.denoise.envelope import LowerEnvelopeDenoiser
from helm_efficiency.estimate import estimate_idealized
from helm_efficiency.requests import STATUS_OK, usable_timings
from helm_efficiency.tables.cost_table import CostTable


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


def efficiency_columns(
    requests: pd.DataFrame,
    tables: Sequence[CostTable],
    power_w: Optional[float] = None,
    usd_per_gpu_hour: Optional[float] = None,
    quantile: Optional[float] = None,
) -> Tuple[pd.DataFrame, Dict[str, dict]]:
    """Requests table with denoised and idealized columns added, plus per-deployment fit reports."""
    denoised, reports = denoise_requests(requests, quantile=quantile)
    return estimate_idealized(denoised, tables, power_w=power_w, usd_per_gpu_hour=usd_per_gpu_hour), reports
