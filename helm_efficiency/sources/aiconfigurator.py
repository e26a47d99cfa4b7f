"""Reference points from a measured-kernel simulator: NVIDIA AIConfigurator (`aiconfigurator-core`).

AIConfigurator composes a request's latency from GEMM, attention, communication and other
kernels measured on real GPUs under each serving framework (TensorRT-LLM, vLLM, SGLang). We
use its static batch-1 mode: one request of p prompt tokens and o output tokens, prefill then
o−1 decode steps. `tabulate` returns our measurements table (seconds per request) with full
provenance; `calibrate` then fits CostTable entries from a handful of such points, exactly as
for profiled points. Only table building calls the simulator; estimation never does.

A model is handed to the simulator as a `config.json`. Families it models natively (Llama,
Qwen2/3, Mixtral, Qwen3-MoE, DeepSeek-V3/Kimi-K2, gpt-oss, Llama 4, Qwen3.5) keep their own
architecture; any other decoder is mapped to the nearest family it models with the same
widths, heads and FLOPs per token (a two-matrix MLP of width i becomes a gated one of width
2i/3; other MoE decoders become Mixtral-style), and the rows say so in `mapped_from`.
"""

import json
import logging
import math
import os
import tempfile
from functools import lru_cache
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.analytic.architecture import GATED_MLP_MODEL_TYPES, architecture_from_config
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.stacks import REFERENCE_STACKS, ReferenceStack

if TYPE_CHECKING:
    from aiconfigurator_core.sdk.engine import EngineHandle  # the simulator: imported where used, only by builders

PACKAGE = "aiconfigurator-core"


STACKS: Dict[str, ReferenceStack] = {s.name: s for s in REFERENCE_STACKS}  # tables/names.py lists them

# Families the simulator models natively: model_type → HF architecture class.
NATIVE_ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "mixtral": "MixtralForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM",
    "gpt_oss": "GptOssForCausalLM",
    "deepseek_v3": "DeepseekV3ForCausalLM",
    "kimi_k2": "DeepseekV3ForCausalLM",
}

# The calibration grid: 8 prompt lengths x 3 output lengths = 24 points per model (tokens).
# Chosen over 6 x 4 (1-8192 x 1-1024) by bench/simulated_calibration.py on h200-trtllm and
# h100-vllm: prefill changes shape below p = 256 (MoE experts, tile steps) more than decode
# bends between o = 64 and 1024, so prompt lengths are worth more than output lengths.
CALIBRATION_PROMPT_TOKENS = (1, 64, 256, 512, 1024, 2048, 4096, 8192)
CALIBRATION_OUTPUT_TOKENS = (1, 64, 1024)


def stack(name: str) -> ReferenceStack:
    if name not in STACKS:
        raise EfficiencyInputError(name, "stack", f"unknown reference stack; known: {', '.join(STACKS)}")
    return STACKS[name]


def simulator_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise EfficiencyInputError(PACKAGE, "package", "not installed; `pip install aiconfigurator-core` to tabulate simulated stacks")


@lru_cache(maxsize=None)
def backend_version(system: str, backend: str) -> str:
    """The framework version whose kernels the simulator uses for (system, backend): its `current` slot."""
    import yaml

    text = resources.files("aiconfigurator_core").joinpath("systems/query_versions.yaml").read_text()
    raw = yaml.safe_load(text)
    slot = (raw.get("overrides", {}).get(system, {}) or {}).get(backend) or raw["defaults"][backend]
    return str(slot["current"])


def shipped_config(hf_id: Optional[str]) -> Optional[Dict[str, Any]]:
    """The model's public config.json as the simulator ships it (without any quantization
    block: our stacks are bf16), or None."""
    if not hf_id:
        return None
    path = resources.files("aiconfigurator_core").joinpath("model_configs", hf_id.replace("/", "--") + "_config.json")
    if not path.is_file():
        return None
    config: Dict[str, Any] = json.loads(path.read_text())
    for key in ("quantization_config", "hf_quant_config", "compression_config"):
        config.pop(key, None)
    return config


