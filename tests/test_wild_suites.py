"""Rescore and leaderboard on real suites other people published (tests/data/wild, PROVENANCE.md):
2022 classic with batched timings, HELM Safety v3/v4 (Together one-token completions, Gemini
without tokens), MedHELM with its own prod_env. Each defect of issue #21 has a test here."""

import json
import os
import shutil
import socket

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.cli import RESCORE_PARTIAL_EXIT, main
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.tables.sla import DEFAULT_SLA
from helm_efficiency.rescore import read_run, rescore_suite
from helm_efficiency.helm_io.runs import REQUESTS_TABLE, RUN_METADATA, list_run_dirs

WILD = os.path.join(os.path.dirname(__file__), "data", "wild")
SUITES = {s["name"]: s for s in json.load(open(os.path.join(WILD, "suites.json")))}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails at once: rescore must never need the network."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def copy_suite(name, tmp_path):
    """A writable copy of one wild suite: (suite folder, prod_env folder or None)."""
    suite = SUITES[name]
    root = tmp_path / name
    shutil.copytree(os.path.join(WILD, name), root)
    local = suite["local_path"]
    return str(tmp_path / suite["suite_dir"]), (str(tmp_path / local) if local else None)


def rescored(name, tmp_path, *extra):
    suite_dir, local = copy_suite(name, tmp_path)
    args = ["rescore", suite_dir] + (["--local-path", local] if local else []) + list(extra)
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    return suite_dir, code


def requests_table(suite_dir):
    return pd.read_csv(os.path.join(suite_dir, REQUESTS_TABLE))


