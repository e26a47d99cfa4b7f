"""Rescore a real offline suite made by helm-run (without the plugin's metric)."""

import filecmp
import glob
import json
import os
import shutil
import subprocess

import pandas as pd
import pytest

from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.cli import RESCORE_PARTIAL_EXIT, main
from helm_efficiency.rescore import JOURNAL, commit_run_files, recover_run, rescore_suite
from helm_efficiency.tables.calibrate import calibrate_table

from conftest import run_helm_command, synthetic_measurements

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pristine_suite(tmp_path_factory):
    work = tmp_path_factory.mktemp("rescore")
    entries = ["simple1:model=simple/model1", "efficiency_probe:num_output_tokens=4,model=simple/model1"]
    done = subprocess.run(["helm-run", "--run-entries", *entries, "--suite", "s", "--max-eval-instances", "10",
                           "--output-path", str(work / "out"), "--local-path", str(work / "prod_env")],
                          capture_output=True, text=True, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    table = calibrate_table(synthetic_measurements(hardware="a100"), name="t", aliases={"simple/model1": "synthetic"})
    table.save(str(work / "table.json"))
    return work


@pytest.fixture
def suite(pristine_suite, tmp_path):
    target = tmp_path / "s"
    shutil.copytree(pristine_suite / "out" / "runs" / "s", target)
    return target, str(pristine_suite / "table.json")


def our_stats(run_dir):
    with open(os.path.join(run_dir, "stats.json")) as f:
        return {s["name"]["name"]: s for s in json.load(f) if s["name"]["name"].startswith("efficiency_")}


def run_dirs(suite_dir):
    return sorted(d for d in glob.glob(os.path.join(suite_dir, "*")) if os.path.exists(os.path.join(d, "run_spec.json")))


def test_rescore_adds_stats_keeps_helm_stats_and_originals(suite):
    suite_dir, table = suite
    runs = run_dirs(suite_dir)
    before = {r: open(os.path.join(r, "stats.json")).read() for r in runs}
    summary = rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    assert summary["rescored"] == len(runs) and not summary["failed"]
    for run in runs:
        stats = our_stats(run)
        assert stats["efficiency_idealized_runtime_s"]["mean"] > 0
        assert stats["efficiency_idealized_energy_j"]["mean"] > 0
        assert open(os.path.join(run, "stats.json.orig")).read() == before[run]
        helm_names = {s["name"]["name"] for s in json.load(open(os.path.join(run, "stats.json.orig")))}
        new_names = {s["name"]["name"] for s in json.load(open(os.path.join(run, "stats.json")))}
        assert helm_names <= new_names
    assert os.path.exists(os.path.join(suite_dir, "efficiency_requests.csv"))
    # Pooled over the suite: the probe gives the denoiser spread in prompt length.
    assert summary["denoise"]["simple/model1"]["num_requests_used"] > 10


def test_second_rescore_is_byte_identical(suite):
    suite_dir, table = suite
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    first = {p: open(p, "rb").read() for p in glob.glob(os.path.join(suite_dir, "*", "*stats.json"))}
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    for path, content in first.items():
        assert open(path, "rb").read() == content, path


def test_dry_run_writes_nothing(suite):
    suite_dir, table = suite
    before = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(suite_dir, "**"), recursive=True)}
    summary = rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), dry_run=True, progress=False)
    assert summary["would_rescore"] == 2
    after = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(suite_dir, "**"), recursive=True)}
    assert before == after


def test_corrupt_runs_are_reported_and_the_rest_succeed(suite):
    suite_dir, table = suite
    good = run_dirs(suite_dir)
    broken = suite_dir / "broken_truncated"
    shutil.copytree(good[0], broken)
    state = (broken / "scenario_state.json").read_text()
    (broken / "scenario_state.json").write_text(state[: len(state) // 2])
    missing = suite_dir / "broken_missing"
    shutil.copytree(good[0], missing)
    os.unlink(missing / "scenario_state.json")
    # The CLI writes every good run and exits with its documented "partial" status, so scripts notice.
    with pytest.raises(SystemExit) as exit_info:
        main(["rescore", str(suite_dir), "--table", table])
    assert exit_info.value.code == RESCORE_PARTIAL_EXIT == 3
    summary = rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    assert set(summary["failed"]) == {"broken_truncated", "broken_missing"}
    assert "scenario_state.json" in summary["failed"]["broken_truncated"] and "truncated" in summary["failed"]["broken_truncated"]
    assert summary["rescored"] == len(good)
    assert (broken / "scenario_state.json").read_text() == state[: len(state) // 2]  # untouched
    assert not (broken / "stats.json.orig").exists()


def _same_files(a, b):
    names = [os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "**", "*"), recursive=True) if os.path.isfile(p)]
    assert names and sorted(names) == sorted(os.path.relpath(p, b) for p in glob.glob(os.path.join(b, "**", "*"), recursive=True) if os.path.isfile(p))
    for name in names:
        assert filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False), name


