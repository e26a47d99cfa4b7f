"""Re-score past runs: efficiency stats for an existing benchmark_output suite, no model calls.

Work unit = one run folder, so the per-run phases are a plain map that runs here, on a local
process pool or on Dask (helm_efficiency/util/executors.py, `--executor`, `--address`):

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
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import orjson
import pandas as pd

from helm_efficiency.helm_io import decoders as helm_json
from helm_efficiency.util.atomic import write_stream_atomic, write_text_atomic
from helm_efficiency.pricing.efficiency import efficiency_columns
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.util.executors import local_pool, map_ordered
from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.stacks import DEFAULT_TABLE
from helm_efficiency.helm import aggregate, stats_json
from helm_efficiency.helm.local_models import run_requests
from helm_efficiency.helm.stats import RUN_COUNT_COLUMNS, suite_run_count_values
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.pricing.media_price import media_counts
from helm_efficiency.request_table.table import EXCLUSION_STATUSES, perturbation_description_json
from helm_efficiency.request_table.tokens import offline_counter
from helm_efficiency.helm.metric_names import HELM_FILLED_STATS
from helm_efficiency.helm.run_metadata import SCORED_BY_RESCORE, build_metadata, helm_stats_from_helm, helm_stats_with_values, read_metadata
from helm_efficiency.helm_io.runs import (PER_INSTANCE_STATS, REQUESTS_TABLE, RUN_METADATA, RUN_SPEC, SCENARIO_STATE, STATS, list_run_dirs,
                                  model_deployment_of, read_json, run_spec_of)

PREFIX = "efficiency_"
# Requests-table columns a run's write task reads beside its aggregated stats: the run counts'
# (listed beside the code that reads them) and run_metadata.build_metadata's.
WRITE_COLUMNS = tuple(dict.fromkeys(RUN_COUNT_COLUMNS + ("reference_hardware", "approximate_tokens", "unestimated_reason", "served_method", "served_reason")))
JOURNAL = ".efficiency_rescore.journal"


@dataclass
class RunRead:
    run_dir: str
    requests: Optional[pd.DataFrame] = None
    error: Optional[str] = None


# -- phase 1: read ------------------------------------------------------------------------------
def _prompt_token_counts(run_dir: str) -> Dict[tuple, int]:
    """HELM's own per-instance `num_prompt_tokens` (already tokenized by HELM), keyed like requests.
    A perturbed instance's stats carry its perturbation in their names (HELM's convention), so
    the stat taken is the one whose perturbation is the entry's own (or none)."""
    path = os.path.join(run_dir, PER_INSTANCE_STATS)
    if not os.path.exists(path):
        return {}
    counts = {}
    for entry in helm_json.read_per_instance_stats(path):
        perturbation = entry.perturbation or {}
        for stat in entry.stats:
            stat_perturbation = stat.name.perturbation or {}
            if (stat.name.name == "num_prompt_tokens" and stat_perturbation.get("name") == perturbation.get("name")
                    and stat_perturbation.get("computed_on", "perturbed") == "perturbed" and stat.count):
                counts[(entry.instance_id, entry.train_trial_index, perturbation.get("name"))] = int(round(stat.sum / stat.count))
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


def read_run(run_dir: str, catalog: Catalog = HELM_ONLY) -> RunRead:
    """Requests table of one run, or the reason it cannot be read (file and cause). Never raises:
    one bad run never stops a suite. `catalog`: HELM's YAML and the suite's prod_env (helm_io/catalog.py)."""
    with without_cyclic_gc():
        try:
            return _read_run(run_dir, catalog)
        except EfficiencyInputError as e:
            return RunRead(run_dir, error=str(e))
        except Exception as e:  # anything else in one run's data: named, counted, the rest goes on
            return RunRead(run_dir, error=f"{os.path.join(run_dir, SCENARIO_STATE)}: could not be read ({type(e).__name__}: {e})")


