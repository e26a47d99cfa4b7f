"""Served transfer: a model its stack's simulator refuses is priced from the nearest simulated
models, with a band widened by the stack's leave-one-model-out spread (tables/served_transfer.py)."""

import json

import numpy as np
import pytest

from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.registry import load_registry, registry_architecture
from helm_efficiency.builders.served_transfer import stack_errors, stack_spread
from helm_efficiency.sources.served_correction import interval_factors
from helm_efficiency.tables import served_transfer as T
from helm_efficiency.tables.served import (DEFAULT_SLA, load_served_table, price_simulated, price_transferred, served_estimates,
                                           simulated_architectures)


@pytest.mark.slow
def test_every_registry_model_prices_served_on_the_b200_stacks():
    keys = sorted(load_registry())
    for stack in ("b200-trtllm", "b200-vllm"):
        out = served_estimates(keys, [512] * len(keys), [256] * len(keys), stack=stack)
        missing = out[~(out["served_gpu_s"] > 0)]
        assert missing.empty, (stack, list(zip(missing["served_model"], missing["served_reason"])))
        assert (out["served_gpu_s_lo"] < out["served_gpu_s"]).all() and (out["served_gpu_s"] < out["served_gpu_s_hi"]).all()
        refused = ~out["served_model"].isin(list(load_served_table(stack).entries))  # the simulator's refusals, and test/tiny-llama
        assert refused.sum() >= 10 and out.loc[refused, "served_method"].str.startswith("transfer from ").all()
        assert (out.loc[~refused, "served_method"] == "simulated").all()


def test_a_held_out_architecture_lands_within_its_stacks_spread_and_its_band_holds_it():
    stack, key = "h100-trtllm", "meta/llama-3.1-8b"
    table = load_served_table(stack)
    lo_f, hi_f, _ = interval_factors(stack)
    p, o = np.array([512.0, 2048.0]), np.array([256.0, 16.0])
    own = price_simulated(table, key, DEFAULT_SLA, p, o, lo_f, hi_f)
    spread = T.spread(stack, "dense")
    arch = registry_architecture(key)
    out = T.twins(arch, simulated_architectures(table))
    assert key in out and "meta/llama-3-8b" in out  # the same architecture under another name is held out with it
    moved = price_transferred(table, key, arch, hardware_spec("h100"), DEFAULT_SLA, p, o, lo_f, hi_f, spread, exclude=out)
    assert all(m.startswith("transfer from ") and "llama-3" not in m for m in moved.method)
    error = np.log(moved.gpu_s / own.gpu_s)
    assert ((error > spread[0]) & (error < spread[1])).all(), error
    assert ((moved.lo < own.gpu_s) & (own.gpu_s < moved.hi)).all()
    # the transfer's own error widens the band beyond the simulated one's
    assert (moved.hi / moved.gpu_s > own.hi / own.gpu_s).all() and (moved.lo / moved.gpu_s < own.lo / own.gpu_s).all()


def test_the_band_of_a_transfer_that_overprices_reaches_further_down():
    """e = log(priced / simulated) in [lo_log, hi_log]: the simulated value lies in [P·e^-hi_log, P·e^-lo_log]."""
    lo, hi = T.widen(np.array([1.0]), np.array([1.0]), np.array([1.0]), -0.1, 0.7)  # a point band, a transfer that overprices
    assert np.isclose(lo[0], np.exp(-0.7)) and np.isclose(hi[0], np.exp(0.1))


def test_a_transfer_runs_only_where_the_model_fits_and_an_empty_request_costs_nothing():
    out = served_estimates(["openai/gpt-oss-120b", "microsoft/phi-2", "microsoft/phi-2"], [512, 512, 0], [256, 256, 0], stack="h100-trtllm")
    weights = T.stored_bytes(registry_architecture("openai/gpt-oss-120b"))
    assert out["served_num_gpus"].iloc[0] * hardware_spec("h100").memory_bytes * 0.8 >= weights  # its weights fit where it is priced
    assert (out["served_energy_j"].iloc[:2] > 0).all() and out["served_gpu_s"].iloc[2] == 0 and out["served_reason"].iloc[2] == ""
    # the KV cache of a multi-head model caps its batch below a grouped-query neighbour's
    phi2, llama = registry_architecture("microsoft/phi-2"), registry_architecture("meta/llama-3.2-3b-instruct-turbo")
    ratio, running = T.rescale(phi2, llama, hardware_spec("h100"), 2048, 2048, 1, 256)
    assert running < 256 and ratio > 1


