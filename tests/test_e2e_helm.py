"""End to end: the real `helm-run` with the plugin on offline scenarios, then `helm-summarize`.

Models: HELM's simple/model1 and two random-weight GPT-2-shaped local transformers models
(built from configs, no download) served by HELM's local Hugging Face client.
"""

import json
import math
import os
import subprocess

import pytest

from helm_efficiency.profiling.profile_cmd import demo_model_configs
from helm_efficiency.profiling.random_model import save_random_model
from helm_efficiency.tables.calibrate import calibrate_table

from conftest import run_helm_command, synthetic_measurements

pytestmark = pytest.mark.e2e
OUR_STATS = ("efficiency_raw_runtime_s", "efficiency_denoised_runtime_s", "efficiency_idealized_runtime_s")


def helm_run(work, suite, entries, models, local_path="prod_env"):
    command = ["helm-run", "--run-entries", *entries, "--suite", suite, "--max-eval-instances", "10",
               "--output-path", str(work / "out"), "--local-path", str(work / local_path), "--num-threads", "1"]
    # One flag with all paths: HELM keeps only the last occurrence of a repeated flag.
    if models:
        command += ["--enable-local-huggingface-models", *[str(work / "models" / m) for m in models]]
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (work / f"{suite}.log").write_text(done.stdout + done.stderr)


def stats_of(work, suite, run_prefix):
    runs = work / "out" / "runs" / suite
    [run] = [d for d in os.listdir(runs) if d.startswith(run_prefix)]
    with open(runs / run / "stats.json") as f:
        stats = json.load(f)
    return {s["name"]["name"]: s for s in stats if s["name"].get("split") == "test" and "perturbation" not in s["name"]}


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    work = tmp_path_factory.mktemp("helm")
    models = list(demo_model_configs())
    for name in models:
        save_random_model(demo_model_configs()[name], str(work / "models" / name))
    table = calibrate_table(synthetic_measurements(hardware="a100", num_gpus=1), name="t", aliases={"simple/model1": "synthetic"})
    table.save(str(work / "simple_table.json"))
    entries = [f"simple1:model=simple/model1,efficiency={work / 'simple_table.json'}"]
    entries += [f"synthetic_reasoning:mode=pattern_match,model=huggingface/{m},efficiency=cpu" for m in models]
    helm_run(work, "fresh", entries, models)
    helm_run(work, "rerun", entries, models)  # same request cache: every result is cached
    # The default stack (h100-trtllm) prices a local model from its folder's config.json.
    helm_run(work, "modern", [f"synthetic_reasoning:mode=pattern_match,model=huggingface/{models[0]},efficiency=true"], models, local_path="prod_env_m")
    # helm-summarize cannot resolve --enable-local-huggingface-models deployments, so the
    # acceptance check summarizes a suite with HELM's own simple/model1 only.
    helm_run(work, "t", ["simple1:model=simple/model1,efficiency=true"], [], local_path="prod_env_t")
    assert stats_of(work, "t", "simple1")["efficiency_raw_runtime_s"]["mean"] > 0
    return work


def test_stats_are_positive_and_finite(suites):
    for prefix in ("simple1", "synthetic_reasoning:mode=pattern_match,model=huggingface_he-tiny"):
        stats = stats_of(suites, "fresh", prefix)
        for name in OUR_STATS + ("efficiency_idealized_energy_j" if prefix == "simple1" else OUR_STATS[0],):
            assert name in stats, (prefix, name, sorted(stats))
            assert stats[name]["count"] > 0
            assert math.isfinite(stats[name]["mean"]) and stats[name]["mean"] > 0
        assert stats["efficiency_num_requests"]["mean"] >= 5


def test_default_stack_prices_a_local_model_from_its_config_with_energy_and_cost(suites):
    stats = stats_of(suites, "modern", "synthetic_reasoning")
    for name in ("efficiency_idealized_runtime_s", "efficiency_idealized_energy_j", "efficiency_idealized_cost_usd"):
        assert stats[name]["count"] > 0 and stats[name]["mean"] > 0, name
    assert stats["efficiency_num_unestimated_requests"]["mean"] == 0


