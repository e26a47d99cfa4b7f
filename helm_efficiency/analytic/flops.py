"""FLOPs, bytes and parameters of a decoder-only transformer, from its architecture columns.

Architecture dict keys (measurements schema): num_layers L, hidden_size h, num_attention_heads,
num_kv_heads (GQA/MQA), intermediate_size i, vocab_size V, tensor_parallel t, and for MoE
num_experts / num_active_experts. Optional: num_mlp_matrices (2 for GPT-style MLPs, 3 for
gated SwiGLU/GeGLU MLPs; default 2), head_dim (default h / heads), tied_embeddings (1: the
LM head shares the input embedding), MoE shared_expert_intermediate_size, num_dense_layers and
dense_intermediate_size (layers with a dense MLP instead of experts), MLA kv_lora_rank,
q_lora_rank, qk_rope_head_dim, v_head_dim (head_dim is then the query/key width), and
bidirectional (1: an encoder such as a vision transformer, whose tokens attend to all others).
Counts are per sequence at batch size 1; FLOPs count a multiply-add as 2. The token-count
arguments of attention_flops, prefill_flops, decode_flops and kv_cache_bytes may be float arrays,
one count per request, priced elementwise with a scalar count's arithmetic (the same numbers).
"""

from typing import Dict, TypeVar, Union, overload

import numpy as np
from numpy.typing import NDArray

Arch = Dict[str, int]
Tokens = TypeVar("Tokens", float, np.ndarray)  # a token count, or one per request (a float array)


