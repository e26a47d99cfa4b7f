"""Per-run capability and efficiency numbers read from a suite's stats.json files."""

import os

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.runs import STATS, list_run_dirs, model_deployment_of, read_json, run_spec_of, scenario_of, stat_means

EFFICIENCY_STATS = {
    "raw_runtime_s": "efficiency_raw_runtime_s",
    "denoised_runtime_s": "efficiency_denoised_runtime_s",
    "idealized_runtime_s": "efficiency_idealized_runtime_s",
    "idealized_energy_j": "efficiency_idealized_energy_j",
    "idealized_cost_usd": "efficiency_idealized_cost_usd",
}


def suite_run_table(suite_dir: str, metric: str = "exact_match") -> pd.DataFrame:
    """One row per run: model, scenario, the capability metric and each efficiency mean.
    Unreadable runs are listed with their error instead of numbers."""
    rows = []
    for run_dir in list_run_dirs(suite_dir):
        row = {"run": os.path.basename(run_dir)}
        try:
            spec = run_spec_of(run_dir)
            means = stat_means(read_json(os.path.join(run_dir, STATS)))
        except EfficiencyInputError as e:
            row["error"] = str(e)
            rows.append(row)
            continue
        row.update(model=model_deployment_of(spec), scenario=scenario_of(spec), accuracy=means.get(metric))
        for column, stat in EFFICIENCY_STATS.items():
            row[column] = means.get(stat)
        row["num_unestimated_requests"] = means.get("efficiency_num_unestimated_requests")
        row["has_efficiency_stats"] = "efficiency_num_requests" in means
        rows.append(row)
    return pd.DataFrame(rows)
