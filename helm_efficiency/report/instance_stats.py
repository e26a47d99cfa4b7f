"""Per-instance values of a suite's runs, from HELM's per_instance_stats.json, for the leaderboard's bootstrap.

One row per (run, instance): the capability metric's value (mean over train trials) and, per
efficiency stat asked for, the instance's total over its requests and their number (means over
trials). Only unperturbed instances of one split (test, else valid, else none: as stats.json is
read) are kept. Read by helm_io/decoders' typed reader, as rescore reads the file.
"""

import os
import re
from typing import Dict, Mapping, Optional

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.decoders import read_per_instance_stats
from helm_efficiency.helm_io.runs import PER_INSTANCE_STATS, PREFERRED_SPLITS

MODEL_ARGS = re.compile(r"(?:(?<=[:,])|^)(?:model|model_deployment)=[^,]*,?")


def stratum_key(run: str) -> str:
    """The run's name without its model: runs of one scenario and subject share it across models."""
    return MODEL_ARGS.sub("", run).rstrip(",:") if ":" in run else run


def run_instances(run_dir: str, metric: str, stats: Mapping[str, str] = {}) -> Optional[pd.DataFrame]:
    """Columns instance_id, capability, then per `stats` item (column → stat name) `column`
    (the instance's total) and `column_n` (its requests). None when the run has no
    per_instance_stats.json; an unreadable file raises EfficiencyInputError naming it."""
    path = os.path.join(run_dir, PER_INSTANCE_STATS)
    if not os.path.exists(path):
        return None
    wanted = {metric: "capability", **{stat: column for column, stat in stats.items()}}
    rows = []
    for entry in read_per_instance_stats(path):
        if entry.perturbation is not None or entry.instance_id is None:
            continue
        for stat in entry.stats:
            name = stat.name
            if name.name in wanted and name.perturbation is None and name.sub_split is None and stat.count and stat.sum is not None:
                rows.append((entry.instance_id, entry.train_trial_index, name.split, wanted[name.name], float(stat.sum), float(stat.count)))
    if not rows:
        return pd.DataFrame(columns=["instance_id", "capability"])
    long = pd.DataFrame(rows, columns=["instance_id", "trial", "split", "quantity", "sum", "count"])
    splits = set(long.loc[long["quantity"] == "capability", "split"]) or set(long["split"])
    split = next((s for s in PREFERRED_SPLITS if s in splits), next(iter(splits)))
    long = long[long["split"].isna()] if split is None else long[long["split"] == split]
    long = long.assign(mean=long["sum"] / long["count"])
    per_trial = long.groupby(["instance_id", "quantity"])[["mean", "sum", "count"]].mean()  # over train trials
    means = per_trial["mean"].unstack("quantity")
    out = pd.DataFrame({"capability": means["capability"] if "capability" in means else np.nan}, index=means.index)
    for column in stats:
        if column in per_trial.index.get_level_values("quantity"):
            out[column] = per_trial["sum"].xs(column, level="quantity").reindex(out.index)
            out[f"{column}_n"] = per_trial["count"].xs(column, level="quantity").reindex(out.index)
        else:
            out[column], out[f"{column}_n"] = np.nan, np.nan
    return out.reset_index()


def suite_instances(suite_dir: str, runs: pd.DataFrame, stats: Mapping[str, str]) -> Dict[str, object]:
    """{run: its per-instance table, or the reason it has none (a string)} for every run in
    `runs` (which names each run's folder, `run`, and capability `metric`)."""
    out: Dict[str, object] = {}
    for run, metric in zip(runs["run"], runs["metric"]):
        if not isinstance(metric, str):
            out[run] = "no capability metric"
            continue
        try:
            table = run_instances(os.path.join(suite_dir, run), metric, stats)
        except EfficiencyInputError as e:
            out[run] = f"unreadable per-instance stats ({e})"
            continue
        out[run] = table if table is not None else f"no {PER_INSTANCE_STATS}"
    return out


def instance_count_note(found: int, expected: Optional[float], metric: str) -> Optional[str]:
    """Why a run's per-instance values cannot stand for it: none of its metric, or fewer
    instances than its stats.json counts (a trimmed copy, say)."""
    if found == 0:
        return f"{PER_INSTANCE_STATS} has no {metric} values"
    if expected is not None and np.isfinite(expected) and found < round(expected):
        return f"{PER_INSTANCE_STATS} lists {found} of its {int(round(expected))} instances"
    return None