def test_a_model_known_only_by_its_size_is_served_from_dense_models_of_that_size():
    from helm_efficiency.helm_io.catalog import HELM_ONLY
    from helm_efficiency.analytic.identity import identify

    name = "mistralai/ministral-8b-2512"  # in HELM's metadata with a size, not in the registry
    assert identify(HELM_ONLY, [name]).registry_key is None and identify(HELM_ONLY, [name]).num_parameters
    out = served_estimates([name, "not/a-model"], [512, 512], [256, 256], stack="h100-trtllm")
    row = out.iloc[0]
    assert row["served_method"].startswith("size_only from ") and row["served_model"] == ""
    assert row["served_gpu_s_lo"] < row["served_gpu_s"] < row["served_gpu_s_hi"]
    assert np.isnan(out["served_gpu_s"].iloc[1]) and "no parameter count" in out["served_reason"].iloc[1]
    lo, hi = T.spread("h100-trtllm", "size")
    assert row["served_gpu_s_hi"] / row["served_gpu_s"] >= np.exp(-lo) and row["served_gpu_s_lo"] / row["served_gpu_s"] <= np.exp(-hi)


def test_a_mixture_of_experts_known_by_its_sizes_is_served_from_mixtures_of_experts(tmp_path):
    from helm_efficiency.helm_io.catalog import Catalog

    moe_name = "qwen/qwen3-next-80b-a3b-instruct"  # HELM gives 81B; 3B active from its name
    out = served_estimates([moe_name], [512], [256], stack="h100-trtllm").iloc[0]
    candidates = simulated_architectures(load_served_table("h100-trtllm"))
    used = out["served_method"].removeprefix("size_only from ").split(", ")
    assert out["served_method"].startswith("size_only from ") and all(T.is_moe(candidates[k]) for k in used)
    assert out["served_num_gpus"] * hardware_spec("h100").memory_bytes >= 2 * 81e9  # on GPUs that hold every expert
    lo, hi = T.spread("h100-trtllm", "size_moe")
    assert out["served_gpu_s_hi"] / out["served_gpu_s"] >= np.exp(-lo) and out["served_gpu_s_lo"] / out["served_gpu_s"] <= np.exp(-hi)
    # a dense model of the same 81B, known by its size in a suite's prod_env, costs far more
    (tmp_path / "model_metadata.yaml").write_text("models:\n  - name: org/dense-81b\n    num_parameters: 81000000000\n")
    dense = served_estimates(["org/dense-81b"], [512], [256], stack="h100-trtllm", catalog=Catalog(str(tmp_path))).iloc[0]
    assert out["served_gpu_s"] < 0.5 * dense["served_gpu_s"]
    # and it lands near a simulated 3B-active mixture of experts of a third its size (Qwen3-30B-A3B)
    qwen3 = served_estimates(["qwen/qwen3-30b-a3b"], [512], [256], stack="h100-trtllm").iloc[0]
    assert qwen3["served_gpu_s"] / 3 < out["served_gpu_s"] < qwen3["served_gpu_s"] * 3


def test_a_transfer_from_farther_than_any_validated_neighbour_is_flagged_extrapolated():
    out = served_estimates(["test/tiny-llama", "microsoft/phi-2"], [512, 512], [64, 64], stack="h100-trtllm")
    assert (out["served_method"].str.startswith("transfer from ")).all() and (out["served_gpu_s"] > 0).all()
    assert list(out["served_extrapolated"]) == [True, False]  # a 2-layer test model is far from every simulated one
    tiny, candidates = registry_architecture("test/tiny-llama"), simulated_architectures(load_served_table("h100-trtllm"))
    nearest = T.transfer_distance(tiny, candidates[T.neighbours(tiny, candidates)[0]])
    assert T.beyond_validated("h100-trtllm", "dense", nearest) and not T.beyond_validated("h100-trtllm", "dense", 0.1)


def test_step_weights_of_a_mixture_of_experts_grow_with_the_batch_up_to_all_experts():
    moe, dense = registry_architecture("mistralai/mixtral-8x7b-32kseqlen"), registry_architecture("meta/llama-3.1-8b")
    steps = [T.step_weight_bytes(moe, b) for b in (1, 2, 8, 64, 4096)]
    assert steps[0] == T.F.weight_bytes(moe) and all(a < b for a, b in zip(steps, steps[1:-1]))
    every_expert = T.F.weight_bytes(moe) + (T.F.parameter_count(moe, active_only=False) - T.F.parameter_count(moe)) * 2.0
    assert np.isclose(steps[-1], every_expert, rtol=1e-6)
    assert T.step_weight_bytes(dense, 1) == T.step_weight_bytes(dense, 256) == T.F.weight_bytes(dense)
    assert T.neighbours(moe, {"a": dense, "b": moe, "c": moe}, exclude=["c"]) == ["b"]  # of its kind first


@pytest.mark.slow
def test_the_shipped_spread_rebuilds_the_same():
    with open(T.SPREAD_PATH) as f:
        shipped = json.load(f)["stacks"]["a100-vllm"]
    errors = stack_errors("a100-vllm")
    assert stack_spread(errors) == shipped
