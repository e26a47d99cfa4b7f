"""The core pipeline shared by the HELM metric and rescore: requests table → efficiency columns.

    requests (requests.py) ──► denoised runtime (per deployment lower-envelope fit)
                          ├──► idealized runtime, energy, cost (reference CostTables, batch 1)
                          └──► served GPU-seconds, cost, energy (served tables, under a latency target)
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.analytic.identity import registry_key
from helm_efficiency.denoise.requests import denoise_requests
from helm_efficiency.pricing.estimate import estimate_idealized
from helm_efficiency.util.frames import with_columns
from helm_efficiency.tables.cost_table import CostTable


def efficiency_columns(
    requests: pd.DataFrame,
    tables: Sequence[CostTable],
    power_w: Optional[float] = None,
    usd_per_gpu_hour: Optional[float] = None,
    quantile: Optional[float] = None,
    sla=None,
) -> Tuple[pd.DataFrame, Dict[str, dict]]:
    """Requests table with denoised, idealized and served columns added, plus per-deployment fit
    reports. Served numbers come from the first table's stack when a served table exists for it
    (tables/served.py), under `sla` (default: TPOT ≤ 50 ms, TTFT ≤ 2 s)."""
    denoised, reports = denoise_requests(requests, quantile=quantile)
    table = estimate_idealized(denoised, tables, power_w=power_w, usd_per_gpu_hour=usd_per_gpu_hour)
    return served_columns(table, tables[0].name if tables else None, sla), reports


def served_columns(requests: pd.DataFrame, stack: Optional[str], sla=None) -> pd.DataFrame:
    """`requests` with tables/served.ESTIMATE_COLUMNS added for `stack` (frames.with_columns; NaN with a reason where
    the stack has no served table or the model none). A row the batch-1 chain priced from the
    stack's own entry is served as that entry's model (`reference_model`), so both numbers price
    one model; other rows by their HELM model, else their deployment, resolved as at batch 1."""
    from helm_efficiency.tables.served import DEFAULT_SLA, ESTIMATE_COLUMNS, has_served_table, served_estimates

    out = requests
    if stack is None or not has_served_table(stack):
        columns = {column: np.full(len(out), np.nan) for column in ESTIMATE_COLUMNS}
        columns["served_extrapolated"] = np.zeros(len(out), bool)
        columns["served_placement"] = np.full(len(out), "", dtype=object)
        columns["served_model"] = np.full(len(out), "", dtype=object)
        columns["served_reason"] = np.full(len(out), f"no served table for {stack}" if stack else "no reference stack", dtype=object)
        return with_columns(requests, columns)
    column = lambda c: out[c].tolist() if c in out else [None] * len(out)  # noqa: E731
    # One identity for both numbers: a request the batch-1 chain priced from the stack's own
    # entry is served as that same model; the others by their first name that resolves.
    calibrated = [m == "calibrated" and isinstance(r, str) for m, r in zip(column("method"), column("reference_model"))]
    pairs = list(zip(column("model"), column("model_deployment")))
    chosen = {}
    for model, deployment in dict.fromkeys(pairs):
        chosen[(model, deployment)] = next((n for n in (model, deployment) if isinstance(n, str) and registry_key(n)),
                                           model if isinstance(model, str) else deployment)
    names = [ref if use else chosen[pair] for use, ref, pair in zip(calibrated, column("reference_model"), pairs)]
    served = served_estimates(names, out["num_prompt_tokens"].to_numpy(float), out["num_output_tokens"].to_numpy(float), stack, sla or DEFAULT_SLA)
    return with_columns(requests, _without_media(requests, {c: served[c].to_numpy() for c in ESTIMATE_COLUMNS}))


def _without_media(requests: pd.DataFrame, columns: dict) -> dict:
    """No served number for a request that carried or generated media: the served tables price
    text tokens, and neither a vision encoder's nor any other media's batched cost is modelled."""
    from helm_efficiency.pricing.media_price import REASON_MEDIA, has_media

    media = has_media(requests)
    if media.any():
        for name in columns:
            if name == "served_extrapolated":
                columns[name] = np.where(media, False, columns[name])
            elif name in ("served_placement", "served_model"):
                values = np.array(columns[name], dtype=object)
                values[media] = ""
                columns[name] = values
            elif name == "served_reason":
                reasons = np.array(columns[name], dtype=object)
                reasons[media] = (f"{REASON_MEDIA}: the served tables price text tokens only; the batched cost of "
                                  "the request's media (a vision encoder, say) is not modelled")
                columns[name] = reasons
            else:
                columns[name] = np.where(media, np.nan, columns[name])
    return columns
