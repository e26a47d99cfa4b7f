"""Pareto flags and ranks for capability (higher is better, unless its metric says lower) against a cost (lower is better)."""

import numpy as np
import pandas as pd


def pareto_optimal(capability: pd.Series, cost: pd.Series, lower_is_better: bool = False) -> pd.Series:
    """True where no other row has a capability at least as good and cost ≤ with one of them
    strict. Capability is better when higher, or when lower with `lower_is_better` (a metric
    such as toxic_frac, as its schema says).

    Rows missing either value are not judged (<NA>) and never dominate others. Exact ties
    (same capability and cost) are all optimal.
    """
    cap = pd.to_numeric(capability, errors="coerce").to_numpy(float) * (-1.0 if lower_is_better else 1.0)
    cst = pd.to_numeric(cost, errors="coerce").to_numpy(float)
    valid = np.isfinite(cap) & np.isfinite(cst)
    result = pd.Series(pd.NA, index=capability.index, dtype="boolean")
    for i in np.flatnonzero(valid):
        others = valid.copy()
        others[i] = False
        dominated = others & (cap >= cap[i]) & (cst <= cst[i]) & ((cap > cap[i]) | (cst < cst[i]))
        result.iloc[i] = not dominated.any()
    return result


def rank_lower_better(values: pd.Series) -> pd.Series:
    """1 = lowest value; ties share the best rank ('min'); missing values stay missing."""
    return pd.to_numeric(values, errors="coerce").rank(method="min", ascending=True).astype("Int64")


def rank_correlation(a: pd.Series, b: pd.Series) -> float:
    """Spearman rank correlation over rows where both are present (NaN if fewer than 3)."""
    both = pd.concat([pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")], axis=1).dropna()
    if len(both) < 3:
        return float("nan")
    return float(both.iloc[:, 0].rank().corr(both.iloc[:, 1].rank()))
