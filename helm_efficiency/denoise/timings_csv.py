"""Denoising a timings CSV: one output row per input row (in order), with denoised_runtime_s and why a row was not fitted."""

import json
from typing import Any, Optional

import numpy as np
import pandas as pd

from helm_efficiency.util.atomic import write_text_atomic
from helm_efficiency.denoise.requests import denoise_requests
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.costmodel.measurements import check_positive_numeric, read_csv, require_columns
from helm_efficiency.request_table.table import (
    STATUS_CACHED,
    STATUS_FAILED,
    STATUS_INVALID_TIME,
    STATUS_MISSING_TIME,
    STATUS_OK,
    flag_cold_start,
)

REQUIRED = ["model", "num_prompt_tokens", "num_output_tokens", "runtime_s"]


def json_safe(value: Any) -> Any:
    """NaN and infinities as JSON null (bare NaN is not JSON), recursively."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])


# rescore's SUITE/efficiency_requests.csv names these columns as the requests table does.
REQUESTS_TABLE_NAMES = {"model_deployment": "model", "raw_runtime_s": "runtime_s"}


def _runtimes(df: pd.DataFrame, source: str) -> pd.Series:
    """The runtime_s column as numbers; blank, "nan" and numbers pass, any other text names its row."""
    values = pd.to_numeric(df["runtime_s"], errors="coerce")
    text = df["runtime_s"].astype(str).str.strip().str.lower()
    garbage = values.isna() & df["runtime_s"].notna() & ~text.isin(["", "nan", "none", "null"])
    if garbage.any():
        row = int(np.flatnonzero(garbage.to_numpy())[0])
        raise EfficiencyInputError(source, "runtime_s", f"row {row + 2} has {df['runtime_s'].iloc[row]!r}; expected seconds (or blank for an untimed request)")
    return values


def timings_to_requests(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Map a timings CSV (or rescore's efficiency_requests.csv) onto the requests table. An empty,
    NaN, zero or negative runtime is a request without a usable timing (a failed request, say):
    kept, excluded from the fit, and its reason given. Text where a runtime should be is an error."""
    df = df.rename(columns={k: v for k, v in REQUESTS_TABLE_NAMES.items() if k in df.columns and v not in df.columns})
    require_columns(df, REQUIRED, source)
    requests = pd.DataFrame(
        {
            "model_deployment": df["model"].astype(str),
            "num_prompt_tokens": check_positive_numeric(df, "num_prompt_tokens", source, integer=True),
            "num_output_tokens": check_positive_numeric(df, "num_output_tokens", source, integer=True, allow_zero=True),
            "raw_runtime_s": _runtimes(df, source),
            "request_datetime": pd.to_numeric(df["request_datetime"], errors="coerce") if "request_datetime" in df else np.nan,
        }
    )
    status = np.full(len(df), STATUS_OK, dtype=object)
    runtime = requests["raw_runtime_s"]
    status[(~np.isfinite(runtime)) | (runtime <= 0)] = STATUS_INVALID_TIME
    status[df["runtime_s"].isna().to_numpy()] = STATUS_MISSING_TIME
    if "success" in df:
        status[(~_truthy(df["success"])).to_numpy()] = STATUS_FAILED
    if "cached" in df:
        status[_truthy(df["cached"]).to_numpy()] = STATUS_CACHED
    if "status" in df:  # a requests table already says which timings are usable
        given = df["status"].astype(str).to_numpy()
        status = np.where((status == STATUS_OK) & (given != STATUS_OK), given, status)
    requests["status"] = status
    # The cold start can only be told apart when request times are known.
    return flag_cold_start(requests) if "request_datetime" in df else requests


def denoise_csv(timings_path: str, output_path: str, fit_out: Optional[str] = None, quantile: Optional[float] = None) -> pd.DataFrame:
    df = read_csv(timings_path)
    requests = timings_to_requests(df, timings_path)
    denoised, reports = denoise_requests(requests, quantile=quantile)
    out = df.copy()
    out["denoised_runtime_s"] = denoised["denoised_runtime_s"].to_numpy()
    out["used_in_fit"] = denoised["used_in_denoise_fit"].to_numpy()
    out["excluded_reason"] = np.where(denoised["status"] == STATUS_OK, "", denoised["status"])
    out["fit_quality"] = denoised["denoise_quality"].to_numpy()
    out.to_csv(output_path, index=False)
    if fit_out:
        write_text_atomic(fit_out, json.dumps(json_safe(reports), indent=1, allow_nan=False) + "\n")
    print(f"wrote {len(out)} rows to {output_path}; {int(out['used_in_fit'].sum())} used in fits, "
          f"{int((~out['used_in_fit']).sum())} excluded; {int(out['denoised_runtime_s'].isna().sum())} without a value")
    return out
