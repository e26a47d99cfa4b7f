"""Per-run capability and efficiency numbers read from a suite's stats.json files.

Capability per run is `--metric` or, with `auto` (the default), the main metric of the run's
group (`environment.main_name`) in the schema the suite was made with: `--schema` files, then
schema files in the suite folder, then every schema HELM ships (classic first, then lite,
MedHELM, safety, capabilities, ...), the first that describes the group winning. Its direction
(`lower_is_better`) comes from the first of those schemas that lists the metric. The reference
stack of each run comes from RUN/efficiency_metadata.json (written by the live metric and by rescore), else the
efficiency MetricSpec in its run_spec.json, else SUITE/efficiency_requests.csv; the method
from the efficiency_num_<method>_requests counts.
"""

import glob
import os
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, cast

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm.metric_names import LEADERBOARD_STATS, METHODS, METRIC_CLASS
from helm_efficiency.report.board_uncertainty import INTERVAL_COLUMNS, STAT_OF_COLUMN
from helm_efficiency.helm.run_metadata import read_metadata
from helm_efficiency.helm_io.runs import (REQUESTS_TABLE, STATS, list_run_dirs, model_deployment_of, read_json, run_spec_of,
                                  scenario_of, stat_means)

# requests-table column → stat name (every leaderboard stat is a per-request one, with a column)
EFFICIENCY_STATS = cast(Dict[str, str], {s.column: s.name for s in LEADERBOARD_STATS})
AUTO_METRIC = "auto"
FALLBACK_METRIC = "exact_match"  # for runs whose group HELM's schema does not list


def suite_schema_files(suite_dir: str) -> Tuple[str, ...]:
    """Schema files kept with a suite: SUITE/schema*.yaml|json and benchmark_output/schema*.yaml."""
    found = []
    for folder in (suite_dir, os.path.dirname(os.path.dirname(os.path.abspath(suite_dir)))):
        for pattern in ("schema*.yaml", "schema*.yml", "schema*.json"):
            found += sorted(glob.glob(os.path.join(folder, pattern)))
    return tuple(found)


@lru_cache(maxsize=8)
def main_metrics(schema_files: Tuple[str, ...] = ()) -> Dict[str, str]:
    """Run group → its main metric: from `schema_files` (YAML or JSON) in order, then every
    schema HELM ships (helm_catalog.helm_schemas); the first that describes a group wins."""
    from helm_efficiency.helm_io.catalog import helm_schemas, read_schema_file

    table: Dict[str, str] = {}
    for schema in [read_schema_file(path) for path in schema_files] + helm_schemas():
        for group in schema.get("run_groups") or []:
            main = (group.get("environment") or {}).get("main_name") if isinstance(group, dict) else None
            if main and group.get("name"):
                table.setdefault(group["name"], main)
    return table


@lru_cache(maxsize=8)
def metric_directions(schema_files: Tuple[str, ...] = ()) -> Dict[str, Tuple[bool, str]]:
    """Metric → (lower_is_better, the schema that says so): from `schema_files` in order, then
    every schema HELM ships; the first schema that lists the metric wins (HELM's default,
    higher is better, where it leaves lower_is_better out)."""
    from helm_efficiency.helm_io.catalog import helm_schema_files, helm_schemas, read_schema_file

    named = [(read_schema_file(path), os.path.basename(path)) for path in schema_files]
    named += list(zip(helm_schemas(), [f"HELM's {name}" for name in helm_schema_files()]))
    table: Dict[str, Tuple[bool, str]] = {}
    for schema, name in named:
        for metric in schema.get("metrics") or []:
            if isinstance(metric, dict) and metric.get("name"):
                table.setdefault(metric["name"], (bool(metric.get("lower_is_better")), name))
    return table


def main_metric_of(run_spec: Dict[str, Any], schema_files: Tuple[str, ...] = ()) -> str:
    """The main metric of the first of the run's groups that a schema describes."""
    table = main_metrics(tuple(schema_files))
    return next((table[g] for g in run_spec.get("groups") or [] if g in table), FALLBACK_METRIC)


