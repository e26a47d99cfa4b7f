"""FLOP, byte and parameter counts against hand-computed values; roofline; transfer wiring."""

import pandas as pd
import pytest

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.roofline import decode_time_s, request_time_s
from helm_efficiency.analytic.transfer import tensor_parallel_for
from helm_efficiency.pricing.estimate import estimate_idealized, load_tables

# GQA: 2 layers, h=64, 4 query heads / 2 KV heads (head_dim 16), gated MLP i=128, vocab 100.
GQA = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_kv_heads": 2, "intermediate_size": 128, "vocab_size": 100, "num_mlp_matrices": 3}
# MoE: 1 layer, h=8, 2 heads, 4 experts of which 2 active, gated MLP i=16, no vocab.
MOE = {"num_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "num_kv_heads": 2, "intermediate_size": 16, "vocab_size": 0, "num_mlp_matrices": 3, "num_experts": 4, "num_active_experts": 2}


def test_gqa_counts_by_hand():
    # attention per layer: Q 64·64 + K,V 2·64·32 + O 64·64 = 12288; MLP 3·64·128 = 24576
    assert F.attention_params_per_layer(GQA) == 12288
    assert F.parameter_count(GQA) == 2 * (12288 + 24576) + 2 * 100 * 64
    assert F.matmul_params(GQA) == 80128  # input embedding is a lookup
    # prefill of 10 tokens: 2·80128·10 + 4·L·heads·d·(10·11/2)
    assert F.prefill_flops(GQA, 10) == 2 * 80128 * 10 + 4 * 2 * 4 * 16 * 55
    # decoding with 10 tokens cached attends to 11 keys
    assert F.decode_flops(GQA, 10) == 2 * 80128 + 4 * 2 * 4 * 16 * 11
    # KV cache: 2 (K and V) · L · tokens · kv heads · d · bytes
    assert F.kv_cache_bytes(GQA, 10, 2) == 2 * 2 * 10 * 2 * 16 * 2
    assert F.decode_bytes(GQA, 10, 2) == 80128 * 2 + 2 * 2 * 11 * 2 * 16 * 2


def test_moe_counts_only_active_experts_per_token():
    attention = 8 * 8 + 2 * 8 * 8 + 8 * 8
    expert = 3 * 8 * 16
    router = 8 * 4
    assert F.parameter_count(MOE, active_only=True) == attention + 2 * expert + router
    assert F.parameter_count(MOE, active_only=False) == attention + 4 * expert + router
    assert F.weight_bytes(MOE, 2) == 2 * (attention + 2 * expert + router)


def test_tensor_parallel_allreduce_volume():
    arch = dict(GQA, tensor_parallel=4)
    # 2 all-reduces per layer, tokens·h·bytes each, ring factor 2·(t−1)/t
    assert F.allreduce_bytes_per_gpu(arch, 3, 2) == 2 * 2 * (3 * 64 * 2) * 2 * 3 / 4
    assert F.allreduce_bytes_per_gpu(GQA, 3, 2) == 0


def test_roofline_decode_is_memory_bound_at_batch_one():
    a100 = hardware_spec("a100")
    arch = {"num_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_kv_heads": 8, "intermediate_size": 14336, "vocab_size": 128256, "num_mlp_matrices": 3}
    t = decode_time_s(arch, a100, 100)
    assert t == pytest.approx(F.decode_bytes(arch, 100) / a100.memory_bandwidth)
    assert request_time_s(arch, a100, 100, 3) > request_time_s(arch, a100, 100, 2)


def test_tensor_parallel_is_chosen_to_fit_memory():
    a100 = hardware_spec("a100")
    big = {"num_layers": 80, "hidden_size": 8192, "num_attention_heads": 64, "num_kv_heads": 8, "intermediate_size": 28672, "vocab_size": 128256, "num_mlp_matrices": 3}
    assert tensor_parallel_for(GQA, a100) == 1
    assert tensor_parallel_for(big, a100) == 4  # ~141 GB of fp16 weights


def test_unprofiled_registry_model_gets_transfer_with_wider_interval():
    tables = load_tables(["a100"])
    requests = pd.DataFrame({"model_deployment": ["meta/llama-3.1-8b-instruct", "together/gpt-j-6b"], "model": [None, None],
                             "num_prompt_tokens": [500, 500], "num_output_tokens": [32, 32]})
    out = estimate_idealized(requests, tables)
    assert list(out["method"]) == ["transfer", "calibrated"]
    width = (out["idealized_runtime_hi_s"] - out["idealized_runtime_lo_s"]) / out["idealized_runtime_s"]
    assert width.iloc[0] > width.iloc[1]
    assert out["idealized_energy_j"].iloc[0] > 0


def _shipped_entries_without(model):
    from helm_efficiency.pricing.estimate import transfer_pool

    return [e for e in transfer_pool(load_tables(["a100"])) if e.model != model]


def test_transfer_to_a_near_twin_inherits_the_neighbours_deviation():
    """GPT-J held out on every hardware: J1-Large (same width, 32 vs 28 layers) is the
    nearest profiled shape, so the kriged residual beats the shared regression alone."""
    from helm_efficiency.analytic.transfer import TransferModel

    gptj = load_tables(["a100"])[0].entry("gptj_6b")
    model = TransferModel("a100").fit(_shipped_entries_without("gptj_6b"))
    rows = gptj.measurements
    p, o, truth = rows["num_prompt_tokens"], rows["num_output_tokens"], rows["runtime_s"].to_numpy()
    transfer = model.predict(gptj.architecture, p, o)["runtime_s"].to_numpy()
    regression = model.regression(gptj.architecture, "a100", p, o)
    assert abs(transfer / truth - 1).mean() < abs(regression / truth - 1).mean()
    weights = model.neighbour_weights(gptj.architecture)
    assert max(weights, key=weights.get) == "ai21_j1_large"
    assert "bloom" in model.models_  # the A100-only models inform the shared regression


def test_transfer_interval_is_wider_far_from_profiled_neighbours():
    from helm_efficiency.analytic.transfer import TransferModel

    entries = _shipped_entries_without("gptj_6b")
    v100 = TransferModel("v100").fit(entries)
    near = load_tables(["a100"])[0].entry("gptj_6b").architecture
    far = dict(near, num_layers=80, hidden_size=8192, num_attention_heads=64, intermediate_size=28672, tensor_parallel=8)
    width = {}
    for name, arch in (("near", near), ("far", far)):
        out = v100.predict(arch, [512], [16])
        width[name] = float((out["runtime_hi_s"] / out["runtime_lo_s"]).iloc[0])
    assert width["far"] > width["near"] > 1.0
    assert "bloom" in v100.models_ and all(e.hardware == "v100" for e in v100.neighbours_)


def test_transfer_regression_never_credits_a_cost_with_negative_time():
    import numpy as np
    import statsmodels.api as sm

    from helm_efficiency.analytic.transfer import _wls

    rng = np.random.default_rng(0)
    a = rng.uniform(1, 2, 50)
    d = rng.normal(0, 1e-3, 50)
    x = np.column_stack([a, a + d, np.ones(50)])  # two nearly collinear costs
    y = 2 * a + 1 - 5 * d  # least squares would pay for it with 7·a − 5·(a + d)
    assert (sm.WLS(y, x, weights=1 / y**2).fit().params < 0).any()
    params = _wls(x, y)
    assert (params >= 0).all()
    assert np.abs(x @ params / y - 1).max() < 0.01


def test_linear_attention_layers_are_counted_as_such():
    """One full-attention layer (with output gate) and one Gated DeltaNet layer, by hand."""
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.analytic.flops import attention_flops, kv_cache_bytes, parameter_count

    config = {"model_type": "qwen3_next", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1,
              "head_dim": 4, "intermediate_size": 16, "vocab_size": 10, "layer_types": ["linear_attention", "full_attention"],
              "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 3, "linear_value_head_dim": 5,
              "attn_output_gate": True, "tie_word_embeddings": True}
    arch = architecture_from_config(config)
    assert arch["num_linear_attention_layers"] == 1
    full = 8 * 8 + 8 * 8 + 2 * 8 * 4 + 8 * 8  # Q (+ its gate half), K, V, O
    linear = 8 * (2 * 6 + 20) + 8 * 20 + 2 * 8 * 4 + 20 * 8  # q, k, v; z gate; beta and alpha; out
    mlp = 2 * int(arch.get("num_mlp_matrices") or 2) * 8 * 16
    assert parameter_count(arch) == full + linear + mlp + 10 * 8
    # Quadratic attention only in the full layer; the linear layer's state update is per token.
    assert attention_flops(arch, 1, 99) == 4.0 * 2 * 4 * 100 + 4.0 * 4 * 3 * 5
    assert kv_cache_bytes(arch, 10, 1) == 10 * 2 * 1 * 4 + 4 * 3 * 5
