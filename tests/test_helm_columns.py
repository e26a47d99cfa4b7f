"""HELM's own `inference_idealized_runtime` / `inference_denoised_runtime` (metric_names.HELM_FILLED_STATS):
wherever this project filled them (live metric or rescore) they follow our current numbers after a
rescore with another table; a value HELM computed is never replaced; RUN/efficiency_metadata.json
lists exactly the HELM stats given a value; only files HELM wrote get a `.orig` (issue #33, item 1)."""

import glob
import json
import os
import shutil
import subprocess

import pytest

from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.helm.metric_names import HELM_FILLED_STATS
from helm_efficiency.rescore import rescore_suite
from helm_efficiency.helm_io.runs import RUN_METADATA, list_run_dirs
from helm_efficiency.tables.calibrate import calibrate_table

from conftest import synthetic_measurements

WILD = os.path.join(os.path.dirname(__file__), "data", "wild")


def main_stats(run_dir, name="stats.json"):
    """{stat name: stat} for the test split, no perturbation, no sub_split."""
    with open(os.path.join(run_dir, name)) as f:
        return {s["name"]["name"]: s for s in json.load(f) if s["name"].get("split") == "test"
                and "perturbation" not in s["name"] and "sub_split" not in s["name"]}


def metadata(run_dir):
    with open(os.path.join(run_dir, RUN_METADATA)) as f:
        return json.load(f)


def assert_helm_columns_follow_ours(run_dir):
    stats = main_stats(run_dir)
    for helm_name, ours in HELM_FILLED_STATS.items():
        assert stats[helm_name]["count"] and stats[ours]["count"], (helm_name, sorted(stats))
        assert stats[helm_name]["mean"] == stats[ours]["mean"], helm_name


@pytest.fixture(scope="module")
def live_suite(tmp_path_factory):
    """A suite scored live by the metric (helm-run, efficiency=<table>), and a second table."""
    work = tmp_path_factory.mktemp("helm_columns")
    first = calibrate_table(synthetic_measurements(hardware="a100"), name="first", aliases={"simple/model1": "synthetic"})
    first.save(str(work / "first.json"))
    second = calibrate_table(synthetic_measurements(hardware="a100", f0=0.5, g=0.05), name="second", aliases={"simple/model1": "synthetic"})
    second.save(str(work / "second.json"))
    entries = [f"efficiency_probe:num_output_tokens=4,model=simple/model1,efficiency={work / 'first.json'}"]
    done = subprocess.run(["helm-run", "--run-entries", *entries, "--suite", "live", "--max-eval-instances", "12",
                           "--output-path", str(work / "out"), "--local-path", str(work / "prod_env"), "--num-threads", "1"],
                          capture_output=True, text=True, cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work


@pytest.fixture
def live_copy(live_suite, tmp_path):
    target = tmp_path / "live"
    shutil.copytree(live_suite / "out" / "runs" / "live", target)
    [run] = list_run_dirs(str(target))
    return str(target), run, str(live_suite / "second.json")


@pytest.mark.e2e
def test_live_run_records_the_helm_stats_it_filled(live_copy):
    _, run, _ = live_copy
    meta = metadata(run)
    assert meta["scored_by"] == "helm-run"
    assert {"others_cpu_share", "busy", "window_s", "num_cpus"} <= set(meta["machine_load"])
    assert sorted(meta["helm_stats_filled"]) == sorted(HELM_FILLED_STATS)
    assert_helm_columns_follow_ours(run)


@pytest.mark.e2e
def test_rescore_with_another_table_refreshes_what_the_live_metric_filled(live_copy):
    suite, run, second = live_copy
    live_idealized = main_stats(run)["inference_idealized_runtime"]["mean"]
    rescore_suite(suite, spec=EfficiencySpec.build(tables=[second]), progress=False)
    assert main_stats(run)["efficiency_idealized_runtime_s"]["mean"] != pytest.approx(live_idealized)
    assert_helm_columns_follow_ours(run)
    assert sorted(metadata(run)["helm_stats_filled"]) == sorted(HELM_FILLED_STATS)
    assert metadata(run)["scored_by"] == "rescore" and "machine_load" in metadata(run)  # the timings, and their machine, are the live run's


@pytest.mark.e2e
def test_a_live_run_without_a_record_is_still_recognised(live_copy):
    """Runs scored live before the metric wrote efficiency_metadata.json: a HELM stat identical
    to ours in every context was copied from ours, not computed by HELM."""
    suite, run, second = live_copy
    os.unlink(os.path.join(run, RUN_METADATA))
    rescore_suite(suite, spec=EfficiencySpec.build(tables=[second]), progress=False)
    assert_helm_columns_follow_ours(run)


@pytest.mark.e2e
def test_second_rescore_keeps_no_orig_of_our_own_files(live_copy):
    suite, run, second = live_copy
    rescore_suite(suite, spec=EfficiencySpec.build(tables=[second]), progress=False)
    rescore_suite(suite, progress=False)  # back to the default stack: simple/model1 has no entry there
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(run, "*.orig"))) == ["per_instance_stats.json.orig", "stats.json.orig"]
    stats = main_stats(run)
    assert "efficiency_idealized_runtime_s" not in stats or not stats["efficiency_idealized_runtime_s"]["count"]
    assert "inference_idealized_runtime" not in stats  # no stale value left in HELM's column
    assert metadata(run)["helm_stats_filled"] == ["inference_denoised_runtime"]