def stack_of(run_spec: Dict[str, Any]) -> Optional[str]:
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


def _metadata_stack(meta: Dict[str, Any]) -> Optional[str]:
    """The reference stacks a rescore used for a run ('+'-joined), from its metadata."""
    stacks = meta.get("reference_stacks")
    return "+".join(stacks) if stacks else None


def suite_run_table(suite_dir: str, metric: str = AUTO_METRIC, schema_files: Sequence[str] = ()) -> pd.DataFrame:
    """One row per run: model, scenario, the capability metric used and its value, each efficiency
    mean, the reference stack and method. Unreadable runs are listed with their error.
    schema_files: schemas to read main metrics from before the suite's own and HELM's."""
    rows: List[Dict[str, Any]] = []
    seen_metrics: Set[str] = set()
    rescored = _rescored_stacks(suite_dir)
    schemas = tuple(schema_files) + suite_schema_files(suite_dir)
    for run_dir in list_run_dirs(suite_dir):
        run = os.path.basename(run_dir)
        row: Dict[str, Any] = {"run": run}
        try:
            spec = run_spec_of(run_dir)
            means = stat_means(read_json(os.path.join(run_dir, STATS)))
        except EfficiencyInputError as e:
            row["error"] = str(e)
            rows.append(row)
            continue
        seen_metrics.update(means)
        used = metric
        if metric == AUTO_METRIC:
            used = main_metric_of(spec, schemas)
            # Older suites name a group's main stat after the group (HELM Safety v3's harm_bench_score,
            # sst_score where today's schema says safety_score): when the schema's name is absent, the
            # shortest stat ending in the same word stands in (the metric column says which).
            if used not in means:
                suffix = "_" + used.split("_")[-1]
                older = sorted((m for m in means if m.endswith(suffix) and not m.startswith("efficiency_")), key=lambda m: (len(m), m))
                used = older[0] if older else used
        row.update(model=model_deployment_of(spec), scenario=scenario_of(spec), metric=used, accuracy=means.get(used))
        row["lower_is_better"], row["direction_source"] = metric_directions(schemas).get(used, (False, None))
        for column, stat in EFFICIENCY_STATS.items():
            row[column] = means.get(stat)
        row["num_unestimated_requests"] = means.get("efficiency_num_unestimated_requests")
        row["num_media_requests"] = means.get("efficiency_num_media_requests")
        row["num_instances"] = means.get("num_instances")  # HELM's count, to tell a complete per_instance_stats.json
        for column in INTERVAL_COLUMNS:  # the stored 90% intervals the leaderboard's draws start from
            row[column] = means.get(STAT_OF_COLUMN[column])
        row["has_efficiency_stats"] = "efficiency_num_requests" in means
        meta = read_metadata(run_dir)
        # A run's own record says which stacks its numbers came from (none: no request estimated),
        # even where the run entry named other tables; older runs fall back to the requests table or the spec.
        row["stack"] = _metadata_stack(meta) if "reference_stacks" in meta else (rescored.get(run) or stack_of(spec))
        row["served_sla"] = meta.get("served_sla")
        for field, column in (("unestimated_reasons", "unestimated_reason"), ("unserved_reasons", "unserved_reason")):
            reasons = meta.get(field) or {}  # the run's most frequent reason
            row[column] = max(sorted(reasons), key=reasons.__getitem__) if isinstance(reasons, dict) and reasons else None
        counts = {m: means.get(f"efficiency_num_{m}_requests") or 0 for m in METHODS}
        row["method"] = max(counts, key=counts.__getitem__) if any(counts.values()) else None
        rows.append(row)
    table = pd.DataFrame(rows)
    if metric != AUTO_METRIC and rows and metric not in seen_metrics:
        names = sorted(n for n in seen_metrics if not n.startswith("efficiency_"))
        raise EfficiencyInputError(suite_dir, "--metric", f"{metric!r} is in no run's stats; the runs have: {', '.join(names[:40])}"
                                   + (" ..." if len(names) > 40 else ""))
    return table