def _read_run(run_dir: str, catalog: Catalog) -> RunRead:
    spec = run_spec_of(run_dir)
    path = os.path.join(run_dir, SCENARIO_STATE)
    request_states = helm_json.read_scenario_state(path)
    counts = _prompt_token_counts(run_dir)
    deployment = model_deployment_of(spec)
    requests = run_requests(request_states, deployment, count_tokens=offline_counter(deployment), prompt_token_counts=counts, catalog=catalog)
    requests.insert(0, "run", os.path.basename(run_dir))
    return RunRead(run_dir, requests=requests)


# -- phase 3: stats in HELM's format (helm/aggregate.py, shared with the live metric) ------------
@dataclass
class RunWrite:
    """One run's write task: its stats from the suite's aggregation (aggregate.suite_stats), its
    requests' WRITE_COLUMNS (run counts and metadata), and what the rescore used."""

    run_dir: str
    stats: aggregate.RunStats
    rows: pd.DataFrame
    tables: Tuple[str, ...] = (DEFAULT_TABLE,)
    local_path: Optional[str] = None
    sla: Optional[str] = None
    counts: Optional[list] = None  # stats.suite_run_count_values' entry for this run (None: computed from `rows`)
    pricing: Optional[dict] = None  # EfficiencySpec.record(): the other pricing options, for the run's metadata


# Requests aggregated at once by write_jobs (whole runs; a larger run alone): the aggregation's
# temporaries and results (about 0.8 KB per request at their peak, RSS at 100,000 requests) stay
# bounded by the chunk whatever the suite's size. Runs are aggregated independently (every group
# is within one run), so the stats do not depend on it (tests/rescore_golden.py, any chunk size).
AGGREGATE_ROWS = 100_000


def write_jobs(table: pd.DataFrame, run_dirs: Sequence[str], *, tables: Sequence[str] = (DEFAULT_TABLE,),
               local_path: Optional[str] = None, sla: Optional[str] = None, pricing: Optional[dict] = None):
    """The write tasks of a suite's requests table (rows of each run contiguous): runs taken in
    `run_dirs` order, in chunks of about AGGREGATE_ROWS requests, each chunk aggregated in one
    pass (aggregate.suite_stats, stats.suite_run_count_values); a RunWrite per run, made as
    the writer takes it."""
    names = table["run"].to_numpy()
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]]) if len(names) else np.array([], int)
    bounds = dict(zip(names[starts].tolist(), zip(starts.tolist(), np.r_[starts[1:], len(names)].tolist())))
    if len(bounds) != len(starts):
        raise ValueError("a run's requests are not contiguous in the requests table")
    spans: List[Tuple[str, int, int]] = []
    for i, run_dir in enumerate(run_dirs):
        spans.append((run_dir, *bounds[os.path.basename(run_dir)]))
        if sum(b - a for _, a, b in spans) >= AGGREGATE_ROWS or i == len(run_dirs) - 1:
            yield from _chunk_writes(table, spans, tuple(tables), local_path, sla, pricing)
            spans = []


def _chunk_writes(table: pd.DataFrame, spans: List[Tuple[str, int, int]], tables: Tuple[str, ...],
                  local_path: Optional[str], sla: Optional[str], pricing: Optional[dict] = None):
    """RunWrites of some runs ((run_dir, first row, end row) each), aggregated together."""
    columns = [c for c in WRITE_COLUMNS if c in table]
    codes = np.repeat(np.arange(len(spans)), [b - a for _, a, b in spans])
    stats = aggregate.suite_stats(_rows(table, spans, [c for c in aggregate.COLUMNS_READ if c in table]), codes)
    counts = suite_run_count_values(_rows(table, spans, columns), codes, len(spans))
    for code, (run_dir, a, b) in enumerate(spans):
        yield RunWrite(run_dir, stats.run(code), table.iloc[a:b][columns], tables, local_path, sla, counts[code], pricing)