def head_dim(arch: Arch) -> int:
    return int(arch.get("head_dim") or arch["hidden_size"] // arch["num_attention_heads"])


def attention_params_per_layer(arch: Arch) -> int:
    h, d, heads = arch["hidden_size"], head_dim(arch), arch["num_attention_heads"]
    if arch.get("kv_lora_rank"):  # MLA: low-rank Q and KV projections, decompressed per head
        q_rank, kv_rank, rope = arch.get("q_lora_rank"), arch["kv_lora_rank"], arch.get("qk_rope_head_dim", 0)
        v = arch.get("v_head_dim") or d
        q = h * q_rank + q_rank * heads * d if q_rank else h * heads * d
        return q + h * (kv_rank + rope) + kv_rank * heads * (d - rope + v) + heads * v * h
    q_out = heads * d
    kv_out = arch.get("num_kv_heads", heads) * d
    gate = h * q_out if arch.get("attention_output_gate") else 0  # the query projection's gate half
    return h * q_out + gate + 2 * h * kv_out + q_out * h  # Q, K, V, O projections


def linear_attention_layers(arch: Arch) -> int:
    return int(arch.get("num_linear_attention_layers") or 0)


def full_attention_layers(arch: Arch) -> int:
    return arch["num_layers"] - linear_attention_layers(arch)


def linear_attention_params_per_layer(arch: Arch) -> int:
    """A Gated DeltaNet layer: Q, K (key width) and V projections, the output gate z (value
    width), the per-head beta and alpha projections, and the output projection."""
    if not linear_attention_layers(arch):
        return 0
    h = arch["hidden_size"]
    key = arch["linear_num_key_heads"] * arch["linear_key_head_dim"]
    value = arch["linear_num_value_heads"] * arch["linear_value_head_dim"]
    return h * (2 * key + value) + h * value + 2 * h * arch["linear_num_value_heads"] + value * h


def attention_params(arch: Arch) -> int:
    """Attention parameters over all layers: full-attention layers plus linear-attention layers."""
    return full_attention_layers(arch) * attention_params_per_layer(arch) + linear_attention_layers(arch) * linear_attention_params_per_layer(arch)


def mlp_params_per_expert(arch: Arch, intermediate_size: int = 0) -> int:
    return int(arch.get("num_mlp_matrices") or 2) * arch["hidden_size"] * (intermediate_size or arch["intermediate_size"])


def mlp_params(arch: Arch, active_only: bool = True) -> int:
    """Feed-forward parameters over all layers: dense layers, then MoE layers (routed experts,
    the shared expert and the router)."""
    experts = arch.get("num_experts") or 1
    if experts <= 1:
        return arch["num_layers"] * mlp_params_per_expert(arch)
    dense_layers = arch.get("num_dense_layers") or 0
    dense = dense_layers * mlp_params_per_expert(arch, arch.get("dense_intermediate_size") or 0)
    routed = (arch.get("num_active_experts") or experts) if active_only else experts
    shared = arch.get("shared_expert_intermediate_size") or 0
    per_moe_layer = routed * mlp_params_per_expert(arch) + (mlp_params_per_expert(arch, shared) if shared else 0) + arch["hidden_size"] * experts
    return dense + (arch["num_layers"] - dense_layers) * per_moe_layer


def embedding_params(arch: Arch) -> int:
    """Input embedding plus LM head (one matrix when tied)."""
    return (1 if arch.get("tied_embeddings") else 2) * arch.get("vocab_size", 0) * arch["hidden_size"]


def parameter_count(arch: Arch, active_only: bool = True) -> int:
    """Matrix parameters touched per token (active_only) or stored, embeddings and LM head included."""
    return attention_params(arch) + mlp_params(arch, active_only) + embedding_params(arch)


def matmul_params(arch: Arch) -> int:
    """Active parameters that take part in a matmul per token (the input embedding is a lookup;
    a tied LM head is still a matmul)."""
    return attention_params(arch) + mlp_params(arch) + arch.get("vocab_size", 0) * arch["hidden_size"]


@overload
def attention_flops(arch: Arch, query_tokens: float, context_start: float) -> float: ...
@overload
def attention_flops(arch: Arch, query_tokens: np.ndarray, context_start: float) -> NDArray[np.float64]: ...
@overload
def attention_flops(arch: Arch, query_tokens: float, context_start: np.ndarray) -> NDArray[np.float64]: ...
def attention_flops(arch: Arch, query_tokens: Union[float, np.ndarray], context_start: Union[float, np.ndarray]) -> Union[float, np.ndarray]:
    """Score and value FLOPs for `query_tokens` new tokens attending causally to
    context_start + (1..query_tokens) tokens (a bidirectional encoder: to all of them): 4·heads·d
    per (query, key) pair in each full-attention layer; a linear-attention layer updates its
    fixed state instead, about 4·value heads·key dim·value dim per token whatever the context."""
    q = query_tokens
    pairs = q * context_start + (q * q if arch.get("bidirectional") else q * (q + 1) / 2)
    full = 4.0 * full_attention_layers(arch) * arch["num_attention_heads"] * head_dim(arch) * pairs
    return full + 4.0 * linear_attention_layers(arch) * q * _linear_state_values(arch)


def _linear_state_values(arch: Arch) -> float:
    """Values in one linear-attention layer's recurrent state (value heads × key dim × value dim)."""
    if not linear_attention_layers(arch):
        return 0.0
    return float(arch["linear_num_value_heads"] * arch["linear_key_head_dim"] * arch["linear_value_head_dim"])


def prefill_flops(arch: Arch, num_prompt_tokens: Tokens) -> Tokens:
    return 2.0 * matmul_params(arch) * num_prompt_tokens + attention_flops(arch, num_prompt_tokens, 0)


def decode_flops(arch: Arch, context_tokens: Tokens) -> Tokens:
    """FLOPs to generate one token when `context_tokens` are already in the KV cache."""
    return 2.0 * matmul_params(arch) + attention_flops(arch, 1, context_tokens)


def kv_cache_bytes(arch: Arch, tokens: Tokens, bytes_per_value: int = 2) -> Tokens:
    """K and V for `tokens` tokens over the full-attention layers (MLA caches one compressed latent
    plus the rope key), plus each linear-attention layer's fixed recurrent state."""
    if arch.get("kv_lora_rank"):
        per_token = arch["kv_lora_rank"] + arch.get("qk_rope_head_dim", 0)
    else:
        per_token = 2 * arch.get("num_kv_heads", arch["num_attention_heads"]) * head_dim(arch)
    state = linear_attention_layers(arch) * _linear_state_values(arch)
    return (float(full_attention_layers(arch)) * tokens * per_token + state) * bytes_per_value


def weight_bytes(arch: Arch, bytes_per_value: int = 2) -> float:
    """Weights read per forward pass at batch 1 (MoE: only the active experts')."""
    return float(matmul_params(arch)) * bytes_per_value


def prefill_bytes(arch: Arch, num_prompt_tokens: int, bytes_per_value: int = 2) -> float:
    return weight_bytes(arch, bytes_per_value) + kv_cache_bytes(arch, num_prompt_tokens, bytes_per_value)


def decode_bytes(arch: Arch, context_tokens: int, bytes_per_value: int = 2) -> float:
    """Weights plus reading the whole KV cache plus writing one token's K and V."""
    return weight_bytes(arch, bytes_per_value) + kv_cache_bytes(arch, context_tokens + 1, bytes_per_value)


def allreduce_bytes_per_gpu(arch: Arch, tokens: int, bytes_per_value: int = 2) -> float:
    """Tensor-parallel traffic per GPU: 2 all-reduces per layer of tokens×h values; a ring
    all-reduce sends 2·(t−1)/t of the buffer from each GPU. Zero without tensor parallelism."""
    t = arch.get("tensor_parallel") or 1
    if t <= 1:
        return 0.0
    buffer = tokens * arch["hidden_size"] * bytes_per_value
    return 2.0 * arch["num_layers"] * buffer * 2.0 * (t - 1) / t