def simulator_config(config: Dict[str, Any], source: str = "config") -> Tuple[Dict[str, Any], Optional[str]]:
    """A config.json the simulator accepts, and the original model_type if it had to be mapped."""
    arch = architecture_from_config(config, source)
    model_type = str(config.get("model_type", ""))
    if model_type in NATIVE_ARCHITECTURES:
        out = dict(config)
        out["architectures"] = [NATIVE_ARCHITECTURES[model_type]]
        out.setdefault("torch_dtype", "bfloat16")
        out.setdefault("max_position_embeddings", 131072)  # sizes buffers only; batch-1 latency does not depend on it
        return out, None
    out = {
        "num_hidden_layers": arch["num_layers"],
        "hidden_size": arch["hidden_size"],
        "num_attention_heads": arch["num_attention_heads"],
        "num_key_value_heads": arch["num_kv_heads"],
        "head_dim": arch.get("head_dim") or arch["hidden_size"] // arch["num_attention_heads"],
        "vocab_size": arch["vocab_size"] or 32000,
        "max_position_embeddings": int(config.get("max_position_embeddings") or 131072),
        "tie_word_embeddings": bool(arch.get("tied_embeddings")),
        "torch_dtype": "bfloat16",
    }
    # A two-matrix MLP of width i costs what a gated (three-matrix) one of width 2i/3 costs.
    gated = model_type in GATED_MLP_MODEL_TYPES
    width = arch["intermediate_size"] if gated else max(1, round(2 * arch["intermediate_size"] / 3))
    if arch.get("num_experts"):
        out.update(model_type="mixtral", architectures=["MixtralForCausalLM"], intermediate_size=width,
                   num_local_experts=arch["num_experts"], num_experts_per_tok=arch["num_active_experts"])
    else:
        out.update(model_type="llama", architectures=["LlamaForCausalLM"], intermediate_size=width)
    return out, model_type or "unknown"


def normalized_attention(config: Dict[str, Any]) -> Dict[str, Any]:
    """The same config with 128-wide attention heads (heads × head_dim kept) and a power-of-two
    KV-head count: the kernel database measures common head shapes only."""
    heads, hidden = int(config["num_attention_heads"]), int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    kv = int(config.get("num_key_value_heads") or heads)
    new_heads = max(1, round(heads * head_dim / 128))
    new_kv = max(1, min(new_heads, 2 ** round(math.log2(max(1.0, kv * head_dim / 128)))))
    while new_heads % new_kv:
        new_kv //= 2
    return dict(config, num_attention_heads=new_heads, num_key_value_heads=new_kv, head_dim=128)


