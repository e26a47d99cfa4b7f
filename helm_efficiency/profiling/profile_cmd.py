"""The `profile` verb: build a model from a config or registry name and profile it."""

import json
import os
import sys
from typing import Dict, Optional, Sequence

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.analytic.architecture import architecture_from_config, context_window
from helm_efficiency.util.data_paths import DEMO_MODELS_JSON


def demo_model_configs() -> Dict[str, dict]:
    with open(DEMO_MODELS_JSON, encoding="utf-8") as f:
        raw = json.load(f)
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def load_config_dict(config_path: Optional[str], arch: Optional[str]) -> Dict:
    """A config dict with `model_type`, from a JSON file or a registry / demo-model name."""
    if config_path:
        try:
            with open(config_path) as f:
                config = json.load(f)
        except FileNotFoundError:
            raise EfficiencyInputError(config_path, "<file>", "no such file")
        except json.JSONDecodeError as e:
            raise EfficiencyInputError(config_path, "<file>", f"invalid JSON ({e})")
        if "model_type" not in config:
            raise EfficiencyInputError(config_path, "model_type", "missing; transformers needs it to build the model")
        return config
    demo = demo_model_configs()
    if arch in demo:
        return dict(demo[arch])
    from helm_efficiency.analytic.registry import registry_config

    return registry_config(arch)


def estimated_memory_bytes(arch: Dict[str, int], dtype_bytes: int, max_tokens: int) -> int:
    """Weights (dense or all experts) plus the KV cache for `max_tokens`, in bytes."""
    from helm_efficiency.analytic.flops import parameter_count

    kv = 2 * arch["num_layers"] * max_tokens * arch["num_kv_heads"] * (arch["hidden_size"] // arch["num_attention_heads"])
    return int((parameter_count(arch, active_only=False) + kv) * dtype_bytes)


def check_memory(arch: Dict[str, int], dtype_bytes: int, max_tokens: int, device: str, source: str) -> None:
    """Refuse, with a clear message, a model that cannot fit in free memory (checked before allocating)."""
    need = estimated_memory_bytes(arch, dtype_bytes, max_tokens)
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > 0.9 * free:
        raise EfficiencyInputError(
            source, "size", f"needs about {need / 2**30:.1f} GiB ({arch}) but only {free / 2**30:.1f} GiB is free on {device}"
        )


def fit_grid_to_window(prompts: Sequence[int], outputs: Sequence[int], config: Dict, source: str):
    """Prompt and output lengths whose every (p, o) pair fits the context window (p + o tokens),
    and a note naming what was dropped. Refuses, naming the field, when nothing fits."""
    window = context_window(config)
    if window is None:
        return list(prompts), list(outputs), None
    field, limit = window
    kept_outputs = [o for o in outputs if min(prompts) + o <= limit]
    kept_prompts = [p for p in prompts if kept_outputs and p + max(kept_outputs) <= limit]
    if len(kept_prompts) < 2 or len(kept_outputs) < 2:
        raise EfficiencyInputError(source, field, f"context window of {limit} tokens holds fewer than two prompt and two output lengths of the grid (p + o must fit)")
    dropped = sorted(set(prompts) - set(kept_prompts)), sorted(set(outputs) - set(kept_outputs))
    if not dropped[0] and not dropped[1]:
        return kept_prompts, kept_outputs, None
    return kept_prompts, kept_outputs, (f"{source}: {field} = {limit}: dropped prompt lengths {dropped[0]} and output lengths "
                                        f"{dropped[1]} so that every profiled p + o fits the context window")


def default_model_name(config_path: Optional[str], arch_name: Optional[str], config: Dict) -> str:
    """--arch NAME, else the config's own name, else its folder for a Hugging Face `config.json`, else the file stem."""
    if arch_name:
        return arch_name
    stem = os.path.splitext(os.path.basename(config_path))[0]
    if config.get("_name_or_path"):
        return os.path.basename(str(config["_name_or_path"]).rstrip("/"))
    if stem == "config":
        return os.path.basename(os.path.dirname(os.path.abspath(config_path)))
    return stem


DTYPES = {"fp32": ("float32", 4), "fp16": ("float16", 2), "bf16": ("bfloat16", 2)}


def profile(
    config_path: Optional[str],
    arch_name: Optional[str],
    *,
    device: str,
    dtype: str,
    prompts: Sequence[int],
    outputs: Sequence[int],
    batch_sizes: Sequence[int] = (1,),
    repeats: int = 5,
    warmup: int = 2,
    max_seconds: Optional[float] = None,
    hardware: Optional[str] = None,
    model_name: Optional[str] = None,
    stack: str = "eager",
    measure_energy: bool = False,
) -> pd.DataFrame:
    import torch
    from transformers import AutoConfig

    from helm_efficiency.profiling.profiler import hardware_name, profile_model
    from helm_efficiency.profiling.random_model import build_model

    source = config_path or f"--arch {arch_name}"
    if dtype not in DTYPES:
        raise EfficiencyInputError(source, "dtype", f"{dtype!r}; expected one of {sorted(DTYPES)}")
    config_dict = load_config_dict(config_path, arch_name)
    body = {k: v for k, v in config_dict.items() if k != "model_type"}
    try:
        config = AutoConfig.for_model(config_dict["model_type"], **body)
    except (ValueError, KeyError) as e:
        raise EfficiencyInputError(source, "model_type", str(e))
    arch = architecture_from_config(config, source)
    prompts, outputs, note = fit_grid_to_window(prompts, outputs, config_dict, source)
    if note:
        print(note, file=sys.stderr)
    torch_dtype, dtype_bytes = DTYPES[dtype]
    check_memory(arch, dtype_bytes, max(batch_sizes) * (max(prompts) + max(outputs)), device, source)
    model = build_model(config_dict).to(device=device, dtype=getattr(torch, torch_dtype))
    name = model_name or default_model_name(config_path, arch_name, config_dict)
    return profile_model(
        model,
        name,
        hardware or hardware_name(device),
        arch,
        prompts=prompts,
        outputs=outputs,
        batch_sizes=batch_sizes,
        device=device,
        dtype=dtype,
        warmup=warmup,
        repeats=repeats,
        max_seconds=max_seconds,
        stack=stack,
        measure_energy=measure_energy,
    )
