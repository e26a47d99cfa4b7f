"""Re-score past runs: efficiency stats for an existing benchmark_output suite, no model calls.

Work unit = one run folder, so the per-run phases are a plain map that runs here, on a local
process pool or on Dask (helm_efficiency/executors.py, `--executor`, `--address`):

  1. read   (per run)   run_spec.json + scenario_state.json + HELM's per-instance token counts
                        → requests table, with the same rules as the HELM metric
  2. fit    (per suite) denoise per deployment, pooled over all runs; idealized estimates
  3. write  (per run)   our stats into stats.json and per_instance_stats.json, HELM's format

Writes are atomic per file (temp + fsync + rename) and per run (a journal file lists the
pending renames; a rescore finding one rolls it forward), and the first change to a run keeps
HELM's originals as `*.orig`. Our stats (names starting `efficiency_`) are replaced on every
rescore, never duplicated; HELM's own stats are never touched.
"""

import gc
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import orjson
import pandas as pd

from helm_efficiency.atomic import write_text_atomic
from helm_efficiency.efficiency import efficiency_columns
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.executors import map_ordered
from helm_efficiency.estimate import load_tables
from helm_efficiency.tables.names import DEFAULT_TABLE
from helm_efficiency.helm import aggregate
from helm_efficiency.helm.local_models import serving
from helm_efficiency.requests import EXCLUSION_STATUSES, perturbation_description_json, request_rows
from helm_efficiency.runs import PER_INSTANCE_STATS, REQUESTS_TABLE, RUN_SPEC, SCENARIO_STATE, STATS, list_run_dirs, model_deployment_of, read_json, run_spec_of

PREFIX = "efficiency_"
JOURNAL = ".efficiency_rescore.journal"


@dataclass
class RunRead:
    run_dir: str
    requests: Optional[pd.DataFrame] = None
    error: Optional[str] = None


# -- phase 1: read ------------------------------------------------------------------------------
def _prompt_token_counts(run_dir: str) -> Dict[tuple, int]:
    """HELM's own per-instance `num_prompt_tokens` (already tokenized by HELM), keyed like requests."""
    path = os.path.join(run_dir, PER_INSTANCE_STATS)
    if not os.path.exists(path):
        return {}
    counts = {}
    for entry in read_json(path):
        perturbation = (entry.get("perturbation") or {}).get("name")
        for stat in entry.get("stats", []):
            name = stat.get("name", {})
            if name.get("name") == "num_prompt_tokens" and name.get("perturbation") is None and stat.get("count"):
                counts[(entry.get("instance_id"), entry.get("train_trial_index", 0), perturbation)] = int(round(stat["sum"] / stat["count"]))
    return counts