def test_larger_model_has_larger_idealized_runtime(suites):
    tiny = stats_of(suites, "fresh", "synthetic_reasoning:mode=pattern_match,model=huggingface_he-tiny")
    small = stats_of(suites, "fresh", "synthetic_reasoning:mode=pattern_match,model=huggingface_he-small")
    assert small["efficiency_idealized_runtime_s"]["mean"] > tiny["efficiency_idealized_runtime_s"]["mean"]


def test_cold_start_is_flagged(suites):
    stats = stats_of(suites, "fresh", "synthetic_reasoning:mode=pattern_match,model=huggingface_he-tiny")
    assert stats["efficiency_num_cold_requests"]["mean"] >= 1


def test_cached_rerun_is_counted_and_excluded_from_raw_runtime(suites):
    stats = stats_of(suites, "rerun", "synthetic_reasoning:mode=pattern_match,model=huggingface_he-tiny")
    assert stats["efficiency_num_cached_requests"]["mean"] == stats["efficiency_num_requests"]["mean"]
    assert "efficiency_raw_runtime_s" not in stats or stats["efficiency_raw_runtime_s"]["count"] == 0
    assert stats["efficiency_idealized_runtime_s"]["mean"] > 0  # idealized needs no timing
    assert stats["efficiency_denoise_underdetermined"]["count"] == 0  # no fit was attempted, so no verdict (HELM's "no value")
    log = (suites / "rerun.log").read_text()
    assert "came from HELM's request cache; their timings are stale" in log and "rescore" in log


def test_helm_builtin_stats_are_untouched(suites):
    stats = stats_of(suites, "fresh", "simple1")
    assert "num_prompt_tokens" in stats and "num_references" in stats


def test_helm_summarize_runs_and_keeps_metadata(suites):
    summarize = ["helm-summarize", "--suite", "t", "--output-path", str(suites / "out")]
    done = run_helm_command(summarize, text=True, cwd=suites)  # HELM's default schema
    assert done.returncode == 0, done.stderr[-3000:]
    # The auto-generated schema takes each stat's metadata from the metric class itself.
    done = run_helm_command(summarize + ["--auto-generate-schema"], text=True, cwd=suites)
    assert done.returncode == 0, done.stderr[-3000:]
    schema_path = suites / "out" / "runs" / "t" / "schema.json"
    assert schema_path.exists()
    with open(schema_path) as f:
        schema = json.load(f)
    names = {m["name"]: m for m in schema["metrics"]}
    assert names["efficiency_raw_runtime_s"]["lower_is_better"] is True
    assert names["efficiency_raw_runtime_s"]["display_name"] == "Raw runtime (s)"
    assert "efficiency_num_unestimated_requests" in names  # simple/model1 has no reference entry