def stats(run_dir, name="stats.json"):
    with open(os.path.join(run_dir, name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_real_suite_rescores_and_ranks(name, tmp_path, capsys):
    suite_dir, code = rescored(name, tmp_path)
    assert code in (0, RESCORE_PARTIAL_EXIT)
    for run_dir in list_run_dirs(suite_dir):
        names = {s["name"]["name"] for s in stats(run_dir)}
        assert "efficiency_num_requests" in names, run_dir
        assert os.path.exists(os.path.join(run_dir, "stats.json.orig")) and os.path.exists(os.path.join(run_dir, RUN_METADATA))
        # HELM's own stats are all still there, unchanged.
        ours = {json.dumps(s, sort_keys=True) for s in stats(run_dir)}
        helm_filled = set(json.load(open(os.path.join(run_dir, RUN_METADATA)))["helm_stats_filled"])
        for original in stats(run_dir, "stats.json.orig"):
            assert json.dumps(original, sort_keys=True) in ours or original["name"]["name"] in helm_filled
    main(["leaderboard", suite_dir, "-o", str(tmp_path / "board")])
    board = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    # Every model has a capability, except one alone in its scenarios where capability is a win rate (issue #33).
    alone = board["note"].fillna("").str.contains("alone in its scenarios")
    assert (board["capability"].notna() | alone).all(), board[["model", "capability", "note"]]
    judged = board[board["idealized_runtime_s"].notna()]
    assert not judged["note"].fillna("").str.contains("not estimated").any()
    # Issue 37: the uncertainty columns are there; each model has a capability interval or says why
    # not (these copies keep 2-8 instances per run in per_instance_stats.json, too few to resample).
    for column in ("capability_lo", "capability_hi", "rank_lo", "rank_hi", "pareto_probability", "cost_per_correct_usd"):
        assert column in board, column
    without = board["capability"].notna() & board["capability_lo"].isna()
    assert board.loc[without, "uncertainty_note"].fillna("").astype(str).str.startswith("no capability interval: ").all(), board["uncertainty_note"]
    # A model alone in its scenarios has no win rate, so the joint draws leave it out (its note says so).
    drawn = judged[~alone.loc[judged.index]]
    assert drawn["idealized_runtime_s_lo"].notna().all() and (drawn["idealized_runtime_s_lo"] <= drawn["idealized_runtime_s"]).all()


def test_together_one_token_completions_are_recounted(tmp_path):
    suite_dir, _ = rescored("helm_safety_v3", tmp_path)
    table = requests_table(suite_dir)
    together = table[table["model_deployment"] == "together/llama-3-70b"]
    assert len(together) and together["num_output_tokens"].median() >= 10
    assert together["approximate_tokens"].all()
    # Their idealized interval is widened by the fallback counter's measured error.
    from helm_efficiency.request_table.tokens import FALLBACK_RELATIVE_ERROR

    width = together["idealized_runtime_hi_s"] / together["idealized_runtime_s"]
    assert (width >= 1 + FALLBACK_RELATIVE_ERROR).all()


def test_gemini_completions_without_tokens_are_counted_and_flagged(tmp_path):
    suite_dir, _ = rescored("helm_safety_v3", tmp_path)  # its Gemini run is HarmBench: long answers
    table = requests_table(suite_dir)
    gemini = table[table["model_deployment"].str.startswith("google/gemini")]
    long_answers = gemini[gemini["status"] != "failed"]
    assert len(long_answers) and long_answers["num_output_tokens"].median() >= 10
    assert long_answers["approximate_tokens"].all()
    run = next(r for r in list_run_dirs(suite_dir) if "gemini" in os.path.basename(r))
    means = {s["name"]["name"]: s.get("mean") for s in stats(run) if s["name"].get("split") == "test" and "perturbation" not in s["name"]}
    assert means["efficiency_num_approximate_token_requests"] >= 1, (run, means)


def test_2022_batched_timings_are_kept_and_helm_values_untouched(tmp_path):
    suite_dir, _ = rescored("ds3lab_raft_2022", tmp_path)
    table = requests_table(suite_dir)
    assert table["batched"].all() and (table["status"] != "cached").all()
    assert table["raw_runtime_s"].notna().mean() >= 0.9 and (table["status"] == "cold_start").sum() == 0
    for run_dir in list_run_dirs(suite_dir):
        before = {json.dumps(s["name"], sort_keys=True): s for s in stats(run_dir, "stats.json.orig") if s["name"]["name"].startswith("inference_")}
        after = {json.dumps(s["name"], sort_keys=True): s for s in stats(run_dir) if s["name"]["name"].startswith("inference_")}
        assert before and before == after  # HELM computed these in 2022: never overwritten
        # HELM wrote no per-instance file then; ours now lists every request's stats.
        assert len(stats(run_dir, "per_instance_stats.json")) == len(table[table["run"] == os.path.basename(run_dir)])


def test_helm_columns_filled_only_where_helm_left_them_empty(tmp_path):
    suite_dir, _ = rescored("helm_safety_v4", tmp_path)
    run = next(r for r in list_run_dirs(suite_dir) if "llama" in os.path.basename(r))
    meta = json.load(open(os.path.join(run, RUN_METADATA)))
    original = {s["name"]["name"] for s in stats(run, "stats.json.orig") if s.get("count")}
    assert "inference_denoised_runtime" in meta["helm_stats_filled"] and "inference_denoised_runtime" not in original
    filled = [s for s in stats(run) if s["name"]["name"] == "inference_idealized_runtime" and s["name"].get("split") == "test"
              and "perturbation" not in s["name"]]
    ours = [s for s in stats(run) if s["name"]["name"] == "efficiency_idealized_runtime_s" and s["name"].get("split") == "test"
            and "perturbation" not in s["name"]]
    assert filled and filled[0]["mean"] == ours[0]["mean"]
    # A second rescore refreshes our fill without duplicating it.
    main(["rescore", suite_dir])
    again = [s for s in stats(run) if s["name"]["name"] == "inference_idealized_runtime" and s["name"].get("split") == "test"
             and "perturbation" not in s["name"]]
    assert len(again) == 1


def test_per_instance_stats_written_once_per_instance(tmp_path):
    """MedHELM's per_instance_stats.json lists each instance once per metric."""
    suite_dir, _ = rescored("medhelm_gpt5", tmp_path)
    for run_dir in list_run_dirs(suite_dir):
        seen = {}
        for entry in stats(run_dir, "per_instance_stats.json"):
            key = (entry["instance_id"], entry.get("train_trial_index", 0), json.dumps(entry.get("perturbation"), sort_keys=True))
            ours = [s for s in entry["stats"] if s["name"]["name"] == "efficiency_num_prompt_tokens"]
            seen[key] = seen.get(key, 0) + len(ours)
        assert seen and max(seen.values()) == 1


def test_api_models_have_no_cold_start(tmp_path):
    suite_dir, _ = rescored("helm_safety_v4", tmp_path)
    table = requests_table(suite_dir)
    assert (table["serving"] == "remote").all() and (table["status"] != "cold_start").all()


def test_custom_prod_env_deployments_resolve_to_their_models(tmp_path):
    """A deployment only the suite's prod_env defines (Groq serving Llama-3-8B, say) gets an
    idealized runtime through its model, with --local-path; without it, a counted reason."""
    suite_dir, _ = copy_suite("helm_safety_v4", tmp_path)
    run = next(r for r in list_run_dirs(suite_dir) if "llama" in os.path.basename(r))
    for name in os.listdir(suite_dir):
        path = os.path.join(suite_dir, name)
        if os.path.isdir(path) and path != run:
            shutil.rmtree(path)
    for file_name in ("run_spec.json", "scenario_state.json"):
        path = os.path.join(run, file_name)
        text = open(path).read().replace('"together/llama-3-8b-chat"', '"mygroq/llama3-8b-8192"').replace('"meta/llama-3-8b-chat"', '"mygroq/llama3-8b-8192"')
        open(path, "w").write(text)
    prod_env = tmp_path / "prod_env"
    prod_env.mkdir()
    (prod_env / "model_deployments.yaml").write_text(
        "model_deployments:\n  - name: mygroq/llama3-8b-8192\n    model_name: meta/llama-3-8b-chat\n"
        "    tokenizer_name: meta/llama-3-8b\n    max_sequence_length: 8192\n"
        "    client_spec:\n      class_name: helm.clients.openai_client.OpenAIClient\n")
    without = rescore_suite(suite_dir, progress=False, local_path=str(tmp_path / "nowhere"))
    assert without["unestimated"] == without["requests"] > 0
    with_env = rescore_suite(suite_dir, progress=False, local_path=str(prod_env))
    assert with_env["unestimated"] == 0


def test_mixed_stacks_after_a_partial_rescore_are_refused(tmp_path):
    suite_dir, _ = rescored("ds3lab_raft_2022", tmp_path)
    first = os.path.basename(list_run_dirs(suite_dir)[0])
    main(["rescore", suite_dir, "--runs", first, "--table", "a100"])
    assert requests_table(suite_dir)["run"].nunique() == 3  # the other runs' rows are kept
    with pytest.raises(EfficiencyInputError, match="different reference stacks"):
        from helm_efficiency.report.leaderboard import write_leaderboard

        write_leaderboard(suite_dir, str(tmp_path / "board"))


def test_a_bad_table_fails_before_any_run_is_read(tmp_path, monkeypatch):
    suite_dir, _ = copy_suite("helm_safety_v3", tmp_path)
    import helm_efficiency.rescore as rescore

    monkeypatch.setattr(rescore, "read_run", lambda *a, **k: pytest.fail("a run was read before the table was checked"))
    with pytest.raises(EfficiencyInputError, match="no-such-table"):
        EfficiencySpec.build(tables=["no-such-table.json"])  # the entry points' own check
    unchecked = EfficiencySpec(tables=("missing-table.json",), served_stack=None, power_w=None, usd_per_gpu_hour=None,
                               quantile=None, sla=DEFAULT_SLA)
    with pytest.raises(EfficiencyInputError, match="missing-table"):
        rescore_suite(suite_dir, spec=unchecked, progress=False)  # rescore's own check, before any run is read


def test_a_broken_run_is_named_and_the_rest_written(tmp_path):
    suite_dir, _ = copy_suite("helm_safety_v4", tmp_path)
    broken = list_run_dirs(suite_dir)[0]
    with open(os.path.join(broken, "per_instance_stats.json"), "w") as f:
        f.write('[{"instance_id": "id1", "stats": 5}]')  # valid JSON of the wrong shape
    with pytest.raises(SystemExit) as exit_info:
        main(["rescore", suite_dir])
    assert exit_info.value.code == RESCORE_PARTIAL_EXIT
    assert read_run(broken).error and os.path.basename(broken) not in set(requests_table(suite_dir)["run"])
    assert requests_table(suite_dir)["run"].nunique() == len(list_run_dirs(suite_dir)) - 1


def test_perturbed_instances_use_helms_own_prompt_counts(tmp_path):
    """HELM names a perturbed instance's stats with its perturbation: those counts are used."""
    from helm_efficiency.rescore import _prompt_token_counts

    perturbation = {"name": "typos", "robustness": True, "fairness": False, "prob": 0.1}
    entry = {"instance_id": "id1", "train_trial_index": 0, "perturbation": perturbation,
             "stats": [{"name": {"name": "num_prompt_tokens", "split": "test", "perturbation": {**perturbation, "computed_on": "perturbed"}},
                        "count": 1, "sum": 57}]}
    (tmp_path / "per_instance_stats.json").write_text(json.dumps([entry]))
    assert _prompt_token_counts(str(tmp_path)) == {("id1", 0, "typos"): 57}


def test_concurrency_ignores_idle_weeks():
    from helm_efficiency.denoise.concurrency import mean_concurrency

    start = pd.Series([0, 1, 2, 3, 3 + 14 * 86400, 4 + 14 * 86400, 5 + 14 * 86400])
    runtime = pd.Series([1.0] * 7)
    # two sessions of 4 s and 3 s, each up to 1 s longer than whole-second starts show
    assert mean_concurrency(start, runtime) == pytest.approx(7 / (4 + 1 + 3 + 1))


def test_denoised_runtime_never_falls_with_output_on_real_suites(tmp_path):
    suite_dir, _ = rescored("helm_safety_v4", tmp_path)
    table = requests_table(suite_dir)
    for _, rows in table.dropna(subset=["denoised_runtime_s"]).groupby("model_deployment"):
        ordered = rows.sort_values(["num_prompt_tokens", "num_output_tokens"])
        for _, same_prompt in ordered.groupby("num_prompt_tokens"):
            assert (np.diff(same_prompt["denoised_runtime_s"].to_numpy()) >= -1e-12).all()


def test_every_stat_written_has_a_spec(tmp_path):
    from helm_efficiency.helm.metric_names import HELM_FILLED_STATS, STAT_BY_NAME

    suite_dir, _ = rescored("helm_safety_v3", tmp_path)
    for run_dir in list_run_dirs(suite_dir):
        written = {s["name"]["name"] for s in stats(run_dir)} | {s["name"]["name"] for e in stats(run_dir, "per_instance_stats.json") for s in e["stats"]}
        ours = {n for n in written if n.startswith("efficiency_")}
        assert ours and ours <= set(STAT_BY_NAME), ours - set(STAT_BY_NAME)
        assert set(json.load(open(os.path.join(run_dir, RUN_METADATA)))["helm_stats_filled"]) <= set(HELM_FILLED_STATS)


def test_rescore_prices_a_local_folder_from_its_config_like_the_metric(tmp_path):
    """One request builder (helm/local_models.run_requests) for the metric and rescore: a local
    model folder named like a known model is priced from its own config.json, not by its name."""
    from helm_efficiency.analytic.registry import registry_config

    suite_dir, _ = copy_suite("helm_safety_v4", tmp_path)
    run = next(r for r in list_run_dirs(suite_dir) if "llama" in os.path.basename(r))
    for name in os.listdir(suite_dir):
        if os.path.isdir(os.path.join(suite_dir, name)) and os.path.join(suite_dir, name) != run:
            shutil.rmtree(os.path.join(suite_dir, name))
    for file_name in ("run_spec.json", "scenario_state.json"):
        path = os.path.join(run, file_name)
        text = open(path).read().replace('"together/llama-3-8b-chat"', '"huggingface/llama-3-8b"').replace('"meta/llama-3-8b-chat"', '"huggingface/llama-3-8b"')
        open(path, "w").write(text)
    folder = tmp_path / "models" / "llama-3-8b"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(registry_config("test/tiny-llama")))
    prod_env = tmp_path / "prod_env"
    prod_env.mkdir()
    (prod_env / "model_deployments.yaml").write_text(
        "model_deployments:\n  - name: huggingface/llama-3-8b\n    model_name: huggingface/llama-3-8b\n    tokenizer_name: simple/tokenizer1\n"
        f"    max_sequence_length: 2048\n    client_spec:\n      class_name: helm.clients.huggingface_client.HuggingFaceClient\n"
        f"      args:\n        pretrained_model_name_or_path: {folder}\n")
    rescore_suite(suite_dir, progress=False, local_path=str(prod_env))
    table = requests_table(suite_dir)
    assert (table["num_layers"] == registry_config("test/tiny-llama")["num_hidden_layers"]).all()
    assert (table["serving"] == "local").all() and (table["method"] != "calibrated").all()


def test_rescore_writes_served_numbers_under_the_sla(tmp_path):
    """#25: every request with a batch-1 idealized number on h100-trtllm gets served GPU time,
    cost and energy (below its batch-1 cost), or a counted reason; the SLA is in the metadata."""
    suite_dir, code = rescored("helm_safety_v4", tmp_path, "--sla", "tpot=40ms,ttft=1.5s")
    table = requests_table(suite_dir)
    priced = table[table["idealized_runtime_s"].notna()]
    assert len(priced) and priced["served_gpu_s"].notna().all()
    assert (priced["served_cost_usd"] <= priced["idealized_cost_usd"]).all()
    for run_dir in list_run_dirs(suite_dir):
        meta = json.load(open(os.path.join(run_dir, RUN_METADATA)))
        assert "tpot" in meta["served_sla"] and "40" in meta["served_sla"]
        names = {s["name"]["name"]: s for s in stats(run_dir) if "perturbation" not in s["name"]}
        assert "efficiency_num_unserved_requests" in names


def test_a_bad_sla_is_a_usage_error(tmp_path, capsys):
    suite_dir, _ = copy_suite("helm_safety_v4", tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["rescore", suite_dir, "--sla", "tpot=-5ms"])
    assert exit_info.value.code == 2 and "tpot" in capsys.readouterr().err


def test_vhelm_image_requests_are_never_priced_as_text(tmp_path, capsys):
    """#34: a published VHELM suite (an image plus a question per request, a 3B model HELM's
    metadata sizes) got size-only prices from the text alone; now each request is counted as a
    media request, withheld with its reason, and the summary says how many."""
    suite_dir, code = rescored("vhelm_multimodal_misalignment", tmp_path)
    assert code == 0
    table = requests_table(suite_dir)
    assert (table["media_kind"] == "image").all() and (table["num_media"] == 1).all()
    assert (table["num_prompt_tokens"] > 0).all()  # HELM's own text counts
    for column in ("idealized_runtime_s", "idealized_energy_j", "idealized_cost_usd", "served_gpu_s"):
        assert table[column].isna().all(), column
    assert table["unestimated_reason"].str.startswith("media not priced").all()
    assert table["method"].isna().all()
    assert f"requests with media (images, audio, video): {len(table)}, of which not priced (media not priced): {len(table)}" in capsys.readouterr().out
    for run_dir in list_run_dirs(suite_dir):
        names = {s["name"]["name"]: s.get("mean") for s in stats(run_dir) if "perturbation" not in s["name"] and s["count"]}
        n = names["efficiency_num_requests"]
        assert names["efficiency_num_media_requests"] == n and names["efficiency_num_unestimated_requests"] == n
        assert names["efficiency_num_size_only_requests"] == 0 and "efficiency_idealized_runtime_s" not in names


def board(suite_dir, tmp_path, *extra):
    out = tmp_path / "board"
    main(["leaderboard", suite_dir, "-o", str(out), "--metric", "expected_max_toxicity", "--efficiency", "raw"] + list(extra))
    return pd.read_csv(out / "leaderboard.csv"), open(out / "leaderboard.md").read()


def test_a_lower_is_better_metric_ranks_lower_first_and_its_best_model_is_on_the_frontier(tmp_path):
    """#34: expected_max_toxicity is lower-is-better in HELM's schemas and differs between the
    three models; the least toxic one (not the fastest) is Pareto-optimal, the most toxic one not."""
    suite_dir, _ = rescored("vhelm_multimodal_misalignment", tmp_path)
    table, markdown = board(suite_dir, tmp_path)
    best = table.loc[table["capability"].idxmin()]
    assert best["model"].endswith("ft-25") and best["raw_runtime_s"] > table["raw_runtime_s"].min()
    assert bool(best["pareto_optimal"])
    assert not bool(table.loc[table["capability"].idxmax(), "pareto_optimal"])
    frontier = table[table["pareto_optimal"].astype(bool)]
    assert frontier["capability"].is_monotonic_increasing  # listed best (lowest) first
    assert "mean expected_max_toxicity (lower is better, per HELM's schema_" in markdown


def test_the_schema_given_decides_the_direction(tmp_path):
    """`--schema` comes before HELM's: a schema calling the metric higher-is-better reverses the ranking, and the label says whose word it is."""
    suite_dir, _ = rescored("vhelm_multimodal_misalignment", tmp_path)
    schema = tmp_path / "schema_mine.yaml"
    schema.write_text("metrics:\n  - name: expected_max_toxicity\n    display_name: Toxicity\n    lower_is_better: false\n")
    table, markdown = board(suite_dir, tmp_path, "--schema", str(schema))
    assert not bool(table.loc[table["capability"].idxmin(), "pareto_optimal"])
    assert bool(table.loc[table["capability"].idxmax(), "pareto_optimal"])
    assert "mean expected_max_toxicity (higher is better, per schema_mine.yaml)" in markdown
