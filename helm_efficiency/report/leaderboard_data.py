"""Per-run capability and efficiency numbers read from a suite's stats.json files.

Capability per run is `--metric` or, with `auto` (the default), the main metric HELM's schema
gives the run's group (`environment.main_name` in schema_classic.yaml: F1 for question
answering, quasi-exact match for classification, ...). The reference stack of each run comes
from the efficiency MetricSpec in its run_spec.json or, for re-scored suites, from
SUITE/efficiency_requests.csv; the method from the efficiency_num_<method>_requests counts.
"""

import os
from functools import lru_cache
from typing import Dict, Optional

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm.metric_names import METHODS, METRIC_CLASS
from helm_efficiency.runs import REQUESTS_TABLE, STATS, list_run_dirs, model_deployment_of, read_json, run_spec_of, scenario_of, stat_means

EFFICIENCY_STATS = {
    "raw_runtime_s": "efficiency_raw_runtime_s",
    "denoised_runtime_s": "efficiency_denoised_runtime_s",
    "idealized_runtime_s": "efficiency_idealized_runtime_s",
    "idealized_energy_j": "efficiency_idealized_energy_j",
    "idealized_cost_usd": "efficiency_idealized_cost_usd",
}
AUTO_METRIC = "auto"
FALLBACK_METRIC = "exact_match"  # for runs whose group HELM's schema does not list


@lru_cache(maxsize=1)
def main_metrics() -> Dict[str, str]:
    """Run group → its main metric, from HELM's schema_classic.yaml (read as data)."""
    from helm_efficiency.helm_catalog import classic_schema

    return {g["name"]: g["environment"]["main_name"] for g in classic_schema().get("run_groups", [])
            if (g.get("environment") or {}).get("main_name")}


def main_metric_of(run_spec: dict) -> str:
    """The main metric of the first of the run's groups that HELM's schema describes."""
    table = main_metrics()
    return next((table[g] for g in run_spec.get("groups") or [] if g in table), FALLBACK_METRIC)


def stack_of(run_spec: dict) -> Optional[str]:
    """The reference tables the run's efficiency metric searched ('+'-joined), if it had one."""
    for spec in run_spec.get("metric_specs") or []:
        if spec.get("class_name") == METRIC_CLASS:
            return str((spec.get("args") or {}).get("tables") or "")
    return None


def _rescored_stacks(suite_dir: str) -> Dict[str, str]:
    """Run folder → the reference hardware its re-scored requests used (SUITE/efficiency_requests.csv)."""
    path = os.path.join(suite_dir, REQUESTS_TABLE)
    if not os.path.exists(path):
        return {}
    table = pd.read_csv(path, usecols=lambda c: c in ("run", "reference_hardware"))
    if not {"run", "reference_hardware"} <= set(table.columns):
        return {}
    table = table.dropna()
    return {run: "+".join(sorted(set(rows["reference_hardware"].astype(str)))) for run, rows in table.groupby("run")}


def suite_run_table(suite_dir: str, metric: str = AUTO_METRIC) -> pd.DataFrame:
    """One row per run: model, scenario, the capability metric used and its value, each efficiency
    mean, the reference stack and method. Unreadable runs are listed with their error."""
    rows, seen_metrics = [], set()
    rescored = _rescored_stacks(suite_dir)
    for run_dir in list_run_dirs(suite_dir):
        run = os.path.basename(run_dir)
        row: dict = {"run": run}
        try:
            spec = run_spec_of(run_dir)
            means = stat_means(read_json(os.path.join(run_dir, STATS)))
        except EfficiencyInputError as e:
            row["error"] = str(e)
            rows.append(row)
            continue
        seen_metrics.update(means)
        used = main_metric_of(spec) if metric == AUTO_METRIC else metric
        row.update(model=model_deployment_of(spec), scenario=scenario_of(spec), metric=used, accuracy=means.get(used))
        for column, stat in EFFICIENCY_STATS.items():
            row[column] = means.get(stat)
        row["num_unestimated_requests"] = means.get("efficiency_num_unestimated_requests")
        row["has_efficiency_stats"] = "efficiency_num_requests" in means
        row["stack"] = rescored.get(run) or stack_of(spec)
        counts = {m: means.get(f"efficiency_num_{m}_requests") or 0 for m in METHODS}
        row["method"] = max(counts, key=counts.get) if any(counts.values()) else None
        rows.append(row)
    table = pd.DataFrame(rows)
    if metric != AUTO_METRIC and rows and metric not in seen_metrics:
        names = sorted(n for n in seen_metrics if not n.startswith("efficiency_"))
        raise EfficiencyInputError(suite_dir, "--metric", f"{metric!r} is in no run's stats; the runs have: {', '.join(names[:40])}"
                                   + (" ..." if len(names) > 40 else ""))
    return table
