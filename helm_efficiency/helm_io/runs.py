"""Read HELM run folders (benchmark_output/runs/SUITE/RUN/) with errors that name the file."""

import fnmatch
import os
from typing import Any, Dict, List, Optional

import orjson

from helm_efficiency.errors import EfficiencyInputError

RUN_SPEC = "run_spec.json"
SCENARIO_STATE = "scenario_state.json"
STATS = "stats.json"
PER_INSTANCE_STATS = "per_instance_stats.json"
REQUESTS_TABLE = "efficiency_requests.csv"  # the suite-level requests table rescore writes
RUN_METADATA = "efficiency_metadata.json"  # per run: what rescore used (reference stacks, filled HELM stats)
PREFERRED_SPLITS = ("test", "valid", None)


def read_json(path: str, field: str = "<file>") -> Any:
    try:
        with open(path, "rb") as f:
            return orjson.loads(f.read())
    except FileNotFoundError:
        raise EfficiencyInputError(path, field, "file is missing")
    except orjson.JSONDecodeError as e:
        raise EfficiencyInputError(path, field, f"invalid or truncated JSON ({e})")


def list_run_dirs(suite_dir: str, pattern: str = "*") -> List[str]:
    """Run folders (those holding a run_spec.json or scenario_state.json) matching `pattern`, sorted."""
    if not os.path.isdir(suite_dir):
        raise EfficiencyInputError(suite_dir, "<folder>", "no such suite folder")
    runs = []
    for name in sorted(os.listdir(suite_dir)):
        path = os.path.join(suite_dir, name)
        if not os.path.isdir(path) or not fnmatch.fnmatch(name, pattern):
            continue
        if os.path.exists(os.path.join(path, RUN_SPEC)) or os.path.exists(os.path.join(path, SCENARIO_STATE)):
            runs.append(path)
    return runs


def run_spec_of(run_dir: str) -> Dict[str, Any]:
    spec = read_json(os.path.join(run_dir, RUN_SPEC))
    if not isinstance(spec, dict) or "adapter_spec" not in spec:
        raise EfficiencyInputError(os.path.join(run_dir, RUN_SPEC), "adapter_spec", "missing")
    return spec


def model_deployment_of(run_spec: Dict[str, Any]) -> str:
    adapter = run_spec.get("adapter_spec", {})
    return adapter.get("model_deployment") or adapter.get("model") or "unknown"


def scenario_of(run_spec: Dict[str, Any]) -> str:
    return str(run_spec.get("name", "")).split(":")[0]


def stat_means(stats: List[Dict[str, Any]]) -> Dict[str, float]:
    """{stat name: mean} for one split (test, else valid, else no split), unperturbed stats only."""
    by_split: Dict[Optional[str], Dict[str, float]] = {}
    for stat in stats:
        name = stat.get("name", {})
        if name.get("perturbation") is not None:
            continue
        if name.get("sub_split") is not None:
            continue
        if stat.get("count", 0) and stat.get("mean") is not None:
            by_split.setdefault(name.get("split"), {})[name.get("name")] = float(stat["mean"])
    for split in PREFERRED_SPLITS:
        if split in by_split:
            return by_split[split]
    return next(iter(by_split.values()), {})
