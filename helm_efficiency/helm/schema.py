"""A helm-summarize schema with our metrics: HELM's schema plus an `efficiency_plugin` group.

    helm-efficiency schema -o schema_efficiency.yaml            # from HELM's schema_classic.yaml
    helm-summarize --suite my-suite --schema-path schema_efficiency.yaml

Every scenario's run group gets `efficiency_plugin` right after its first (accuracy) metric
group, so helm-server shows our numbers next to accuracy on each scenario's page. A page that gathers several
scenarios (a group with subgroups) leaves our tab out (`subgroup_metric_groups_hidden`): there
helm-server prefixes each column with the scenario's name and cuts headers at 27 characters, so
raw, denoised and idealized runtime could not be told apart. Our headers are at most 27
characters (StatSpec.short_display_name). (`helm-summarize --auto-generate-schema` picks our
metadata up from the metric class, but makes no run group for scenarios that do not describe
themselves, such as synthetic_reasoning: use this schema.)
"""

import os
from typing import Any, Dict, Optional, cast

import yaml

from helm_efficiency.util.atomic import write_text_atomic
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.catalog import classic_schema
from helm_efficiency.helm.metric_names import SCHEMA_GROUP_STATS, metadata_fields

GROUP = "efficiency_plugin"
# The group's columns, per scenario: the numbers, the idealized 90% interval, and the counts
# that explain a blank cell (HELM shows numbers only, so the reason is a count: requests served
# from the cache, requests no table covers, a denoising fit that is not ok).
GROUP_METRICS = tuple(s.name for s in SCHEMA_GROUP_STATS)


def efficiency_schema(base_path: Optional[str] = None) -> Dict[str, Any]:
    """HELM's schema (`base_path`: a YAML file, or the short name of a schema HELM ships, e.g.
    `safety`, `medhelm`, `lite`; default classic) with our metrics and efficiency group added."""
    if base_path and not os.path.exists(base_path):
        from importlib import resources

        shipped = resources.files("helm.benchmark.static").joinpath(f"schema_{base_path}.yaml")
        if shipped.is_file():
            base_path = str(shipped)
    if base_path:
        try:
            with open(base_path) as f:
                schema = yaml.safe_load(f)
        except OSError as e:
            raise EfficiencyInputError(base_path, "--base", f"cannot read the schema to extend ({e.strerror})")
        except yaml.YAMLError as e:
            raise EfficiencyInputError(base_path, "--base", f"not valid YAML ({e})")
        if not isinstance(schema, dict):
            raise EfficiencyInputError(base_path, "--base", "not a HELM schema (expected a mapping with metrics and metric_groups)")
    else:
        schema = classic_schema()
    known = {m["name"] for m in schema.get("metrics", [])}
    for fields in metadata_fields():
        if fields["name"] not in known:
            entry = {k: v for k, v in fields.items() if k in ("name", "display_name", "short_display_name", "description", "lower_is_better")
                     and v is not None}
            schema.setdefault("metrics", []).append(entry)
    groups = [g for g in schema.get("metric_groups", []) if g["name"] != GROUP]
    groups.append({"name": GROUP, "display_name": "Efficiency (helm-efficiency)",
                   "description": "Raw, denoised and idealized runtime per request (with the idealized 90% interval), idealized energy "
                                  "and cost (USD per million requests), served cost, and the counts that explain a blank cell: cached requests (stale timings: no raw or "
                                  "denoised runtime), requests no reference table covers (no idealized runtime), and 1 where the "
                                  "denoising fit was not ok (helm-efficiency plugin).",
                   "metrics": [{"name": name, "split": "${main_split}"} for name in GROUP_METRICS]})
    schema["metric_groups"] = groups
    for run_group in schema.get("run_groups", []):
        if run_group.get("metric_groups") and not run_group.get("subgroups") and GROUP not in run_group["metric_groups"]:
            run_group["metric_groups"].insert(1, GROUP)  # right after the main (accuracy) group: seen without scrolling
        if run_group.get("subgroups") and GROUP not in (run_group.get("subgroup_metric_groups_hidden") or []):
            run_group["subgroup_metric_groups_hidden"] = list(run_group.get("subgroup_metric_groups_hidden") or []) + [GROUP]
    return cast(Dict[str, Any], schema)  # a mapping: checked above, or HELM's classic schema


def write_schema(output_path: str, base_path: Optional[str] = None) -> None:
    write_text_atomic(output_path, yaml.safe_dump(efficiency_schema(base_path), sort_keys=False, allow_unicode=True))
    print(f"wrote {output_path}; use: helm-summarize --suite SUITE --schema-path {output_path}")
