"""Run-level count stats from the requests table (shared by the metric and rescore)."""

from typing import List, Tuple

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.denoise.envelope import QUALITY_NO_TIMINGS, QUALITY_OK
from helm_efficiency.helm.metric_names import METHODS
from helm_efficiency.pricing.media_price import has_media
from helm_efficiency.request_table.table import (
    STATUS_CACHED,
    STATUS_COLD,
    STATUS_FAILED,
    STATUS_INVALID_TIME,
    STATUS_MISSING_TIME,
)


# Every requests-table column the run counts read (a caller may pass only these, with "split").
RUN_COUNT_COLUMNS = ("split", "status", "denoise_quality", "idealized_runtime_s", "extrapolated", "used_in_denoise_fit", "method",
                     "concurrency", "denoised_runtime_s", "denoised_above_raw", "approximate_tokens", "batched", "served_gpu_s",
                     "num_media", "media_kind", "served_method")


def run_count_values(rows: pd.DataFrame) -> List[Tuple[str, float]]:
    """Run-level counts (one value per run and split). `efficiency_denoise_underdetermined` only
    where a fit was attempted (some timing was usable): 1 if any attempted fit is not ok."""
    status = rows["status"]
    attempted = rows["denoise_quality"].dropna()
    attempted = attempted[attempted != QUALITY_NO_TIMINGS]
    underdetermined = [("efficiency_denoise_underdetermined", float((attempted != QUALITY_OK).any()))] if len(attempted) else []
    return [
        ("efficiency_num_requests", float(len(rows))),
        ("efficiency_num_cached_requests", float((status == STATUS_CACHED).sum())),
        ("efficiency_num_cold_requests", float((status == STATUS_COLD).sum())),
        ("efficiency_num_failed_requests", float((status == STATUS_FAILED).sum())),
        ("efficiency_num_untimed_requests", float(status.isin([STATUS_MISSING_TIME, STATUS_INVALID_TIME]).sum())),
        ("efficiency_num_unestimated_requests", float(rows["idealized_runtime_s"].isna().sum())),
        ("efficiency_num_extrapolated_requests", float(rows["extrapolated"].fillna(False).astype(bool).sum())),
        ("efficiency_num_denoise_fit_requests", float(rows["used_in_denoise_fit"].sum())),
        ("efficiency_num_undenoised_requests", float(_undenoised(rows).sum())),
        ("efficiency_num_denoised_above_raw_requests", float(_flag(rows, "denoised_above_raw").sum())),
        ("efficiency_num_approximate_token_requests", float(_flag(rows, "approximate_tokens").sum())),
        ("efficiency_num_unserved_requests", float(rows["served_gpu_s"].isna().sum()) if "served_gpu_s" in rows else float(len(rows))),
        ("efficiency_num_batched_requests", float(_flag(rows, "batched").sum())),
        ("efficiency_num_media_requests", float(has_media(rows).sum())),
    ] + _method_counts(rows) + underdetermined + _concurrency(rows)


def _flag(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].fillna(False).astype(bool) if column in rows else pd.Series(False, index=rows.index)


def _undenoised(rows: pd.DataFrame) -> pd.Series:
    """Requests of a deployment whose fit was attempted that still got no denoised runtime (a
    prompt or output length the fit could not speak for): counted, never silently missing."""
    attempted = rows["denoise_quality"].notna() & (rows["denoise_quality"] != QUALITY_NO_TIMINGS)
    return attempted & rows["denoised_runtime_s"].isna()


def _method_counts(rows: pd.DataFrame) -> List[Tuple[str, float]]:
    """How many requests got idealized runtime by each method (the leaderboard shows the method)."""
    method = rows["method"] if "method" in rows else pd.Series(dtype=object)
    return [(f"efficiency_num_{m}_requests", float((method == m).sum())) for m in METHODS] + [
        (name, float(served.sum())) for name, served in _served_methods(rows)]


def _served_methods(rows: pd.DataFrame) -> List[Tuple[str, pd.Series]]:
    """(stat, rows whose served numbers came from the stack's simulated models by transfer / by size)."""
    from helm_efficiency.tables.served import METHOD_SIZE, METHOD_TRANSFER

    method = rows["served_method"].fillna("").astype(str) if "served_method" in rows else pd.Series("", index=rows.index)
    return [("efficiency_num_served_transfer_requests", method.str.startswith(METHOD_TRANSFER)),
            ("efficiency_num_served_size_only_requests", method.str.startswith(METHOD_SIZE))]