def _rows(table: pd.DataFrame, spans: List[Tuple[str, int, int]], columns: List[str]) -> pd.DataFrame:
    """`columns` of the rows of `spans`, one under the other: a copy of those alone (runs in
    table order, the usual case, are one slice)."""
    if all(b == a for (_, _, b), (_, a, _) in zip(spans, spans[1:])):
        return table.iloc[spans[0][1]:spans[-1][2]][columns]
    return pd.concat([table.iloc[a:b][columns] for _, a, b in spans])


def _ours(stat: dict, helm_fill: Sequence[str]) -> bool:
    """A stat this plugin wrote: `efficiency_*`, or a HELM stat it filled (absent from HELM's original)."""
    name = str(stat.get("name", {}).get("name", ""))
    return name.startswith(PREFIX) or name in helm_fill


def _merged_stats(existing: List[dict], ours: List[dict], helm_fill: Sequence[str] = ()) -> List[dict]:
    return [s for s in existing if not _ours(s, helm_fill)] + ours


def _merged_per_instance(existing: List[dict], ours: Dict[tuple, List[dict]], helm_fill: Sequence[str] = ()) -> List[dict]:
    merged = []
    for entry in existing:
        key = (entry.get("instance_id"), entry.get("train_trial_index", 0), perturbation_description_json(entry.get("perturbation")))
        entry = dict(entry)
        entry["stats"] = _merged_stats(entry.get("stats", []), ours.pop(key, []), helm_fill)  # once per instance, even if HELM listed it twice
        merged.append(entry)
    for (instance_id, trial, description), stats in ours.items():  # instances HELM's file lacks (2022 suites have none)
        entry = {"instance_id": instance_id, "train_trial_index": trial, "stats": stats}
        if description is not None:
            entry["perturbation"] = json.loads(description)
        merged.append(entry)
    return merged


def helm_stats_to_fill(run_dir: str, current_stats: List[dict]) -> Tuple[List[str], List[str]]:
    """(HELM's efficiency stats (metric_names.HELM_FILLED_STATS) ours fill in this run, those HELM
    computed itself): every one HELM did not compute is ours to refresh on each rescore, whoever
    filled it before (the live metric or an earlier rescore); one HELM computed is never replaced
    (run_metadata.helm_stats_from_helm says how that is known)."""
    from_helm = helm_stats_from_helm(run_dir, current_stats)
    return [name for name in HELM_FILLED_STATS if name not in from_helm], from_helm


def filled_helm_stats(aggregated: List[dict]) -> List[str]:
    """The HELM stats among `aggregated` (stats.json dicts) that were given a value."""
    return helm_stats_with_values((str(s["name"]["name"]), s.get("count")) for s in aggregated)


# -- writing: atomic per file, roll-forward journal per run ---------------------------------------------
def commit_run_files(run_dir: str, contents: Dict[str, Union[str, bytes]], keep_originals: Sequence[str] = (STATS, PER_INSTANCE_STATS)) -> None:
    """Replace several files of a run so that a crash leaves it fully old or (after recovery) fully
    new. The first change to one of `keep_originals` (the files HELM wrote) keeps it as `NAME.orig`."""
    for name in contents:
        if name not in keep_originals:
            continue
        original = os.path.join(run_dir, name)
        if os.path.exists(original) and not os.path.exists(original + ".orig"):
            keep_original(original, original + ".orig")
    staged = {}
    for name, text in contents.items():
        temp = os.path.join(run_dir, f".{name}.efficiency-new")
        write_text_atomic(temp, text)
        staged[temp] = os.path.join(run_dir, name)
    write_text_atomic(os.path.join(run_dir, JOURNAL), json.dumps(staged))
    recover_run(run_dir)


def keep_original(original: str, kept: str) -> None:
    """`kept` becomes HELM's `original` as it is now: a hard link (no copy: the original is
    only ever replaced by rename, never written in place, so the link keeps its bytes), else
    (a file system without links) an atomic copy. A `kept` that appeared meanwhile (a
    concurrent rescore kept it first) is left alone."""
    try:
        os.link(original, kept)
    except FileExistsError:
        pass
    except OSError:
        with open(original, "rb") as f:
            data = f.read()
        write_text_atomic(kept, data)


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