@contextmanager
def without_cyclic_gc():
    """Pause Python's cyclic garbage collector while a run's JSON becomes millions of small
    objects (none in reference cycles): its repeated sweeps cost about as much as the parse
    (bench/rescore_speed.py). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_run(run_dir: str) -> RunRead:
    """Requests table of one run, or the reason it cannot be read. Never raises for bad input."""
    with without_cyclic_gc():
        return _read_run(run_dir)


def _read_run(run_dir: str) -> RunRead:
    try:
        spec = run_spec_of(run_dir)
        path = os.path.join(run_dir, SCENARIO_STATE)
        state = read_json(path)
        if not isinstance(state, dict) or not isinstance(state.get("request_states"), list):
            raise EfficiencyInputError(path, "request_states", "missing or not a list")
        counts = _prompt_token_counts(run_dir)
        deployment = model_deployment_of(spec)
        requests = request_rows(state["request_states"], helm_token_counter(deployment, path), prompt_token_counts=counts)
        requests.insert(0, "run", os.path.basename(run_dir))
        requests["model_deployment"] = requests["model_deployment"].fillna(deployment)
        requests["serving"] = serving(deployment)
        return RunRead(run_dir, requests=requests)
    except EfficiencyInputError as e:
        return RunRead(run_dir, error=str(e))


def helm_token_counter(deployment: str, source: str) -> Callable[[str], int]:
    """Count tokens with the deployment's HELM tokenizer, offline (HELM's own registry and
    tokenizer classes, no request cache). Used only where HELM's per-instance stats lack
    `num_prompt_tokens` or a completion lacks its `tokens`."""
    state: dict = {}

    def count(text: str) -> int:
        if "tokenizer" not in state:
            try:
                from helm.benchmark.config_registry import register_builtin_configs_from_helm_package
                from helm.benchmark.model_deployment_registry import get_model_deployment
                from helm.common.cache_backend_config import BlackHoleCacheBackendConfig
                from helm.tokenizers.auto_tokenizer import AutoTokenizer

                register_builtin_configs_from_helm_package()
                state["name"] = get_model_deployment(deployment).tokenizer_name
                state["tokenizer"] = AutoTokenizer({}, BlackHoleCacheBackendConfig())
            except Exception as e:  # unknown deployment, tokenizer not available offline, ...
                raise EfficiencyInputError(source, "num_prompt_tokens", f"not recorded by HELM, and no tokenizer for {deployment!r} ({e})")
        from helm.common.tokenization_request import TokenizationRequest

        return len(state["tokenizer"].tokenize(TokenizationRequest(text=text, tokenizer=state["name"])).tokens)

    return count


# -- phase 3: stats in HELM's format (helm/aggregate.py, shared with the live metric) ------------
def run_stats(rows: pd.DataFrame) -> Tuple[List[dict], Dict[tuple, List[dict]]]:
    """(aggregated stats, per-instance stats by (instance_id, trial, perturbation JSON)) as HELM's
    JSON dicts, run-level counts included (the same aggregate functions as the live metric)."""
    aggregated, per_instance = aggregate.run_stats(rows, aggregate.json_name)
    aggregated += aggregate.run_count_stats(rows, aggregate.json_name)
    stats = [aggregate.stat_dict(name, moments) for name, moments in aggregated]
    return stats, {key: [aggregate.stat_dict(name, moments) for name, moments in values] for key, values in per_instance.items()}


def _merged_stats(existing: List[dict], ours: List[dict]) -> List[dict]:
    return [s for s in existing if not str(s.get("name", {}).get("name", "")).startswith(PREFIX)] + ours


def _merged_per_instance(existing: List[dict], ours: Dict[tuple, List[dict]]) -> List[dict]:
    merged = []
    for entry in existing:
        key = (entry.get("instance_id"), entry.get("train_trial_index", 0), perturbation_description_json(entry.get("perturbation")))
        entry = dict(entry)
        entry["stats"] = _merged_stats(entry.get("stats", []), ours.get(key, []))
        merged.append(entry)
    return merged


# -- writing: atomic per file, roll-forward journal per run ---------------------------------------------
def commit_run_files(run_dir: str, contents: Dict[str, str]) -> None:
    """Replace several files of a run so that a crash leaves it fully old or (after recovery) fully new."""
    for name in contents:
        original = os.path.join(run_dir, name)
        if os.path.exists(original) and not os.path.exists(original + ".orig"):
            with open(original, "rb") as f:
                data = f.read()
            write_text_atomic(original + ".orig", data.decode("utf-8"))
    staged = {}
    for name, text in contents.items():
        temp = os.path.join(run_dir, f".{name}.efficiency-new")
        write_text_atomic(temp, text)
        staged[temp] = os.path.join(run_dir, name)
    write_text_atomic(os.path.join(run_dir, JOURNAL), json.dumps(staged))
    recover_run(run_dir)


def recover_run(run_dir: str) -> bool:
    """Finish an interrupted commit (roll forward). Returns True if there was one."""
    journal = os.path.join(run_dir, JOURNAL)
    if not os.path.exists(journal):
        for name in os.listdir(run_dir):  # staged files without a journal: the commit never began
            if name.endswith(".efficiency-new"):
                os.unlink(os.path.join(run_dir, name))
        return False
    with open(journal) as f:
        staged = json.load(f)
    for temp, target in staged.items():
        if os.path.exists(temp):
            os.replace(temp, target)
    os.unlink(journal)
    return True


def _dumps(obj) -> str:
    """JSON with 2-space indents like HELM's own files (orjson: the stdlib's indented encoder is slow)."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode("utf-8")


def write_run(run_dir: str, rows: pd.DataFrame) -> None:
    stats_path = os.path.join(run_dir, STATS)
    per_instance_path = os.path.join(run_dir, PER_INSTANCE_STATS)
    existing_stats = read_json(stats_path) if os.path.exists(stats_path) else []
    existing_per_instance = read_json(per_instance_path) if os.path.exists(per_instance_path) else []
    aggregated, per_instance = run_stats(rows)
    commit_run_files(
        run_dir,
        {
            STATS: _dumps(_merged_stats(existing_stats, aggregated)),
            PER_INSTANCE_STATS: _dumps(_merged_per_instance(existing_per_instance, per_instance)),
        },
    )


def _write_job(job: Tuple[str, pd.DataFrame]) -> Optional[str]:
    run_dir, rows = job
    try:
        with without_cyclic_gc():
            write_run(run_dir, rows)
        return None
    except (EfficiencyInputError, OSError) as e:
        return str(e)


