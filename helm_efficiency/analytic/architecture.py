"""Architecture columns (measurements schema) from a Hugging Face config, without transformers.

A config is a plain dict (a `config.json`) or any object with the same attributes (a
transformers `PretrainedConfig`). Only the numbers that set runtime are read: layers, widths,
heads, the feed-forward kind, experts, multi-head latent attention (MLA) ranks, and whether
the input and output embeddings are tied. Field names follow the public configs of each family.
"""

from typing import Any, Dict, Mapping, Optional, Tuple

from helm_efficiency.errors import EfficiencyInputError

# Model types whose MLP has a gate (SwiGLU / GeGLU): three matrices instead of two.
GATED_MLP_MODEL_TYPES = {
    "llama", "llama4_text", "mistral", "mixtral", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen3_5_moe_text",
    "gemma", "gemma2", "gemma3_text", "phi3", "phi3small", "phimoe", "olmo", "olmo2", "olmoe", "cohere", "cohere2",
    "dbrx", "granite", "granitemoe", "gpt_oss", "glm", "glm4_moe", "deepseek_v3", "kimi_k2", "arctic",
}


def _get(config: Any, name: str) -> Optional[Any]:
    return config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)


def _int(config: Any, source: str, *names: str) -> Optional[int]:
    """The first of `names` present, as an int; a value that is not a whole number is an error."""
    for name in names:
        value = _get(config, name)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise EfficiencyInputError(source, name, f"is {value!r}; expected a whole number")
        if number != int(number) or number < 0:
            raise EfficiencyInputError(source, name, f"is {value!r}; expected a non-negative whole number")
        return int(number)
    return None


def _required_int(config: Any, source: str, *names: str) -> int:
    """_int of a field the architecture cannot do without: missing or zero is an error naming its first name."""
    value = _int(config, source, *names)
    if not value:
        raise EfficiencyInputError(source, names[0], "missing from the model config")
    return value


