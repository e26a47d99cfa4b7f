"""Modern reference stacks (simulated by AIConfigurator), the architecture registry for HELM's
model list, and the resolution chain (calibrated → transfer → size_only → not estimated)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.analytic.flops import embedding_params, parameter_count
from helm_efficiency.analytic.registry import load_registry, registry_architecture, registry_name
from helm_efficiency.analytic.transfer import REQUIRED_ARCH
from helm_efficiency.pricing.estimate import REASON_UNKNOWN_MODEL, estimate_idealized, load_tables
from helm_efficiency.helm_io.catalog import HELM_ONLY
from helm_efficiency.sources.aiconfigurator import STACKS, tabulate
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.stacks import DEFAULT_TABLE, SIMULATED_TABLES

HEADLINE_MODELS = ["meta/llama-3-8b", "meta/llama-2-7b", "mistralai/mistral-7b-v0.1"]


def test_every_registry_entry_is_complete_and_matches_helms_parameter_count():
    registry = load_registry()
    for key, entry in registry.items():
        assert entry["source"], key
        arch = registry_architecture(key)
        assert all(arch.get(k) for k in REQUIRED_ARCH), (key, arch)
        assert arch["num_attention_heads"] % arch["num_kv_heads"] == 0, key
        for name in entry.get("helm_names", []) + entry.get("hf_aliases", []):
            assert registry_name(name) == key, (name, key)
    checked = 0
    for model in HELM_ONLY.open_text_models():
        key = registry_name(model["name"])
        if key is None or not model.get("num_parameters"):
            continue
        arch = registry_architecture(key)
        total = parameter_count(arch, active_only=False)
        non_embedding = total - embedding_params(arch)
        close = min(abs(total / model["num_parameters"] - 1), abs(non_embedding / model["num_parameters"] - 1)) <= 0.08
        # Where HELM's number is not the model's size, the entry must say why.
        assert close or registry[key].get("helm_num_parameters_note"), (model["name"], key, total, model["num_parameters"])
        checked += 1
    assert checked >= 150


def test_deployments_and_hugging_face_ids_resolve_through_the_registry():
    assert registry_name("together/llama-2-7b") == "meta/llama-2-7b"
    assert registry_name("meta-llama/Llama-3.1-8B") == "meta/llama-3.1-8b"
    assert registry_name("huggingface/llama-3.1-8b-instruct") == "meta/llama-3.1-8b"  # via HELM's deployments
    assert registry_name("no/such-model") is None


def test_tabulate_a_small_real_config_then_calibrate_reproduces_the_simulator():
    config = load_registry()["qwen/qwen3-0.6b"]["config"]
    rows = tabulate(config, "qwen/qwen3-0.6b", STACKS["h100-trtllm"], prompt_tokens=(1, 128, 512, 1024, 2048), output_tokens=(1, 8, 64, 256),
                    hf_id="Qwen/Qwen3-0.6B")
    assert len(rows) == 20 and (rows["runtime_s"] > 0).all()
    assert rows["provenance_backend"].iloc[0] == "trtllm" and rows["provenance_backend_version"].iloc[0]
    assert rows["num_gpus"].iloc[0] == 1 and rows["num_layers"].iloc[0] == 28
    grid = rows.pivot(index="num_prompt_tokens", columns="num_output_tokens", values="runtime_s")
    # More output tokens always cost more; across prompt lengths the measured kernels are not
    # strictly monotone (kernel choice changes by a few percent), but long prompts cost more.
    assert (np.diff(grid.to_numpy(), axis=1) > 0).all() and (grid.iloc[-1] > grid.iloc[0]).all()
    table = calibrate_table(rows, name="qwen-test")
    [entry] = table.entries
    assert entry.provenance["system"] == "h100_sxm" and entry.provenance["dtype"] == "bf16"
    predicted = entry.predict(rows["num_prompt_tokens"], rows["num_output_tokens"])["runtime_s"].to_numpy()
    assert np.median(np.abs(predicted / rows["runtime_s"].to_numpy() - 1)) < 0.02


def test_mapped_architectures_are_flagged():
    rows = tabulate(load_registry()["mistralai/mistral-7b-v0.1"]["config"], "mistral", STACKS["h100-vllm"], prompt_tokens=(1, 256), output_tokens=(1, 8))
    assert rows["provenance_mapped_from"].iloc[0] == "mistral"


@pytest.mark.parametrize("table_name", SIMULATED_TABLES)
def test_headline_models_get_runtime_energy_and_cost_on_every_modern_table(table_name):
    requests = pd.DataFrame({"model": HEADLINE_MODELS, "num_prompt_tokens": 1024, "num_output_tokens": 1024})
    out = estimate_idealized(requests, load_tables([table_name]), name_columns=("model",))
    assert out["method"].eq("calibrated").all(), out[["model", "method", "unestimated_reason"]]
    for column in ("idealized_runtime_s", "idealized_energy_j", "idealized_cost_usd"):
        assert (out[column] > 0).all(), column
    assert (out["idealized_runtime_lo_s"] <= out["idealized_runtime_s"]).all() and (out["idealized_runtime_s"] <= out["idealized_runtime_hi_s"]).all()


def test_energy_uses_batch1_phase_power_below_rated_power():
    requests = pd.DataFrame({"model": ["meta/llama-3-8b"], "num_prompt_tokens": [1024], "num_output_tokens": [1024]})
    out = estimate_idealized(requests, load_tables([DEFAULT_TABLE]), name_columns=("model",)).iloc[0]
    rated = out["idealized_runtime_s"] * 700  # H100 board power, one GPU
    assert 0.3 * rated < out["idealized_energy_j"] < 0.9 * rated
    override = estimate_idealized(pd.DataFrame([requests.iloc[0]]), load_tables([DEFAULT_TABLE]), power_w=100, name_columns=("model",)).iloc[0]
    assert override["idealized_energy_j"] == pytest.approx(out["idealized_runtime_s"] * 100)


def test_resolution_chain_transfer_size_only_and_reasons():
    requests = pd.DataFrame({
        "model": ["eleutherai/pythia-2.8b-v0", "ai21/jamba-1.5-mini", "org/sized", "openai/gpt-4-0613", "org/unknown"],
        "num_prompt_tokens": 512, "num_output_tokens": 32,
        "num_parameters": [np.nan, np.nan, 7e9, np.nan, np.nan],
    })
    out = estimate_idealized(requests, load_tables([DEFAULT_TABLE]), name_columns=("model",)).set_index("model")
    assert out.loc["eleutherai/pythia-2.8b-v0", "method"] == "transfer"  # the simulator lacks its head size
    assert out.loc["ai21/jamba-1.5-mini", "method"] == "size_only"  # HELM metadata gives its size
    sized = out.loc["org/sized"]
    assert sized["method"] == "size_only" and sized["idealized_runtime_lo_s"] < sized["idealized_runtime_s"] < sized["idealized_runtime_hi_s"]
    calibrated = estimate_idealized(pd.DataFrame({"model": ["meta/llama-2-7b"], "num_prompt_tokens": [512], "num_output_tokens": [32]}),
                                    load_tables([DEFAULT_TABLE]), name_columns=("model",)).iloc[0]
    assert sized["idealized_runtime_s"] == pytest.approx(calibrated["idealized_runtime_s"], rel=0.5)
    assert "closed-weight" in out.loc["openai/gpt-4-0613", "unestimated_reason"]
    reason = out.loc["org/unknown", "unestimated_reason"]
    assert reason.startswith(REASON_UNKNOWN_MODEL) and "num_parameters" in reason and "registry" in reason


def test_a_mixture_of_experts_known_by_its_sizes_is_priced_by_what_a_token_runs_through():
    from helm_efficiency.analytic.identity import identify

    # active sizes: stated (active_parameters.json, also under another HELM name), read from a
    # '<total>B-A<active>B' name, or given as a request column; none for a dense model
    assert identify(HELM_ONLY, ["ibm/granite-4.0-h-small-with-guardian"]).num_active_parameters == 9e9
    assert identify(HELM_ONLY, ["qwen/qwen3-next-80b-a3b-instruct"]).num_active_parameters == 3e9
    assert identify(HELM_ONLY, ["mistralai/ministral-8b-2512"]).num_active_parameters is None
    requests = pd.DataFrame({
        "model": ["qwen/qwen3-30b-a3b", "org/moe-30b", "org/dense-30b", "qwen/qwen3-next-80b-a3b-instruct"],
        "num_prompt_tokens": 512, "num_output_tokens": 32,
        "num_parameters": [np.nan, 30.5e9, 30.5e9, np.nan], "num_active_parameters": [np.nan, 3.3e9, np.nan, np.nan],
    })
    rows = []
    for name, group in requests.groupby("model", sort=False):  # one model per call, as a suite's runs are
        rows.append(estimate_idealized(group.reset_index(drop=True), load_tables([DEFAULT_TABLE]), name_columns=("model",)))
    out = pd.concat(rows).set_index("model")
    moe, dense, simulated = out.loc["org/moe-30b"], out.loc["org/dense-30b"], out.loc["qwen/qwen3-30b-a3b"]
    assert moe["method"] == dense["method"] == "size_only" and simulated["method"] == "calibrated"
    # Qwen3-30B-A3B's own shape, known by its two sizes: near its simulated price, far below a dense 30B
    assert moe["idealized_runtime_s"] == pytest.approx(simulated["idealized_runtime_s"], rel=0.5)
    assert moe["idealized_runtime_s"] < 0.6 * dense["idealized_runtime_s"]
    # its band is its own (measured on the stack's simulated mixtures of experts), wider than a dense model's
    assert moe["idealized_runtime_hi_s"] / moe["idealized_runtime_s"] > dense["idealized_runtime_hi_s"] / dense["idealized_runtime_s"]
    assert moe["idealized_runtime_lo_s"] < simulated["idealized_runtime_s"] < moe["idealized_runtime_hi_s"]
    assert out.loc["qwen/qwen3-next-80b-a3b-instruct", "idealized_runtime_s"] < dense["idealized_runtime_s"]


@pytest.mark.parametrize("name, active", [
    ("qwen/qwen3-next-80b-a3b-instruct", 3e9), ("Qwen/Qwen3-235B-A22B", 22e9), ("ibm/granite-3.0-3b-a800m-instruct", 0.8e9),
    ("x/m-8x7b-a13b", None),  # not a whole word: '7b-a13b' inside '8x7b-a13b'
    ("x/phi-3b-a30b", None), ("x/model-1b-a0b", None),  # active not below the total, or zero
    ("qwen/qwen2.5-7b-awq", None), ("meta/llama-3.1-8b-a100", None),
])
def test_a_name_states_its_active_size_only_as_a_whole_total_b_active_b_word(name, active):
    from helm_efficiency.analytic.identity import named_active_parameters

    assert named_active_parameters(name) == active


def test_stated_active_sizes_are_below_helms_totals():
    import json

    from helm_efficiency.util.data_paths import ACTIVE_PARAMETERS_JSON

    with open(ACTIVE_PARAMETERS_JSON) as f:
        facts = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    for name, fact in facts.items():
        total = HELM_ONLY.model_metadata(name)["num_parameters"]
        assert 0 < fact["active"] < fact["total"] and fact["total"] == pytest.approx(total, rel=0.05), name
        assert fact["source"]


def test_size_only_prices_no_mixture_of_experts_on_a_stack_that_simulates_too_few():
    from helm_efficiency.analytic.architecture import is_moe
    from helm_efficiency.analytic.size_only import MIN_MOE_MODELS, SizeOnlyModel
    from helm_efficiency.errors import EfficiencyInputError
    from helm_efficiency.tables.corrected_entry import simulated_entries

    entries = simulated_entries(load_tables([DEFAULT_TABLE])[0].entries)
    moe = [e for e in entries if is_moe(e.architecture)]
    fitted = SizeOnlyModel().fit([e for e in entries if e not in moe] + moe[:MIN_MOE_MODELS - 1])
    assert not fitted.prices_moe()
    with pytest.raises(EfficiencyInputError, match=f"{MIN_MOE_MODELS - 1} simulated mixtures of experts"):
        fitted.predict(30e9, [512], [32], active_parameters=3e9)
    assert np.isfinite(fitted.predict(30e9, [512], [32])["runtime_s"]).all()  # a dense model still prices
    full = SizeOnlyModel().fit(entries)
    assert full.prices_moe() and len(full.moe_models_) >= MIN_MOE_MODELS


@pytest.mark.slow
def test_coverage_of_helms_open_models_is_at_least_95_percent():
    models = HELM_ONLY.open_text_models()
    requests = pd.DataFrame({"model": [m["name"] for m in models], "num_prompt_tokens": 512, "num_output_tokens": 32})
    out = estimate_idealized(requests, load_tables([DEFAULT_TABLE]), name_columns=("model",))
    assert out["idealized_runtime_s"].notna().mean() >= 0.95
    assert HELM_ONLY.model_metadata("meta/llama-3-8b")["access"] == "open"


def test_estimate_path_imports_neither_torch_nor_helm_code():
    code = ("import sys, helm_efficiency.pricing.estimate, helm_efficiency.denoise.requests, helm_efficiency.analytic.transfer, "
            "helm_efficiency.tables.cost_table, helm_efficiency.costmodel.estimator, helm_efficiency.helm.aggregate, "
            "helm_efficiency.report.pareto, helm_efficiency.util.executors, helm_efficiency.pricing.estimate_csv; "
            "print(any(m == 'torch' or m == 'helm' or m.startswith('helm.') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_shipped_stack_names_and_the_simulator_stacks_agree():
    """tables/names.py (no heavy imports) and sources/aiconfigurator.py both name the stacks."""
    from helm_efficiency.sources.aiconfigurator import STACKS

    assert tuple(STACKS) == SIMULATED_TABLES