# -- the verb ------------------------------------------------------------------------------------------
def rescore_suite(
    suite_dir: str,
    tables: Sequence[str] = (DEFAULT_TABLE,),
    pattern: str = "*",
    dry_run: bool = False,
    jobs: int = 1,
    power_w: Optional[float] = None,
    usd_per_gpu_hour: Optional[float] = None,
    progress: bool = True,
    executor: str = "local",
    address: Optional[str] = None,
) -> dict:
    """Re-score every run of a suite: read (in parallel), denoise per deployment over the whole
    suite and estimate (one step, on the concatenated requests tables), write (in parallel).
    `executor`/`address`/`jobs` choose where the per-run phases run (helm_efficiency/executors.py)."""

    def map_runs(fn, items, label):
        return map_ordered(fn, items, jobs, label if progress else "", executor, address, unit="run")

    runs = list_run_dirs(suite_dir, pattern)
    if not runs:
        raise EfficiencyInputError(suite_dir, "<folder>", _why_no_runs(suite_dir, pattern))
    if not dry_run:
        for run_dir in runs:
            recover_run(run_dir)
    clock = {"started": time.perf_counter()}
    reads = map_runs(read_run, runs, "reading runs")
    clock["read"] = time.perf_counter()
    failed = {os.path.basename(r.run_dir): r.error for r in reads if r.error}
    ok = [r for r in reads if r.requests is not None and len(r.requests)]
    skipped = {os.path.basename(r.run_dir): "no request states" for r in reads if r.requests is not None and not len(r.requests)}
    summary = {"runs": len(runs), "rescored": 0, "skipped": skipped, "failed": failed, "requests": 0, "excluded": {}}
    if ok:
        requests = pd.concat([r.requests for r in ok], ignore_index=True)
        table, reports = efficiency_columns(requests, load_tables(list(tables)), power_w, usd_per_gpu_hour)
        clock["fit"] = time.perf_counter()
        summary["requests"] = int(len(table))
        summary["excluded"] = {s: int((table["status"] == s).sum()) for s in EXCLUSION_STATUSES if (table["status"] == s).any()}
        summary["unestimated"] = int(table["idealized_runtime_s"].isna().sum())
        summary["denoise"] = reports
        if not dry_run:
            write_text_atomic(os.path.join(suite_dir, REQUESTS_TABLE), table.to_csv(index=False))
            clock["requests_csv"] = time.perf_counter()
            groups = {run: rows for run, rows in table.groupby("run", sort=False)}
            jobs_list = [(r.run_dir, groups[os.path.basename(r.run_dir)]) for r in ok]
            errors = map_runs(_write_job, jobs_list, "writing stats")
            for (run_dir, _), error in zip(jobs_list, errors):
                if error:
                    failed[os.path.basename(run_dir)] = error
            summary["rescored"] = len(jobs_list) - sum(1 for e in errors if e)
            clock["write"] = time.perf_counter()
        else:
            summary["would_rescore"] = len(ok)
    # Wall seconds per phase: where the time goes (bench/rescore_speed.py prints it).
    phases = list(clock)
    summary["seconds"] = {b: round(clock[b] - clock[a], 3) for a, b in zip(phases, phases[1:])}
    print_summary(summary, dry_run)
    return summary


def _why_no_runs(suite_dir: str, pattern: str) -> str:
    """What rescore looked for, and what the folder is instead."""
    looked_for = f"no run folders (holding {RUN_SPEC} or {SCENARIO_STATE}) matching --runs {pattern!r}"
    if os.path.exists(os.path.join(suite_dir, RUN_SPEC)) or os.path.exists(os.path.join(suite_dir, SCENARIO_STATE)):
        return f"{looked_for}: this is one run; pass its suite folder ({os.path.dirname(os.path.abspath(suite_dir))}) and --runs '{os.path.basename(os.path.abspath(suite_dir))}'"
    suites = sorted(name for name in os.listdir(suite_dir) if os.path.isdir(os.path.join(suite_dir, name)) and list_run_dirs(os.path.join(suite_dir, name)))
    if suites:
        return f"{looked_for}: this folder holds suites ({', '.join(suites[:5])}{', ...' if len(suites) > 5 else ''}); pass one of them"
    return looked_for


def print_summary(summary: dict, dry_run: bool) -> None:
    verb = "would rescore" if dry_run else "rescored"
    count = summary.get("would_rescore", summary["rescored"])
    print(f"{verb} {count} of {summary['runs']} runs; {len(summary['skipped'])} skipped, {len(summary['failed'])} failed")
    for run, reason in sorted(summary["skipped"].items()):
        print(f"  skipped {run}: {reason}")
    for run, reason in sorted(summary["failed"].items()):
        print(f"  failed  {run}: {reason}")
    print(f"requests: {summary['requests']}; excluded from timings: "
          + (", ".join(f"{k} {v}" for k, v in summary["excluded"].items()) or "none")
          + f"; without idealized runtime: {summary.get('unestimated', 0)}")