@pytest.mark.parametrize("executor, jobs", [("local", 2), ("dask", 2)])
def test_rescore_is_byte_identical_on_every_executor(suite, tmp_path, executor, jobs):
    """Serial, a local process pool and a Dask LocalCluster write the same files, byte for byte."""
    if executor == "dask":
        pytest.importorskip("distributed")
    suite_dir, table = suite
    other = tmp_path / "copy"
    shutil.copytree(suite_dir, other)
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    rescore_suite(str(other), spec=EfficiencySpec.build(tables=[table]), jobs=jobs, progress=False, executor=executor)
    _same_files(str(suite_dir), str(other))


def crash_mid_commit_once(job):
    """A Dask task that kills its worker after staging a run's new files and journal (the worst
    moment), the first time only; the rerun, on another worker, finishes the commit."""
    from helm_efficiency.rescore import _write_job, commit_run_files

    run_dir = job.run_dir
    marker = os.path.join(os.path.dirname(run_dir), "..", "crashed-once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        import helm_efficiency.rescore as rescore

        rescore.recover_run = lambda run_dir: os._exit(1)  # die right after the journal is written
        commit_run_files(run_dir, {"stats.json": "[]", "per_instance_stats.json": "[]"})
    return _write_job(job)


def test_a_dask_worker_killed_mid_commit_loses_nothing(suite, tmp_path):
    """The journal makes each run either old or new: a worker dying mid-commit on Dask, then the
    rerun, ends with the same files as a run that never crashed."""
    pytest.importorskip("distributed")
    import sys

    import cloudpickle

    from helm_efficiency.pricing.efficiency import efficiency_columns
    from helm_efficiency.util.executors import map_ordered
    from helm_efficiency.rescore import read_run, table_to_csv, write_jobs

    suite_dir, table = suite
    other = tmp_path / "copy" / "s"
    shutil.copytree(suite_dir, other)
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    # rescore_suite's own phases, with the write phase on Dask through the crashing task.
    runs = run_dirs(other)
    requests = pd.concat([read_run(r).requests for r in runs], ignore_index=True)
    rows, _ = efficiency_columns(requests, EfficiencySpec.build(tables=[table]))
    (other / "efficiency_requests.csv").write_text(table_to_csv(rows))
    rows = rows.sort_values("run", kind="stable").reset_index(drop=True)  # each run's rows contiguous, as rescore keeps them
    jobs = list(write_jobs(rows, runs, tables=(table,), local_path=None, sla="tpot=50ms,ttft=2s",
                           pricing=EfficiencySpec.build(tables=[table]).record()))
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        errors = map_ordered(crash_mid_commit_once, jobs, jobs=2, executor="dask")
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert errors == [None] * len(runs)
    assert (tmp_path / "copy" / "crashed-once").exists()
    os.unlink(tmp_path / "copy" / "crashed-once")
    _same_files(str(suite_dir), str(other))


def test_interrupted_commit_leaves_run_old_or_rolls_forward(suite, monkeypatch):
    suite_dir, table = suite
    run = run_dirs(suite_dir)[0]
    original = {n: open(os.path.join(run, n)).read() for n in ("stats.json", "per_instance_stats.json")}

    # Killed before the journal exists: staged files are discarded, the run stays fully old.
    import helm_efficiency.rescore as rescore

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rescore, "recover_run", crash)
    with pytest.raises(KeyboardInterrupt):
        commit_run_files(run, {"stats.json": "NEW1", "per_instance_stats.json": "NEW2"})
    monkeypatch.undo()
    assert os.path.exists(os.path.join(run, JOURNAL))  # killed after journaling, before renames
    assert {n: open(os.path.join(run, n)).read() for n in original} == original  # still fully old
    assert recover_run(run)  # the next rescore rolls the commit forward: fully new
    assert open(os.path.join(run, "stats.json")).read() == "NEW1"
    assert open(os.path.join(run, "per_instance_stats.json")).read() == "NEW2"
    assert open(os.path.join(run, "stats.json.orig")).read() == original["stats.json"]
    assert not glob.glob(os.path.join(run, ".*efficiency-new"))


