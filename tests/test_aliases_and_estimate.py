"""Alias resolution and idealized estimates: unknown models get a reason, never a number."""

import json

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.pricing.estimate import REASON_UNKNOWN_MODEL, estimate_idealized, load_tables
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.tables.cost_table import load_table

from conftest import synthetic_measurements


def test_shipped_a100_table_resolves_helm_deployments_through_aliases():
    table = load_table("a100")
    assert table.resolve(["together/gpt-j-6b"]).model == "gptj_6b"
    assert table.resolve(["no/such-deployment", "eleutherai/gpt-neox-20b"]).model == "gpt_neox_20b"
    assert table.resolve(["no/such-model"]) is None


def test_unknown_model_gets_reason_and_no_number():
    requests = pd.DataFrame({"model_deployment": ["org/unknown"], "model": ["org/unknown"], "num_prompt_tokens": [10], "num_output_tokens": [5]})
    out = estimate_idealized(requests, [load_table("a100"), load_table("helm")])
    assert np.isnan(out["idealized_runtime_s"].iloc[0])
    assert out["unestimated_reason"].iloc[0].startswith(REASON_UNKNOWN_MODEL + ": org/unknown")


def test_energy_and_cost_use_gpu_count_power_and_price(tmp_path):
    table = calibrate_table(synthetic_measurements(hardware="a100", num_gpus=8), name="t", aliases={"org/dep": "synthetic"})
    requests = pd.DataFrame({"model_deployment": ["org/dep"], "model": ["x"], "num_prompt_tokens": [100], "num_output_tokens": [10]})
    out = estimate_idealized(requests, [table])
    runtime = out["idealized_runtime_s"].iloc[0]
    # Per phase: prefill (the request priced at one output token) at A100's batch-1 prefill
    # power, the rest at its decode power (helm_efficiency/analytic/hardware.json).
    prefill = table.entries[0].predict([100], [1])["runtime_s"].iloc[0]
    assert out["idealized_energy_j"].iloc[0] == pytest.approx(8 * (prefill * 340 + (runtime - prefill) * 220))
    assert out["idealized_cost_usd"].iloc[0] == pytest.approx(runtime / 3600 * 8 * 4.096)
    custom = estimate_idealized(requests, [table], power_w=100, usd_per_gpu_hour=1.0)
    assert custom["idealized_energy_j"].iloc[0] == pytest.approx(runtime * 8 * 100)


def test_table_round_trips_through_json(tmp_path):
    table = calibrate_table(synthetic_measurements(), name="t", aliases={"a/b": "synthetic"})
    path = tmp_path / "t.json"
    table.save(str(path))
    again = load_table(str(path))
    p, o = [1, 100, 400], [1, 3, 20]
    np.testing.assert_allclose(again.resolve(["a/b"]).predict(p, o)["runtime_s"], table.entries[0].predict(p, o)["runtime_s"])


def test_corrupt_table_file_names_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"entries": [')
    with pytest.raises(EfficiencyInputError, match="bad.json"):
        load_table(str(path))
    path.write_text(json.dumps({"schema_version": 99, "entries": []}))
    with pytest.raises(EfficiencyInputError, match="schema_version"):
        load_table(str(path))


def test_rows_whose_architecture_contradicts_the_named_entry_are_priced_from_the_architecture():
    """A local folder named like a known model but really 2 layers, 128 wide (issue #19)."""
    tables = load_tables(["h100-trtllm"])
    rows = pd.DataFrame({"model": ["meta/llama-3-8b"] * 2, "num_prompt_tokens": [512, 512], "num_output_tokens": [64, 64]})
    by_name = estimate_idealized(rows, tables, name_columns=("model",))
    tiny = rows.assign(num_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512, vocab_size=1000)
    by_config = estimate_idealized(tiny, tables, name_columns=("model",))
    assert set(by_name["method"]) == {"calibrated"} and set(by_config["method"]) == {"transfer"}
    assert (by_config["idealized_runtime_s"] < by_name["idealized_runtime_s"] / 5).all()


def test_transfer_beyond_the_profiled_lengths_is_flagged_and_wider():
    tables = load_tables(["a100"])
    rows = pd.DataFrame({"model": ["meta/llama-3.1-8b"] * 3, "num_prompt_tokens": [512, 100_000, 4096], "num_output_tokens": [32, 10, 2048]})
    out = estimate_idealized(rows, tables, name_columns=("model",))
    assert set(out["method"]) == {"transfer"}
    assert list(out["extrapolated"]) == [False, True, True]
    relative_width = (out["idealized_runtime_hi_s"] - out["idealized_runtime_lo_s"]) / out["idealized_runtime_s"]
    assert relative_width[1] > 2 * relative_width[0] and relative_width[2] > 2 * relative_width[0]


def test_lengths_beyond_the_context_window_are_refused_with_the_reason():
    tables = load_tables(["a100"])
    rows = pd.DataFrame({"model": ["openai/davinci", "meta/llama-3.1-8b", "openai/davinci"],
                         "num_prompt_tokens": [10**12, 200_000, 1000], "num_output_tokens": [1, 1, 10]})
    out = estimate_idealized(rows, tables, name_columns=("model",))
    assert out["idealized_runtime_s"].isna().tolist() == [True, True, False]
    assert "context window (2048 tokens" in out["unestimated_reason"][0]
    assert "context window (131072 tokens" in out["unestimated_reason"][1]


def test_a_users_own_table_is_not_mixed_with_the_shipped_ones(tmp_path):
    """Transfer learns from a user's --table alone, so its results do not move when a shipped table is rebuilt."""
    import json
    import os

    from helm_efficiency.pricing.estimate import load_tables, transfer_pool
    from helm_efficiency.util.data_paths import DATA_DIR

    raw = json.load(open(os.path.join(DATA_DIR, "h100-trtllm.json")))
    raw["entries"] = raw["entries"][:3]
    raw["name"] = "mine"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(raw))
    mine = load_tables([str(path)])
    assert {e.model for e in transfer_pool(mine)} == {e["model"] for e in raw["entries"]}
    assert len(transfer_pool(load_tables(["h100-trtllm"]))) > len(raw["entries"])  # shipped tables still pool together