def _concurrency(rows: pd.DataFrame) -> List[Tuple[str, float]]:
    """The deployment's mean requests in flight, where its timestamps could tell."""
    if "concurrency" not in rows:
        return []
    measured = pd.to_numeric(rows["concurrency"], errors="coerce").dropna()
    return [("efficiency_concurrency", float(measured.iloc[0]))] if len(measured) else []


def suite_run_count_values(rows: pd.DataFrame, run: np.ndarray, runs: int) -> List[List[Tuple[str, List[Tuple[str, float]]]]]:
    """run_count_values of every (run, split) of a suite's requests table in one vectorized
    pass: for each run code 0..runs-1, [(split, counts)] for its splits in sorted order (a
    missing split is "test"), each counts list as run_count_values gives it for that group.
    `run`: each row's run code. The same rules column by column (tests/test_rescore_golden.py
    checks the files; tests/test_aggregate.py the values against run_count_values)."""
    n = len(rows)
    run = np.asarray(run, np.int64)
    split_codes, splits = pd.factorize(rows["split"].fillna("test"), sort=True)
    width = max(len(splits), 1)
    group = run * width + split_codes
    size = runs * width

    def count(mask: ArrayLike) -> np.ndarray:
        return np.bincount(group[np.asarray(mask, bool)], minlength=size)

    status = rows["status"]
    quality = rows["denoise_quality"]
    attempted = (quality.notna() & (quality != QUALITY_NO_TIMINGS)).to_numpy()
    not_ok = attempted & (quality != QUALITY_OK).to_numpy()
    used = rows["used_in_denoise_fit"]
    used_sum = (np.bincount(group, weights=used.to_numpy(float), minlength=size) if used.dtype == bool
                else None)  # an unusual dtype: summed per group as pandas sums it, below
    columns = [
        ("efficiency_num_requests", count(np.ones(n, bool))),
        ("efficiency_num_cached_requests", count(status == STATUS_CACHED)),
        ("efficiency_num_cold_requests", count(status == STATUS_COLD)),
        ("efficiency_num_failed_requests", count(status == STATUS_FAILED)),
        ("efficiency_num_untimed_requests", count(status.isin([STATUS_MISSING_TIME, STATUS_INVALID_TIME]))),
        ("efficiency_num_unestimated_requests", count(rows["idealized_runtime_s"].isna())),
        ("efficiency_num_extrapolated_requests", count(rows["extrapolated"].fillna(False).astype(bool))),
        ("efficiency_num_denoise_fit_requests", used_sum),
        ("efficiency_num_undenoised_requests", count(_undenoised(rows))),
        ("efficiency_num_denoised_above_raw_requests", count(_flag(rows, "denoised_above_raw"))),
        ("efficiency_num_approximate_token_requests", count(_flag(rows, "approximate_tokens"))),
        ("efficiency_num_unserved_requests", count(rows["served_gpu_s"].isna() if "served_gpu_s" in rows else np.ones(n, bool))),
        ("efficiency_num_batched_requests", count(_flag(rows, "batched"))),
        ("efficiency_num_media_requests", count(has_media(rows))),
    ]
    method = rows["method"] if "method" in rows else pd.Series([None] * n, index=rows.index, dtype=object)
    columns += [(f"efficiency_num_{m}_requests", count(method == m)) for m in METHODS]
    columns += [(name, count(served)) for name, served in _served_methods(rows)]
    sizes = count(np.ones(n, bool))
    any_attempted, any_not_ok = count(attempted) > 0, count(not_ok) > 0
    concurrency = None
    if "concurrency" in rows:
        measured = pd.to_numeric(rows["concurrency"], errors="coerce").to_numpy(float)
        finite = np.flatnonzero(~np.isnan(measured))
        concurrency = np.full(size, np.nan)
        concurrency[group[finite][::-1]] = measured[finite][::-1]  # the last write is each group's first value
        has_concurrency = count(~np.isnan(measured)) > 0
    out: List[List[Tuple[str, List[Tuple[str, float]]]]] = [[] for _ in range(runs)]
    for g in np.flatnonzero(sizes):
        r, s = divmod(int(g), width)
        if used_sum is None:
            members = np.flatnonzero(group == g)
            used_value = float(used.iloc[members].sum())
        values = [(name, float(v[g]) if v is not None else used_value) for name, v in columns]
        if any_attempted[g]:
            values.append(("efficiency_denoise_underdetermined", float(any_not_ok[g])))
        if concurrency is not None and has_concurrency[g]:
            values.append(("efficiency_concurrency", float(concurrency[g])))
        out[r].append((splits[s], values))
    return out
