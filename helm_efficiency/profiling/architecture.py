"""Architecture columns (measurements schema) from a Hugging Face config, and config checks."""

from typing import Any, Dict, Optional

from helm_efficiency.errors import EfficiencyInputError


# Model types whose MLP has a gate (SwiGLU / GeGLU): three matrices instead of two.
GATED_MLP_MODEL_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi3", "olmo", "olmo2"}


def _first(config: Any, *names: str) -> Optional[Any]:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def architecture_from_config(config: Any, source: str = "config") -> Dict[str, int]:
    """num_layers, hidden_size, num_attention_heads, num_kv_heads, intermediate_size, vocab_size,
    tensor_parallel (1), and num_experts / num_active_experts for MoE models."""
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _first(config, "hidden_size", "n_embd", "d_model")
    heads = _first(config, "num_attention_heads", "n_head")
    for field, value in (("num_hidden_layers", layers), ("hidden_size", hidden), ("num_attention_heads", heads)):
        if value is None:
            raise EfficiencyInputError(source, field, "missing from the model config")
    arch = {
        "num_layers": int(layers),
        "hidden_size": int(hidden),
        "num_attention_heads": int(heads),
        "num_kv_heads": int(_first(config, "num_key_value_heads", "n_head_kv", "multi_query_group_num") or heads),
        "intermediate_size": int(_first(config, "intermediate_size", "n_inner", "ffn_dim") or 4 * int(hidden)),
        "vocab_size": int(_first(config, "vocab_size") or 0),
        "tensor_parallel": 1,
    }
    if getattr(config, "model_type", "") in GATED_MLP_MODEL_TYPES:
        arch["num_mlp_matrices"] = 3
    if getattr(config, "head_dim", None) and int(config.head_dim) * int(heads) != int(hidden):
        arch["head_dim"] = int(config.head_dim)
    experts = _first(config, "num_local_experts", "num_experts", "n_routed_experts")
    if experts:
        arch["num_experts"] = int(experts)
        arch["num_active_experts"] = int(_first(config, "num_experts_per_tok", "top_k", "moe_top_k") or 1)
        moe_size = _first(config, "moe_intermediate_size")
        if moe_size:
            arch["intermediate_size"] = int(moe_size)
    return arch