def _silence_simulator_logs() -> None:
    for name in ("aiconfigurator_core", "aiconfigurator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _parallel_layouts(moe: bool, tensor_parallel: int, pipeline_parallel: int = 1) -> List[Dict[str, int]]:
    """Simulator parallelism to try, in order: plain TP; for MoE, experts split by TP, then by
    expert parallelism; each with `pipeline_parallel` stages (pp_size) when above 1."""
    pp = {"pp_size": int(pipeline_parallel)} if pipeline_parallel > 1 else {}
    if tensor_parallel <= 1:
        return [dict(pp)]
    if moe:
        return [dict(tp_size=tensor_parallel, moe_tp_size=tensor_parallel, moe_ep_size=1, **pp),
                dict(tp_size=tensor_parallel, moe_tp_size=1, moe_ep_size=tensor_parallel, **pp)]
    return [dict(tp_size=tensor_parallel, **pp)]


def compile_engine(config: Dict[str, Any], hf_id: Optional[str], reference: ReferenceStack, tensor_parallel: int, source: str, moe: bool = False,
                   quant: Optional[Dict[str, str]] = None, pipeline_parallel: int = 1) -> Tuple["EngineHandle", Dict[str, Any]]:
    """The simulator's engine for one model on one stack (checked with one request), and
    provenance fields describing it. `quant`: the simulator's quant-mode overrides (e.g.
    gemm_quant_mode="fp8"); None keeps bf16, as our tables. `pipeline_parallel` stages of
    `tensor_parallel` GPUs each (the served search places models that need more than a node this
    way). Raises EfficiencyInputError with the simulator's reason when no parallel layout is modelled."""
    from aiconfigurator_core.sdk.engine import EngineHandle

    _silence_simulator_logs()
    shipped = shipped_config(hf_id)
    if shipped is not None:
        sim_config, mapped_from, config_source = shipped, None, f"{PACKAGE} model_configs ({hf_id})"
    else:
        sim_config, mapped_from = simulator_config(config, source)
        config_source = source
    reasons = []
    candidates = [(sim_config, mapped_from)]
    if shipped is None:
        normalized = normalized_attention(sim_config)
        if normalized != sim_config:
            candidates.append((normalized, f"{mapped_from or sim_config.get('model_type')}; attention as 128-wide heads"))
    with tempfile.TemporaryDirectory() as folder:
        for candidate, mapped in candidates:
            with open(os.path.join(folder, "config.json"), "w") as f:
                json.dump(candidate, f)
            for layout in _parallel_layouts(moe, tensor_parallel, pipeline_parallel):
                try:
                    handle = EngineHandle.compile(folder, reference.system, reference.backend, **layout, **(quant or {}))
                    handle.run_static(batch_size=1, isl=16, osl=2)
                except Exception as e:  # the simulator's own refusal (family, parallelism, missing kernel data)
                    reasons.append(f"{layout or 'TP 1'}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                    continue
                provenance = {
                    "source": f"{PACKAGE} {simulator_version()} static batch-1 simulation",
                    "system": reference.system,
                    "backend": reference.backend,
                    "backend_version": backend_version(reference.system, reference.backend),
                    "dtype": ",".join(f"{k}={v}" for k, v in sorted(quant.items())) if quant else "bf16",
                    "tensor_parallel": tensor_parallel,
                    **({"pipeline_parallel": int(pipeline_parallel)} if pipeline_parallel > 1 else {}),
                    "expert_parallel": int(layout.get("moe_ep_size", 1)),
                    "database_mode": "measured kernels",
                    "config": config_source,
                    "mapped_from": mapped or "",
                }
                return handle, provenance
    where = f"TP {tensor_parallel}" + (f" x PP {pipeline_parallel}" if pipeline_parallel > 1 else "")
    raise EfficiencyInputError(source, "architecture", f"{PACKAGE} does not model it on {reference.name} ({where}): " + "; ".join(reasons))


def tabulate(
    config: Dict[str, Any],
    model: str,
    reference: ReferenceStack,
    prompt_tokens: Sequence[int] = CALIBRATION_PROMPT_TOKENS,
    output_tokens: Sequence[int] = CALIBRATION_OUTPUT_TOKENS,
    tensor_parallel: Optional[int] = None,
    hf_id: Optional[str] = None,
    source: str = "config",
) -> pd.DataFrame:
    """Simulated batch-1 runtime (s) of `model` at every (p, o) of the grid, as measurements rows
    with architecture and provenance columns. TP defaults to the smallest power of two whose
    GPUs hold the bf16 weights (`tensor_parallel_for`)."""
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.transfer import tensor_parallel_for

    arch = architecture_from_config(config, source)
    tp = int(tensor_parallel or tensor_parallel_for(arch, hardware_spec(reference.hardware)))
    arch["tensor_parallel"] = tp
    handle, provenance = compile_engine(config, hf_id, reference, tp, source, moe=bool(arch.get("num_experts")))
    rows: List[Dict[str, Any]] = []
    for p in prompt_tokens:
        for o in output_tokens:
            try:
                context_ms, generation_ms, total_ms = handle.run_static(batch_size=1, isl=int(p), osl=int(o))
            except Exception as e:
                raise EfficiencyInputError(source, "num_prompt_tokens", f"simulator failed at p={p}, o={o} on {reference.name}: {str(e).splitlines()[0][:200]}")
            if not total_ms > 0:
                raise EfficiencyInputError(source, "runtime_s", f"simulator returned {total_ms!r} ms at p={p}, o={o} on {reference.name}")
            rows.append({"num_prompt_tokens": int(p), "num_output_tokens": int(o), "runtime_s": total_ms / 1000.0,
                         "prefill_s": context_ms / 1000.0})
    out = pd.DataFrame(rows)
    out.insert(0, "model", model)
    out.insert(1, "hardware", reference.name)
    out["batch_size"] = 1
    out["num_gpus"] = tp
    out["dtype"] = "bf16"
    out["software"] = f"{reference.software} {provenance['backend_version']} ({PACKAGE} {simulator_version()})"
    for column, value in arch.items():
        out[column] = value
    for column, value in provenance.items():
        out[f"provenance_{column}"] = value
    return out

