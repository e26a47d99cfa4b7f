"""The core pipeline shared by the HELM metric and rescore: requests table → efficiency columns.

    requests (requests.py) ──► denoised runtime (per deployment lower-envelope fit)
                          └──► idealized runtime, energy, cost (reference CostTables)
"""

from typing import Dict, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.denoise.requests import denoise_requests
from helm_efficiency.estimate import estimate_idealized
from helm_efficiency.tables.cost_table import CostTable


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