def _dumps(obj) -> bytes:
    """JSON with 2-space indents like HELM's own files (orjson: the stdlib's indented encoder is slow)."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def write_run(job: RunWrite) -> None:
    stats_path = os.path.join(job.run_dir, STATS)
    per_instance_path = os.path.join(job.run_dir, PER_INSTANCE_STATS)
    existing_stats = read_json(stats_path) if os.path.exists(stats_path) else []
    existing_per_instance = read_json(per_instance_path) if os.path.exists(per_instance_path) else []
    helm_fill, from_helm = helm_stats_to_fill(job.run_dir, existing_stats)
    aggregated = stats_json.aggregated_dicts(job.stats, helm_fill)
    counts = (aggregate.run_count_stats(job.rows, aggregate.json_name) if job.counts is None else
              [(aggregate.json_name(name, split, None, None, None), aggregate.run_count_moments(value))
               for split, values in job.counts for name, value in values])
    present = {(s["name"]["name"], s["name"].get("split")) for s in aggregated if s["name"].keys() <= {"name", "split"}}
    present |= {(name["name"], name.get("split")) for name, _ in counts if name.keys() <= {"name", "split"}}
    aggregated += [aggregate.stat_dict(name, moments) for name, moments in counts + aggregate.placeholder_stats(job.rows, aggregate.json_name, present)]
    per_instance = stats_json.per_instance_fragments(job.stats, helm_fill)
    # The timings are the live run's: so is how busy the machine was when they were taken.
    meta = build_metadata(job.rows, job.tables, filled_helm_stats(aggregated), SCORED_BY_RESCORE, job.local_path, job.sla,
                          helm_from_helm=from_helm, machine_load=read_metadata(job.run_dir).get("machine_load"), pricing=job.pricing)
    commit_run_files(
        job.run_dir,
        {
            STATS: _dumps(_merged_stats(existing_stats, aggregated, helm_fill)),
            PER_INSTANCE_STATS: _dumps(_merged_per_instance(existing_per_instance, per_instance, helm_fill)),
            RUN_METADATA: _dumps(meta),
        },
    )


def _write_job(job: RunWrite) -> Optional[str]:
    try:
        with without_cyclic_gc():
            write_run(job)
        return None
    except (EfficiencyInputError, OSError) as e:
        return str(e)
    except Exception as e:  # one run's bad data never stops the suite
        return f"{job.run_dir}: could not be written ({type(e).__name__}: {e})"


# -- the verb ------------------------------------------------------------------------------------------
def rescore_suite(
    suite_dir: str,
    *,
    spec: Optional[EfficiencySpec] = None,
    pattern: str = "*",
    dry_run: bool = False,
    jobs: int = 1,
    progress: bool = True,
    executor: str = "local",
    address: Optional[str] = None,
    local_path: Optional[str] = None,
) -> dict:
    """Re-score every run of a suite: read (in parallel), denoise per deployment over the whole
    suite and estimate (one step, on the concatenated requests tables), write (in parallel).
    `spec`: what to price with (pricing/spec.py: tables, served stack, power, price, denoising
    quantile, latency target; default: EfficiencySpec.build(), the default stack), built and
    checked before any run is read. `executor`/`address`/`jobs` choose where the per-run phases
    run (helm_efficiency/util/executors.py). `local_path`: the suite's prod_env folder
    (model_deployments.yaml, model_metadata.yaml): the suite's Catalog reads it, so its custom
    deployments resolve to their models."""

    spec = spec if spec is not None else EfficiencySpec.build()
    spec.check()  # a table that cannot load fails before any run is read
    catalog = Catalog(local_path)
    runs = list_run_dirs(suite_dir, pattern)
    if not runs:
        raise EfficiencyInputError(suite_dir, "<folder>", _why_no_runs(suite_dir, pattern))
    if not dry_run:
        for run_dir in runs:
            recover_run(run_dir)
    # The catalog is parsed once here, and the local pool's workers are forked now, before the
    # suite's tables exist: they inherit HELM's parsed YAML and none of the suite's memory.
    catalog.preload()
    with local_pool(jobs if executor == "local" else 0) as pool:
        return _rescore(suite_dir, runs, spec, catalog, pattern, dry_run, jobs, progress, executor, address, local_path, pool)


def _rescore(suite_dir, runs, spec, catalog, pattern, dry_run, jobs, progress, executor, address, local_path, pool) -> dict:
    def map_runs(fn, items, label, total=None):
        return map_ordered(fn, items, jobs, label if progress else "", executor, address, unit="run", total=total, pool=pool,
                           started=_progress_notes(label, total or len(items)) if progress else None)

    clock = {"started": time.perf_counter()}
    reads = map_runs(partial(read_run, catalog=catalog), runs, "reading runs")
    clock["read"] = time.perf_counter()
    failed = {os.path.basename(r.run_dir): r.error for r in reads if r.error}
    ok = [r for r in reads if r.requests is not None and len(r.requests)]
    skipped = {os.path.basename(r.run_dir): "no request states" for r in reads if r.requests is not None and not len(r.requests)}
    ok_dirs = [r.run_dir for r in ok]
    summary = {"runs": len(runs), "rescored": 0, "skipped": skipped, "failed": failed, "requests": 0, "excluded": {}}
    if ok:
        requests = concat_tables([r.requests for r in ok])
        for r in reads:  # the per-run tables are in `requests` now: not held twice
            r.requests = None
        table, reports = efficiency_columns(requests, spec, catalog=catalog)
        del requests
        clock["fit"] = time.perf_counter()
        summary["requests"] = int(len(table))
        summary["excluded"] = {s: int((table["status"] == s).sum()) for s in EXCLUSION_STATUSES if (table["status"] == s).any()}
        summary["unestimated"] = int(table["idealized_runtime_s"].isna().sum())
        summary["unpriced"] = int((table["idealized_energy_j"].isna() | table["idealized_cost_usd"].isna()).sum())
        summary["unserved"] = int(table[["served_gpu_s", "served_cost_usd", "served_energy_j"]].isna().any(axis=1).sum())
        summary["undenoised"] = int(table["denoised_runtime_s"].isna().sum())
        summary["approximate_tokens"] = int(table["approximate_tokens"].sum())
        summary["batched"] = int(table["batched"].sum())
        summary["media"], summary["media_unpriced"] = media_counts(table)
        summary["denoise"] = reports
        if not dry_run:
            # The suite's requests CSV is written on a thread while the runs' stats are (pyarrow
            # writes without holding the GIL); each run's write task is made as a worker takes it.
            with ThreadPoolExecutor(1) as csv_writer:
                csv_done = csv_writer.submit(_write_requests_csv, suite_dir, table, pattern)
                run_writes = write_jobs(table, ok_dirs, tables=spec.tables, local_path=local_path, sla=str(spec.sla),
                                        pricing=spec.record())
                errors = map_runs(_write_job, run_writes, "writing stats", total=len(ok))
                clock["write"] = time.perf_counter()
                csv_done.result()
            clock["requests_csv"] = time.perf_counter()
            for run_dir, error in zip(ok_dirs, errors):
                if error:
                    failed[os.path.basename(run_dir)] = error
            summary["rescored"] = len(ok) - sum(1 for e in errors if e)
        else:
            summary["would_rescore"] = len(ok)
    # Wall seconds per phase: where the time goes (bench/rescore_speed.py prints it).
    phases = list(clock)
    summary["seconds"] = {b: round(clock[b] - clock[a], 3) for a, b in zip(phases, phases[1:])}
    print_summary(summary, dry_run)
    return summary


PROGRESS_EVERY_S = 30.0


def _progress_notes(label: str, total: int):
    """A `started` callback for map_ordered: a line on stderr at most every PROGRESS_EVERY_S
    seconds while runs are handed out, so a long rescore shows it is alive between the bar's
    updates (which come only as runs finish)."""
    import sys

    last = [time.monotonic()]

    def started(i: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            print(f"{label}: started {i + 1} of {total} runs", file=sys.stderr, flush=True)

    return started


def concat_tables(frames: List[pd.DataFrame]) -> pd.DataFrame:
    """Requests tables one under the other, with the dtypes pandas gives today: where a column's
    dtype differs between tables, the tables in which it is all missing leave it out first
    (pandas deprecates guessing the dtype past all-NA entries and warns, FutureWarning); the
    columns are restored after. Only those columns are inspected (the usual suite has none)."""
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    dtypes: Dict[str, set] = {}
    for frame in frames:
        for column, dtype in frame.dtypes.items():
            dtypes.setdefault(column, set()).add(dtype)
    mixed = [c for c, kinds in dtypes.items() if len(kinds) > 1]
    if mixed:
        empty = [{c for c in mixed if c in frame and not frame[c].notna().any()} for frame in frames]
        valued = {c for frame, gone in zip(frames, empty) for c in mixed if c in frame and c not in gone}
        frames = [frame.drop(columns=sorted(gone & valued)) if gone & valued else frame for frame, gone in zip(frames, empty)]
    joined = pd.concat(frames, ignore_index=True)
    return joined if list(joined.columns) == columns else joined.reindex(columns=columns)


def _write_requests_csv(suite_dir: str, table: pd.DataFrame, pattern: str) -> None:
    """The suite's requests table, streamed into its file (temp + fsync + rename): this
    rescore's rows, plus (after a partial `--runs` rescore) the rows an earlier rescore wrote
    for runs not re-scored now, so nothing is lost."""
    path = os.path.join(suite_dir, REQUESTS_TABLE)
    if pattern != "*" and os.path.exists(path):
        try:
            earlier = pd.read_csv(path, low_memory=False)
        except (ValueError, OSError, pd.errors.ParserError):
            earlier = None
        if earlier is not None and "run" in earlier:
            kept = earlier[~earlier["run"].isin(set(table["run"]))]
            if len(kept):
                table = concat_tables([kept, table]).sort_values("run", kind="stable")
    write_stream_atomic(path, partial(write_csv, table))


def table_to_csv(table: pd.DataFrame) -> str:
    """CSV text of a requests table, as write_csv writes it."""
    sink = io.BytesIO()
    write_csv(table, sink)
    return sink.getvalue().decode("utf-8")


CSV_ROWS_PER_BATCH = 65536


def write_csv(table: pd.DataFrame, sink: BinaryIO) -> None:
    """A requests table as CSV into the binary file `sink`, batch by batch: pyarrow's columnar
    writer (several times pandas' speed on a million rows; booleans as true/false), or pandas'
    where a column mixes types pyarrow refuses. Each column's Arrow type is inferred over the
    whole column (one column at a time), then CSV_ROWS_PER_BATCH rows at a time are converted
    and written: neither the CSV text nor the whole table's Arrow copy is ever held."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    start = sink.tell()
    try:
        schema = pa.Schema.from_pandas(table, preserve_index=False)
        with pa_csv.CSVWriter(sink, schema) as writer:
            for a in range(0, len(table), CSV_ROWS_PER_BATCH):
                writer.write_table(pa.Table.from_pandas(table.iloc[a:a + CSV_ROWS_PER_BATCH], schema=schema, preserve_index=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # written again whole, by pandas
        sink.seek(start)
        sink.truncate()
        wrapper = io.TextIOWrapper(sink, encoding="utf-8", newline="")
        table.to_csv(wrapper, index=False)
        wrapper.flush()
        wrapper.detach()


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
          + f"; without idealized runtime: {summary.get('unestimated', 0)}"
          + f"; tokens counted approximately (no tokenizer offline, or a completion's tokens unusable): {summary.get('approximate_tokens', 0)}"
          + f"; batched timings (batch time / batch size): {summary.get('batched', 0)}"
          + f"; requests with media (images, audio, video): {summary.get('media', 0)}, of which not priced (media not priced): "
          + f"{summary.get('media_unpriced', 0)}")
