"""Write the leaderboard's per-scenario uncertainty into each run's stats.json (atomically), so
helm-summarize and helm-server show them in the efficiency group (helm/schema.py).

Each run of a (model, scenario) gets its scenario's values as one-count HELM Stats in the split
its main metric was read from. Values written by an earlier call are replaced; a value the
draws cannot give is left out (helm-server shows a blank).
"""

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from helm_efficiency.util.atomic import write_text_atomic
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.runs import PREFERRED_SPLITS, STATS, read_json

# Per-scenario column (summarize_scenarios) → the stat it is written as.
STAT_NAMES: Dict[str, str] = {
    "capability_lo": "efficiency_capability_lo",
    "capability_hi": "efficiency_capability_hi",
    "capability_rank_lo": "efficiency_capability_rank_lo",
    "capability_rank_hi": "efficiency_capability_rank_hi",
    "pareto_probability": "efficiency_pareto_probability",
    "idealized_cost_usd_per_correct": "efficiency_cost_per_correct_usd",
    "idealized_cost_usd_per_correct_lo": "efficiency_cost_per_correct_lo_usd",
    "idealized_cost_usd_per_correct_hi": "efficiency_cost_per_correct_hi_usd",
    "served_cost_usd_per_correct": "efficiency_served_cost_per_correct_usd",
    "served_cost_usd_per_correct_lo": "efficiency_served_cost_per_correct_lo_usd",
    "served_cost_usd_per_correct_hi": "efficiency_served_cost_per_correct_hi_usd",
}


def _split(stats: List[Dict[str, Any]], metric: Optional[str]) -> Optional[str]:
    """The split the run's main metric is read from (test, else valid, else none)."""
    splits = {s.get("name", {}).get("split") for s in stats if s.get("name", {}).get("name") == metric}
    return next((s for s in PREFERRED_SPLITS if s in splits), "test")


def _stat(name: str, split: Optional[str], value: float) -> Dict[str, Any]:
    stat_name = {"name": name, **({"split": split} if split is not None else {})}
    return {"name": stat_name, "count": 1, "sum": value, "sum_squared": value * value, "min": value, "max": value, "mean": value,
            "variance": 0.0, "stddev": 0.0}


def write_uncertainty_stats(suite_dir: str, runs: pd.DataFrame, scenario_rows: pd.DataFrame) -> int:
    """Write each run's scenario values; returns how many runs were written. A run whose
    stats.json cannot be read is skipped with a message (the others are still written)."""
    ours = set(STAT_NAMES.values())
    by_key = {(r["model"], r["scenario"]): r for _, r in scenario_rows.iterrows()} if len(scenario_rows) else {}
    written = 0
    for _, run in runs.iterrows():
        row = by_key.get((run.get("model"), str(run.get("scenario"))))
        if row is None or not isinstance(run.get("run"), str):
            continue
        path = os.path.join(suite_dir, run["run"], STATS)
        try:
            stats = read_json(path)
            if not isinstance(stats, list):
                raise EfficiencyInputError(path, "<file>", "not a list of stats")
        except EfficiencyInputError as e:
            print(f"warning: uncertainty stats not written: {e}")
            continue
        split = _split(stats, run.get("metric"))
        kept = [s for s in stats if s.get("name", {}).get("name") not in ours]
        new = [_stat(name, split, float(row[column])) for column, name in STAT_NAMES.items()
               if column in row and row[column] is not None and np.isfinite(float(row[column]))]
        write_text_atomic(path, json.dumps(kept + new, indent=2))
        written += 1
    return written