def architecture_from_config(config: Any, source: str = "config") -> Dict[str, int]:
    """num_layers, hidden_size, num_attention_heads, num_kv_heads, intermediate_size, vocab_size,
    tensor_parallel (1), plus, where the config has them: num_mlp_matrices, head_dim, MoE
    (num_experts, num_active_experts, shared_expert_intermediate_size, num_dense_layers,
    dense_intermediate_size), MLA ranks, tied_embeddings and sliding_window (tokens)."""
    layers = _required_int(config, source, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    hidden = _required_int(config, source, "hidden_size", "n_embd", "d_model")
    heads = _required_int(config, source, "num_attention_heads", "n_head", "n_heads")
    model_type = str(_get(config, "model_type") or "")
    expansion = _int(config, source, "expansion_ratio")  # MPT
    arch: Dict[str, int] = {
        "num_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_kv_heads": _int(config, source, "num_key_value_heads", "n_head_kv", "multi_query_group_num") or heads,
        "intermediate_size": _int(config, source, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size") or (expansion or 4) * hidden,
        "vocab_size": _int(config, source, "vocab_size", "padded_vocab_size") or 0,
        "tensor_parallel": 1,
    }
    if model_type in GATED_MLP_MODEL_TYPES:
        arch["num_mlp_matrices"] = 3
    head_dim = _int(config, source, "head_dim")
    if head_dim and head_dim * heads != hidden:
        arch["head_dim"] = head_dim
    if _get(config, "tie_word_embeddings"):
        arch["tied_embeddings"] = 1
    window = _int(config, source, "sliding_window")
    if window:
        arch["sliding_window"] = window
    _add_experts(config, source, arch)
    _add_mla(config, source, arch)
    _add_linear_attention(config, source, arch)
    return arch


def _add_linear_attention(config: Any, source: str, arch: Dict[str, int]) -> None:
    """Hybrid decoders with linear-attention (Gated DeltaNet) layers, as Qwen3-Next / Qwen3.5 write
    them: `layer_types` (else every `full_attention_interval`-th layer is full attention), the
    linear layers' key/value heads and head widths, and the full layers' output gate."""
    value_heads = _int(config, source, "linear_num_value_heads")
    if not value_heads:
        return
    layer_types = _get(config, "layer_types")
    if isinstance(layer_types, list) and layer_types:
        linear = sum(1 for t in layer_types if t == "linear_attention")
    else:
        interval = _int(config, source, "full_attention_interval")
        linear = arch["num_layers"] - arch["num_layers"] // interval if interval else 0
    if not linear:
        return
    arch["num_linear_attention_layers"] = linear
    arch["linear_num_key_heads"] = _int(config, source, "linear_num_key_heads") or value_heads
    arch["linear_num_value_heads"] = value_heads
    arch["linear_key_head_dim"] = _int(config, source, "linear_key_head_dim") or head_dim_of(arch)
    arch["linear_value_head_dim"] = _int(config, source, "linear_value_head_dim") or head_dim_of(arch)
    if _get(config, "attn_output_gate"):
        arch["attention_output_gate"] = 1


def is_moe(arch: Optional[Mapping[str, int]]) -> bool:
    """Whether an architecture routes each token to some of several experts."""
    return int((arch or {}).get("num_experts") or 1) > 1


def head_dim_of(arch: Dict[str, int]) -> int:
    return int(arch.get("head_dim") or arch["hidden_size"] // arch["num_attention_heads"])


def _add_experts(config: Any, source: str, arch: Dict[str, int]) -> None:
    experts = _int(config, source, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
    if not experts or experts <= 1:
        return
    dense_size = arch["intermediate_size"]
    arch["num_experts"] = experts
    arch["num_active_experts"] = _int(config, source, "num_experts_per_tok", "top_k", "moe_top_k", "moe_k") or 1
    expert_size = _int(config, source, "moe_intermediate_size")
    if expert_size:
        arch["intermediate_size"] = expert_size
    shared = _int(config, source, "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size")
    n_shared = _int(config, source, "n_shared_experts")
    if not shared and n_shared:
        shared = n_shared * arch["intermediate_size"]
    if shared:
        arch["shared_expert_intermediate_size"] = shared
    dense_layers = _int(config, source, "first_k_dense_replace") or 0
    step = _int(config, source, "interleave_moe_layer_step")
    if step and step > 1:
        dense_layers = arch["num_layers"] - arch["num_layers"] // step
        dense_size = _int(config, source, "intermediate_size_mlp") or dense_size
    if dense_layers:
        arch["num_dense_layers"] = dense_layers
        arch["dense_intermediate_size"] = dense_size


def _add_mla(config: Any, source: str, arch: Dict[str, int]) -> None:
    """Multi-head latent attention (DeepSeek-V2/V3, Kimi K2): low-rank K/V (and Q) projections."""
    kv_rank = _int(config, source, "kv_lora_rank")
    if not kv_rank:
        return
    arch["kv_lora_rank"] = kv_rank
    q_rank = _int(config, source, "q_lora_rank")
    if q_rank:
        arch["q_lora_rank"] = q_rank
    rope = _int(config, source, "qk_rope_head_dim") or 0
    arch["qk_rope_head_dim"] = rope
    arch["head_dim"] = (_int(config, source, "qk_nope_head_dim") or 0) + rope
    arch["v_head_dim"] = _int(config, source, "v_head_dim") or arch["head_dim"]


# Config fields that state a model's context window, by family (Llama-style, GPT-2, GPT-J, others).
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")


def context_window(config: Mapping[str, Any]) -> Optional[Tuple[str, int]]:
    """(field, tokens) of the model's context window as its config states it, or None."""
    for field in CONTEXT_FIELDS:
        if isinstance(config.get(field), int) and config[field] > 0:
            return field, config[field]
    return None
