"""The core pipeline shared by the HELM metric and rescore: requests table → efficiency columns.

    requests (requests.py) ──► denoised runtime (per deployment lower-envelope fit)
                          ├──► idealized runtime, energy, cost (reference CostTables, batch 1)
                          └──► served GPU-seconds, cost, energy (served tables, under a latency target)
"""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.analytic.identity import SIZE_COLUMNS, registry_key
from helm_efficiency.denoise.requests import denoise_requests
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.pricing.estimate import estimate_idealized
from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.tables.sla import Sla
from helm_efficiency.util.frames import with_columns


def efficiency_columns(requests: pd.DataFrame, spec: EfficiencySpec, *, catalog: Catalog = HELM_ONLY) -> Tuple[pd.DataFrame, Dict[str, Dict[str, Any]]]:
    """Requests table with denoised, idealized and served columns added, plus per-deployment fit
    reports, priced as `spec` says (pricing/spec.py: its tables, power, price and denoising
    quantile; served numbers on its served stack under its latency target), each model named
    as `catalog` resolves it (HELM's YAML plus the suite's prod_env)."""
    denoised, reports = denoise_requests(requests, quantile=spec.quantile)
    table = estimate_idealized(denoised, spec.cost_tables, power_w=spec.power_w, usd_per_gpu_hour=spec.usd_per_gpu_hour, catalog=catalog)
    return served_columns(table, spec.served_on, sla=spec.sla, catalog=catalog), reports


def served_columns(requests: pd.DataFrame, stack: Optional[str], *, sla: Optional[Sla] = None, catalog: Catalog = HELM_ONLY) -> pd.DataFrame:
    """`requests` with tables/served.ESTIMATE_COLUMNS added for `stack` (frames.with_columns; NaN with a reason where
    the stack has no served table or the model none). A row the batch-1 chain priced from the
    stack's own entry is served as that entry's model (`reference_model`), so both numbers price
    one model; other rows by their HELM model, else their deployment, resolved as at batch 1."""
    from helm_efficiency.tables.served import ESTIMATE_COLUMNS, has_served_table, served_estimates
    from helm_efficiency.tables.sla import DEFAULT_SLA

    out = requests
    if stack is None or not has_served_table(stack):
        columns = {column: np.full(len(out), np.nan) for column in ESTIMATE_COLUMNS}
        columns["served_extrapolated"] = np.zeros(len(out), bool)
        columns["served_placement"] = np.full(len(out), "", dtype=object)
        columns["served_model"] = np.full(len(out), "", dtype=object)
        columns["served_method"] = np.full(len(out), "", dtype=object)
        columns["served_reason"] = np.full(len(out), f"no served table for {stack}" if stack else "no reference stack", dtype=object)
        return with_columns(requests, columns)

    def column(c: str) -> List[Any]:
        return out[c].tolist() if c in out else [None] * len(out)

    # One identity for both numbers: a request the batch-1 chain priced from the stack's own
    # entry is served as that same model (where the registry knows it); the others by their first
    # name that resolves, with the sizes their rows give.
    refs: Dict[Any, bool] = {}  # a reference model the registry knows (the paper's Megatron entries it does not)
    calibrated = [m == "calibrated" and isinstance(r, str) and refs.setdefault(r, registry_key(r, catalog) is not None)
                  for m, r in zip(column("method"), column("reference_model"))]
    pairs = list(zip(column("model"), column("model_deployment")))
    chosen: Dict[Tuple[Any, Any], Any] = {}
    for model, deployment in dict.fromkeys(pairs):
        chosen[(model, deployment)] = next((n for n in (model, deployment) if isinstance(n, str) and registry_key(n, catalog)),
                                           model if isinstance(model, str) else deployment)
    names = [ref if use else chosen[pair] for use, ref, pair in zip(calibrated, column("reference_model"), pairs)]
    given = [c for c in SIZE_COLUMNS if c in out.columns]  # a model outside the registry, known by the sizes the requests give
    # a row served as its reference model is that model, whatever sizes the row gives
    sizes = out[given].where(~pd.Series(calibrated, index=out.index, dtype=bool), axis=0) if given else None
    served = served_estimates(names, out["num_prompt_tokens"].to_numpy(float), out["num_output_tokens"].to_numpy(float), stack=stack,
                              sla=sla or DEFAULT_SLA, catalog=catalog, sizes=sizes)
    return with_columns(requests, _without_media(requests, {c: served[c].to_numpy() for c in ESTIMATE_COLUMNS}))


def _without_media(requests: pd.DataFrame, columns: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """No served number for a request that carried or generated media: the served tables price
    text tokens, and neither a vision encoder's nor any other media's batched cost is modelled."""
    from helm_efficiency.pricing.media_price import REASON_MEDIA, has_media

    media = has_media(requests)
    if media.any():
        for name in columns:
            if name == "served_extrapolated":
                columns[name] = np.where(media, False, columns[name])
            elif name in ("served_placement", "served_model", "served_method"):
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
