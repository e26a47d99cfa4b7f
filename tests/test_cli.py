"""The CLI verbs on real files: import-megatron → calibrate → estimate, and denoise."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.cli import main

from test_megatron import LOG


def test_import_calibrate_estimate_round_trip(tmp_path):
    (tmp_path / "a100").mkdir()
    log = tmp_path / "a100" / "toy.log"
    header = "".join(line + "\n" for line in LOG.splitlines() if not line.startswith("Runtime"))
    log.write_text(header + "".join(
        f"Runtime for {{'num_input_tokens': {p}, 'num_output_tokens': {o}}}: {0.01 + 1e-5 * p + 0.002 * (o - 1):.6f} seconds +- 0.0001\n"
        for p in (1, 64, 128, 256) for o in (1, 4, 16)))
    main(["import-megatron", str(log), "-o", str(tmp_path / "m.csv")])
    aliases = tmp_path / "aliases.json"
    aliases.write_text(json.dumps({"org/toy-deployment": "toy"}))
    main(["calibrate", str(tmp_path / "m.csv"), "-o", str(tmp_path / "t.json"), "--aliases", str(aliases)])
    table = json.loads((tmp_path / "t.json").read_text())
    entry = table["entries"][0]
    assert entry["model"] == "toy" and entry["num_gpus"] == 2 and entry["architecture"]["num_layers"] == 4
    assert entry["fit"]["by_batch_size"]["1"]["valid_range"]["num_prompt_tokens"] == [1, 256]
    assert "command" in entry["provenance"]
    pd.DataFrame({"model": ["org/toy-deployment", "org/toy-deployment", "nobody/else"], "num_prompt_tokens": [100, 900, 5],
                  "num_output_tokens": [3, 3, 3]}).to_csv(tmp_path / "r.csv", index=False)
    main(["estimate", "--table", str(tmp_path / "t.json"), str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    est = pd.read_csv(tmp_path / "e.csv")
    assert est["idealized_runtime_s"].iloc[0] == pytest.approx(0.01 + 1e-5 * 100 + 0.002 * 2, rel=1e-3)
    assert list(est["extrapolated"]) == [False, True, False]
    assert est["method"].iloc[0] == "calibrated" and np.isnan(est["idealized_runtime_s"].iloc[2])
    assert (est["idealized_runtime_lo_s"].iloc[:2] <= est["idealized_runtime_s"].iloc[:2]).all()


def test_estimate_rejects_malformed_rows_by_name(tmp_path, capsys):
    pd.DataFrame({"model": ["a"], "num_prompt_tokens": ["many"], "num_output_tokens": [1]}).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", "--table", "a100", str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    assert exit_info.value.code == 2
    assert "r.csv: field 'num_prompt_tokens': row 2" in capsys.readouterr().err


def test_estimate_names_file_row_and_field_of_a_non_numeric_architecture_cell(tmp_path, capsys):
    rows = pd.DataFrame({"model": ["meta/llama-3.1-8b"] * 8, "num_prompt_tokens": 100, "num_output_tokens": 10,
                         "intermediate_size": ["14336"] * 6 + ["abc", ""]})
    rows.to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(SystemExit):
        main(["estimate", "--table", "a100", str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    assert "r.csv: field 'intermediate_size': row 8 has 'abc'" in capsys.readouterr().err


def test_estimate_uses_the_hardware_column_to_pick_the_table(tmp_path):
    pd.DataFrame({"model": ["openai/davinci", "openai/davinci"], "hardware": ["a100", "v100"], "num_prompt_tokens": [512, 512],
                  "num_output_tokens": [16, 16]}).to_csv(tmp_path / "r.csv", index=False)
    main(["estimate", "--table", "a100", "--table", "v100", str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    est = pd.read_csv(tmp_path / "e.csv")
    assert list(est["reference_hardware"]) == ["a100", "v100"]
    assert est["idealized_runtime_s"].iloc[1] > est["idealized_runtime_s"].iloc[0]  # the V100 is slower


def test_estimate_keeps_rows_of_one_model_with_different_tensor_parallelism_apart(tmp_path):
    """Three rows of one model at TP 1, 4, 8 are three estimates, not the first row's three times."""
    pd.DataFrame({"model": ["meta/llama-3.1-70b"] * 3, "tensor_parallel": [1, 4, 8], "num_prompt_tokens": 512,
                  "num_output_tokens": 64}).to_csv(tmp_path / "r.csv", index=False)
    main(["estimate", "--table", "a100", str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    est = pd.read_csv(tmp_path / "e.csv")
    assert est["idealized_runtime_s"].nunique() == 3 and est["idealized_energy_j"].nunique() == 3


def test_estimate_checks_the_size_columns_and_keeps_rows_of_other_sizes_apart(tmp_path, capsys):
    """num_parameters and num_active_parameters: blank where unknown, else positive, active below
    total (errors name file, field and row); rows of one name with other sizes are priced apart."""
    path, out = tmp_path / "r.csv", str(tmp_path / "e.csv")
    pd.DataFrame({"model": ["org/moe"] * 3 + ["org/dense"], "num_prompt_tokens": 512, "num_output_tokens": 32,
                  "num_parameters": [30e9, 30e9, 30e9, 8e9], "num_active_parameters": [3e9, 10e9, 3e9, None]}).to_csv(path, index=False)
    main(["estimate", "--table", "h100-trtllm", str(path), "-o", out])
    est = pd.read_csv(out)
    assert (est["method"] == "size_only").all()
    for column in ("idealized_runtime_s", "served_gpu_s"):  # both numbers read the sizes the rows give
        assert est[column].iloc[0] == est[column].iloc[2] < est[column].iloc[1], column
    assert est["served_method"].iloc[0].startswith("size_only from ") and est["served_method"].iloc[3].startswith("size_only from ")
    for column, values, message in [("num_active_parameters", ["3B", "", "", ""], "row 2 has '3B'"),
                                    ("num_active_parameters", [3e9, -1, 3e9, None], "row 3 has -1"),
                                    ("num_active_parameters", [3e9, 40e9, 3e9, None], "row 3 has 4e+10, not below its num_parameters 3e+10")]:
        pd.DataFrame({"model": ["org/moe"] * 3 + ["org/dense"], "num_prompt_tokens": 512, "num_output_tokens": 32,
                      "num_parameters": [30e9, 30e9, 30e9, 8e9], column: values}).to_csv(path, index=False)
        with pytest.raises(SystemExit):
            main(["estimate", "--table", "h100-trtllm", str(path), "-o", out])
        assert f"r.csv: field '{column}': {message}" in capsys.readouterr().err


def test_a_row_calibrated_on_a_table_the_registry_does_not_name_is_served_as_its_own_model(tmp_path):
    """The paper's a100 entries (gptj_6b, ...) are no registry keys: such a row is served by its
    own name, and the sizes a row gives do not move the served price of a model the registry knows."""
    path, out = tmp_path / "r.csv", str(tmp_path / "e.csv")
    pd.DataFrame({"model": ["together/gpt-j-6b"] * 2, "num_prompt_tokens": 512, "num_output_tokens": 32,
                  "num_parameters": [6e9, 70e9]}).to_csv(path, index=False)
    main(["estimate", "--table", "a100", "--served-stack", "a100-vllm", str(path), "-o", out])
    est = pd.read_csv(out)
    assert (est["method"] == "calibrated").all() and (est["served_gpu_s"] > 0).all()
    assert est["served_gpu_s"].nunique() == 1 and est["served_model"].iloc[0] == "eleutherai/gpt-j-6b"


def test_served_estimates_refuses_a_size_that_is_not_a_positive_number():
    from helm_efficiency.errors import EfficiencyInputError
    from helm_efficiency.tables.served import served_estimates

    for bad in (-8e9, 0.0, "8B"):
        with pytest.raises(EfficiencyInputError, match="num_parameters"):
            served_estimates(["x/a"], [512], [32], stack="h100-trtllm", sizes=pd.DataFrame({"num_parameters": [bad]}))


def test_a_table_with_too_few_mixtures_of_experts_says_why_it_prices_none_by_size(tmp_path):
    path, out = tmp_path / "r.csv", str(tmp_path / "e.csv")
    pd.DataFrame({"model": ["org/moe", "org/dense"], "num_prompt_tokens": 512, "num_output_tokens": 32,
                  "num_parameters": [30e9, 30e9], "num_active_parameters": [3e9, None]}).to_csv(path, index=False)
    main(["estimate", "--table", "a100", str(path), "-o", out])  # the paper's Megatron table: dense models only
    est = pd.read_csv(out).set_index("model")
    assert np.isnan(est.loc["org/moe", "idealized_runtime_s"]) and est.loc["org/dense", "method"] == "size_only"
    assert "table a100 simulates 0 mixtures of experts, fewer than the 3" in est.loc["org/moe", "unestimated_reason"]


@pytest.mark.parametrize("layout, expected", [
    ("outputs", "holds suites (s1)"),
    ("run", "this is one run; pass its suite folder"),
    ("empty", "no run folders (holding run_spec.json or scenario_state.json) matching --runs '*'"),
])
def test_rescore_says_what_it_looked_for_when_no_run_matches(tmp_path, capsys, layout, expected):
    run = tmp_path / "runs" / "s1" / "simple1:model=x"
    run.mkdir(parents=True)
    (run / "run_spec.json").write_text("{}")
    (tmp_path / "nothing").mkdir()
    target = {"outputs": tmp_path / "runs", "run": run, "empty": tmp_path / "nothing"}[layout]
    with pytest.raises(SystemExit) as exit_info:
        main(["rescore", str(target)])
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_denoise_keeps_every_row_in_order(tmp_path):
    rng = np.random.default_rng(1)
    n = 60
    p, o = rng.integers(10, 500, n), rng.integers(1, 40, n)
    truth = 0.1 + 1e-4 * p + 0.01 * (o - 1)
    df = pd.DataFrame({"model": "m", "num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": truth * (1 + rng.exponential(0.3, n)),
                       "cached": ["true"] + ["false"] * (n - 1)})
    df.loc[5, "runtime_s"] = -1.0
    df.to_csv(tmp_path / "t.csv", index=False)
    main(["denoise", str(tmp_path / "t.csv"), "-o", str(tmp_path / "d.csv"), "--fit-out", str(tmp_path / "fit.json")])
    out = pd.read_csv(tmp_path / "d.csv")
    assert len(out) == n and list(out["num_prompt_tokens"]) == list(p)
    assert out["excluded_reason"].iloc[0] == "cached" and out["excluded_reason"].iloc[5] == "invalid_request_time"
    assert not out["used_in_fit"].iloc[0] and np.isfinite(out["denoised_runtime_s"].iloc[0])  # excluded yet valued
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["m"]["num_requests_used"] == n - 2


def test_explain_adds_up_and_names_its_neighbours(capsys):
    import json

    main(["explain", "meta/llama-3.1-8b", "--hardware", "v100", "--prompt-tokens", "300", "--output-tokens", "20", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["hardware"] == "v100"
    assert sum(report["terms_s"].values()) == pytest.approx(report["regression_s"])
    assert {n["model"] for n in report["neighbours"]} == {"ai21_j1_large", "gptj_6b", "openai_davinci"}
    lo, hi = report["interval_s"]
    assert lo < report["runtime_s"] < hi
    with pytest.raises(SystemExit):
        main(["explain", "no/such-model"])
    assert "registry" in capsys.readouterr().err


def test_explain_on_an_anchored_stack_says_what_the_correction_adds(capsys):
    """The default stack is anchored: its transfer estimate is wrapped in the stack's correction (it crashed there)."""
    import json

    main(["explain", "meta/llama-3.1-8b", "--prompt-tokens", "512", "--output-tokens", "32", "--json"])
    report = json.loads(capsys.readouterr().out)
    lo, hi = report["corrected_interval_s"]
    assert report["hardware"] == "h100-trtllm" and lo < report["corrected_runtime_s"] < hi
    assert report["corrected_runtime_s"] != report["runtime_s"]


@pytest.mark.slow
def test_random_model_verb_writes_a_folder_helm_can_serve(tmp_path):
    from transformers import AutoConfig

    main(["random-model", "--arch", "test/tiny-llama", "-o", str(tmp_path / "tiny")])
    config = AutoConfig.from_pretrained(str(tmp_path / "tiny"))
    assert config.model_type == "llama"
    assert (tmp_path / "tiny" / "tokenizer_config.json").exists()
    assert any(p.suffix == ".safetensors" for p in (tmp_path / "tiny").iterdir())


def test_negative_power_is_refused(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("model,num_prompt_tokens,num_output_tokens\nmeta/llama-3-8b,10,10\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", str(tmp_path / "r.csv"), "--power-w", "-5", "-o", str(tmp_path / "e.csv")])
    assert exit_info.value.code == 2 and "must be a positive" in capsys.readouterr().err


def test_schema_with_a_missing_base_names_the_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["schema", "-o", str(tmp_path / "s.yaml"), "--base", str(tmp_path / "nope.yaml")])
    assert "nope.yaml: field '--base': cannot read" in capsys.readouterr().err


def test_explain_piped_into_head_exits_quietly(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m helm_efficiency.cli explain meta/llama-3.1-8b --table a100 "
                          "--prompt-tokens 512 --output-tokens 32 | head -1", shell=True, capture_output=True, text=True)
    assert done.stdout.startswith("meta/llama-3.1-8b on a100") and "Traceback" not in done.stderr


def test_denoise_fit_out_is_strict_json_and_says_why_there_is_no_interval(tmp_path):
    rng = np.random.default_rng(3)
    n = 20
    p, o = rng.integers(10, 400, n), rng.integers(1, 30, n)
    runtime = 0.05 + 1e-4 * p + 0.01 * (o - 1) + rng.exponential(0.01, n)
    pd.DataFrame({"model": "m", "num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": runtime}).to_csv(tmp_path / "t.csv", index=False)
    main(["denoise", str(tmp_path / "t.csv"), "-o", str(tmp_path / "d.csv"), "--fit-out", str(tmp_path / "fit.json")])
    text = (tmp_path / "fit.json").read_text()
    assert "NaN" not in text
    report = json.loads(text)["m"]
    assert report["params_interval"] is not None or "too few requests" in report["params_interval_note"]


def test_denoise_reads_rescores_requests_table(tmp_path):
    rng = np.random.default_rng(4)
    n = 40
    p, o = rng.integers(10, 400, n), rng.integers(1, 30, n)
    table = pd.DataFrame({"run": "r", "model_deployment": "simple/model1", "num_prompt_tokens": p, "num_output_tokens": o,
                          "raw_runtime_s": 0.05 + 1e-4 * p + 0.01 * (o - 1), "status": ["ok"] * (n - 3) + ["cached"] * 3})
    table.to_csv(tmp_path / "efficiency_requests.csv", index=False)
    main(["denoise", str(tmp_path / "efficiency_requests.csv"), "-o", str(tmp_path / "d.csv")])
    out = pd.read_csv(tmp_path / "d.csv")
    assert out["used_in_fit"].sum() == n - 3 and list(out["excluded_reason"].fillna("")[-3:]) == ["cached"] * 3
    assert out["denoised_runtime_s"].notna().all()


def test_a_negative_overhead_is_constrained_not_reported_as_ok():
    from helm_efficiency.denoise.envelope import QUALITY_CONSTRAINED, LowerEnvelopeDenoiser

    p = np.tile([100, 200, 300, 400], 5)
    o = np.repeat([2, 4, 8, 16, 32], 4)
    timings = pd.DataFrame({"num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": -0.05 + 1e-3 * p + 0.01 * (o - 1)})
    fit = LowerEnvelopeDenoiser().fit(timings)
    assert fit.quality_ == QUALITY_CONSTRAINED and (fit.params_ >= 0).all() and "overhead_s" in fit.report()["constrained"]
    assert (fit.predict(p, o) > 0).all()


def test_help_names_required_columns_without_format_escapes(capsys):
    with pytest.raises(SystemExit):
        main(["estimate", "--help"])
    text = capsys.readouterr().out
    assert "90% interval" in text and "%%" not in text
    assert "Required columns: model" in text and "num_prompt_tokens" in text


def test_an_empty_model_cell_names_file_field_and_row(tmp_path, capsys):
    path = tmp_path / "requests.csv"
    path.write_text("model,num_prompt_tokens,num_output_tokens\nmeta/llama-3-8b,10,5\n,10,5\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", str(path), "-o", str(tmp_path / "out.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "model" in err and "row 3" in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_leaderboard_on_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "r1").mkdir()
    (tmp_path / "suite" / "r1" / "run_spec.json").write_text('{"adapter_spec": {"model": "x"}}')
    with pytest.raises(SystemExit) as exit_info:
        main(["leaderboard", str(tmp_path / "suite"), "-o", str(tmp_path / "lb")])
    assert exit_info.value.code == 2
    assert "stats.json" in capsys.readouterr().err


def test_a_table_profiled_at_batch_8_charges_each_request_an_eighth():
    from helm_efficiency.pricing.estimate import estimate_idealized
    from helm_efficiency.tables.calibrate import calibrate_table

    rows = [dict(model="m8", hardware="h100", num_prompt_tokens=p, num_output_tokens=o, runtime_s=0.01 + 1e-5 * p + 0.01 * (o - 1),
                 batch_size=8, num_gpus=1) for p in (1, 64, 256, 1024) for o in (1, 16, 64)]
    table = calibrate_table(pd.DataFrame(rows), name="b8")
    out = estimate_idealized(pd.DataFrame({"model": ["m8"], "num_prompt_tokens": [64], "num_output_tokens": [16]}), [table], name_columns=("model",))
    assert out["idealized_runtime_s"].iloc[0] == pytest.approx((0.01 + 64e-5 + 0.15) / 8, rel=0.02)


def test_cost_entries_compare_and_hash_by_what_they_are_built_from():
    from helm_efficiency.pricing.estimate import load_tables
    from helm_efficiency.util.data_paths import DATA_DIR
    from helm_efficiency.tables.cost_table import load_table

    shipped = load_tables(["h100-trtllm"])[0].entries
    reread = load_table(os.path.join(DATA_DIR, "h100-trtllm.json")).entries
    assert shipped[0] == reread[0] and hash(shipped[0]) == hash(reread[0]) and shipped[0] != shipped[1]
    assert len({shipped[0], reread[0], shipped[1]}) == 2


def test_every_option_of_every_verb_has_help_and_shows_its_default():
    """`helm-efficiency VERB --help` explains each argument and says what it is when not given."""
    import argparse

    from helm_efficiency.cli import build_parser

    parser = build_parser()
    [verbs] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for verb, sub in verbs.choices.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = formatter._expand_help(action) if action.help else ""
            assert text.strip(), f"{verb} {action.option_strings or action.dest}: no help"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in text, f"{verb} {action.option_strings}: default {action.default!r} not shown"
        sub.format_help()  # every help string formats (a stray % would fail here)