def test_helm_stats_filled_lists_exactly_what_was_written(tmp_path):
    """HELM Safety v3 (GPT-4o, Claude, Gemini, Llama on Together): a closed model gets no idealized
    runtime, so HELM's idealized column is not filled there and the metadata does not say it is."""
    shutil.copytree(os.path.join(WILD, "helm_safety_v3"), tmp_path / "v3")
    suite = str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3")
    for _ in range(2):  # the second rescore reads the first's .orig and metadata
        rescore_suite(suite, progress=False)
        listed_somewhere = set()
        for run in list_run_dirs(suite):
            with open(os.path.join(run, "stats.json")) as f:
                written = {s["name"]["name"] for s in json.load(f) if s["name"]["name"] in HELM_FILLED_STATS and s.get("count")}
            with open(os.path.join(run, "stats.json.orig")) as f:
                by_helm = {s["name"]["name"] for s in json.load(f) if s["name"]["name"] in HELM_FILLED_STATS and s.get("count")}
            assert set(metadata(run)["helm_stats_filled"]) == written - by_helm, run
            assert not os.path.exists(os.path.join(run, RUN_METADATA + ".orig"))
            listed_somewhere |= written
        assert "inference_idealized_runtime" in listed_somewhere
    gpt4o = next(r for r in list_run_dirs(suite) if "gpt-4o" in r)
    assert "inference_idealized_runtime" not in metadata(gpt4o)["helm_stats_filled"]


def test_values_helm_computed_are_never_replaced(tmp_path):
    """2022 classic: HELM computed both stats; two rescores with different tables leave them as HELM wrote them."""
    shutil.copytree(os.path.join(WILD, "ds3lab_raft_2022"), tmp_path / "raft")
    suite = str(tmp_path / "raft" / "benchmark_output" / "runs" / "raft")
    originals = {run: {n: main_stats(run)[n]["mean"] for n in HELM_FILLED_STATS if n in main_stats(run)} for run in list_run_dirs(suite)}
    assert any(originals.values())
    for tables in (["a100"], ["h100-trtllm"]):
        rescore_suite(suite, spec=EfficiencySpec.build(tables=tables), progress=False)
        for run, values in originals.items():
            assert {n: main_stats(run)[n]["mean"] for n in values} == values
            assert not set(values) & set(metadata(run)["helm_stats_filled"])