def test_unknown_table_fails_when_the_run_entry_is_expanded(tmp_path):
    """`efficiency=h100` (no such table) fails before any request is sent, naming the table."""
    done = subprocess.run(["helm-run", "--run-entries", "simple1:model=simple/model1,efficiency=h100", "--suite", "x",
                           "--max-eval-instances", "2", "--output-path", str(tmp_path / "out"), "--local-path", str(tmp_path / "prod_env")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0
    assert "'h100' is neither a shipped table" in done.stdout + done.stderr
    assert not (tmp_path / "out" / "runs" / "x").exists() or not any((tmp_path / "out" / "runs" / "x").iterdir())


def test_one_table_syntax_for_run_entries_and_the_cli(tmp_path):
    from helm_efficiency.cli import main

    pd_rows = "model,num_prompt_tokens,num_output_tokens\nopenai/davinci,100,10\n"
    (tmp_path / "r.csv").write_text(pd_rows)
    main(["estimate", str(tmp_path / "r.csv"), "--table", "cpu+a100", "-o", str(tmp_path / "e.csv")])
    assert "a100" in (tmp_path / "e.csv").read_text()


def test_probe_conf_runs_any_model_with_distinct_repeats(tmp_path):
    """run_specs/efficiency_probe.conf names `model=text`; --models-to-run picks the model, and no
    request of a run is answered from HELM's cache by an earlier repeat of the same prompt."""
    conf = os.path.join(os.path.dirname(__file__), "..", "run_specs", "efficiency_probe.conf")
    done = subprocess.run(["helm-run", "--conf-paths", conf, "--suite", "p", "--models-to-run", "simple/model1",
                           "--max-eval-instances", "20", "--output-path", str(tmp_path / "out"), "--local-path", str(tmp_path / "prod_env")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    stats = stats_of(tmp_path, "p", "efficiency_probe:num_output_tokens=1")
    assert stats["efficiency_num_requests"]["mean"] == 12 and stats["efficiency_num_cached_requests"]["mean"] == 0


def test_entries_differing_only_in_tables_get_their_own_run_folders(tmp_path):
    entries = ["simple1:model=simple/model1,efficiency=a100", "simple1:model=simple/model1,efficiency=v100"]
    done = subprocess.run(["helm-run", "--run-entries", *entries, "--suite", "two", "--max-eval-instances", "3",
                           "--output-path", str(tmp_path / "out"), "--local-path", str(tmp_path / "prod_env")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = sorted(d for d in os.listdir(tmp_path / "out" / "runs" / "two") if d.startswith("simple1"))
    assert runs == ["simple1:model=simple_model1,efficiency=a100", "simple1:model=simple_model1,efficiency=v100"]


def test_local_models_registered_in_prod_env_can_be_summarized(suites):
    """helm-summarize cannot resolve --enable-local-huggingface-models deployments; after
    `helm-efficiency local-model-config` it can, offline."""
    from helm_efficiency.cli import main

    models = [str(suites / "models" / m) for m in demo_model_configs()]
    main(["local-model-config", *models, "--prod-env", str(suites / "prod_env_summarize")])
    done = run_helm_command(["helm-summarize", "--suite", "fresh", "-o", str(suites / "out"), "--local-path", str(suites / "prod_env_summarize")],
                          capture_output=True, text=True, cwd=suites)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (suites / "out" / "runs" / "fresh" / "groups" / "synthetic_reasoning.json").exists()


def test_a_local_model_under_four_threads_is_timed_alone(tmp_path):
    """`efficiency=` serializes in-process generation (helm/timed_alone.py): with HELM's
    --num-threads 4 the requests of a local model still run one at a time, so the measured
    concurrency stays near 1 and no contention correction is needed."""
    name = "he-tiny"
    save_random_model(demo_model_configs()[name], str(tmp_path / "models" / name))
    command = ["helm-run", "--run-entries", f"synthetic_reasoning:mode=pattern_match,model=huggingface/{name},efficiency=cpu",
               "--suite", "threads", "--max-eval-instances", "12", "--output-path", str(tmp_path / "out"),
               "--local-path", str(tmp_path / "prod_env"), "--num-threads", "4",
               "--enable-local-huggingface-models", str(tmp_path / "models" / name)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stats = stats_of(tmp_path, "threads", "synthetic_reasoning")
    assert stats["efficiency_raw_runtime_s"]["mean"] > 0
    if stats.get("efficiency_concurrency", {}).get("count"):  # measured only over spans of 2 s or more
        assert stats["efficiency_concurrency"]["mean"] <= 1.001  # a lower bound: whole-second starts
    with open(next((tmp_path / "out" / "runs" / "threads").glob("synthetic_reasoning*")) / "scenario_state.json") as f:
        states = json.load(f)["request_states"]
    spans = sorted((s["result"]["request_datetime"], s["result"]["request_time"]) for s in states if not s["result"].get("cached"))
    busy = sum(t for _, t in spans)
    wall = max(a + t for a, t in spans) - min(a for a, _ in spans)
    assert busy <= 1.2 * wall + 1.0  # whole-second start times: at most one second of apparent overlap