def test_summarize_runs_on_a_rescored_suite(suite, pristine_suite):
    suite_dir, table = suite
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    out = pristine_suite / "summ"
    shutil.copytree(suite_dir, out / "runs" / "s")
    done = run_helm_command(["helm-summarize", "--suite", "s", "--output-path", str(out)], text=True, cwd=pristine_suite)
    assert done.returncode == 0, done.stderr[-3000:]
    runs_json = (out / "runs" / "s" / "runs.json").read_text()
    assert "efficiency_idealized_runtime_s" in runs_json


def test_summarize_with_our_schema_shows_the_efficiency_group(suite, pristine_suite):
    suite_dir, table = suite
    rescore_suite(str(suite_dir), spec=EfficiencySpec.build(tables=[table]), progress=False)
    out = pristine_suite / "summ_schema"
    shutil.copytree(suite_dir, out / "runs" / "s")
    from helm_efficiency.helm.schema import write_schema

    write_schema(str(out / "schema.yaml"))
    done = run_helm_command(["helm-summarize", "--suite", "s", "--output-path", str(out), "--schema-path", str(out / "schema.yaml")],
                          capture_output=True, text=True, cwd=pristine_suite)
    assert done.returncode == 0, done.stderr[-3000:]
    schema = json.loads((out / "runs" / "s" / "schema.json").read_text())
    assert "efficiency_plugin" in {g["name"] for g in schema["metric_groups"]}
    assert "efficiency_idealized_runtime_s" in {m["name"] for m in schema["metrics"]}


def _efficiency_only(stats):
    return {json.dumps(s["name"], sort_keys=True): (s["count"], s.get("mean")) for s in stats if s["name"]["name"].startswith("efficiency_")}


def _strip_ours(path):
    with open(path) as f:
        data = json.load(f)
    if path.endswith("per_instance_stats.json"):
        for entry in data:
            entry["stats"] = [s for s in entry["stats"] if not s["name"]["name"].startswith("efficiency_")]
    else:
        data = [s for s in data if not s["name"]["name"].startswith("efficiency_")]
    with open(path, "w") as f:
        json.dump(data, f)


def test_live_and_rescored_runs_carry_identical_stats(pristine_suite, tmp_path):
    """One aggregation path: the metric during helm-run and rescore afterwards give the same stat
    names (split, sub_split, perturbation with HELM's worst-case copies), counts and means."""
    table = str(pristine_suite / "table.json")
    entry = f"simple1:model=simple/model1,data_augmentation=robustness,efficiency={table}"
    done = subprocess.run(["helm-run", "--run-entries", entry, "--suite", "live", "--max-eval-instances", "10",
                           "--output-path", str(tmp_path / "out"), "--local-path", str(tmp_path / "prod_env"), "--num-threads", "1"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [live_run] = run_dirs(tmp_path / "out" / "runs" / "live")
    shutil.copytree(os.path.dirname(live_run), tmp_path / "rescored")
    [rescored_run] = run_dirs(tmp_path / "rescored")
    for name in ("stats.json", "per_instance_stats.json"):
        _strip_ours(os.path.join(rescored_run, name))
    summary = rescore_suite(str(tmp_path / "rescored"), spec=EfficiencySpec.build(tables=[table]), progress=False)
    assert summary["rescored"] == 1 and not summary["failed"]

    live = _efficiency_only(json.load(open(os.path.join(live_run, "stats.json"))))
    rescored = _efficiency_only(json.load(open(os.path.join(rescored_run, "stats.json"))))
    assert any('"computed_on": "worst"' in name for name in live)  # HELM's worst-case copies are there
    assert sorted(live) == sorted(rescored)
    for name in live:
        assert live[name][0] == rescored[name][0], name
        assert live[name][1] == rescored[name][1] or live[name][1] == pytest.approx(rescored[name][1], rel=1e-9), name

    def per_instance(run):
        """Our stats per (instance, trial, perturbation), over all entries: HELM lists an instance once per metric."""
        merged = {}
        for e in json.load(open(os.path.join(run, "per_instance_stats.json"))):
            key = (e["instance_id"], e["train_trial_index"], json.dumps(e.get("perturbation"), sort_keys=True))
            merged.setdefault(key, {}).update(_efficiency_only(e["stats"]))
        return merged

    assert per_instance(live_run).keys() == per_instance(rescored_run).keys()
    for key, stats in per_instance(live_run).items():
        assert sorted(stats) == sorted(per_instance(rescored_run)[key]), key
