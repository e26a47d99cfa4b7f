"""The architecture registry (registry.json): well-known open architectures by HELM name."""

import json
from functools import lru_cache
from importlib import resources
from typing import Dict, Optional

from helm_efficiency.errors import EfficiencyInputError


@lru_cache(maxsize=1)
def load_registry() -> Dict[str, dict]:
    raw = json.loads(resources.files("helm_efficiency.profiling").joinpath("registry.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def registry_name(helm_name: str) -> Optional[str]:
    """Registry key for a registry key or a HELM model/deployment name it lists, else None."""
    registry = load_registry()
    if helm_name in registry:
        return helm_name
    for key, entry in registry.items():
        if helm_name in entry.get("helm_names", []):
            return key
    return None


def registry_config(name: Optional[str]) -> Dict:
    key = registry_name(name or "")
    if key is None:
        known = ", ".join(sorted(load_registry()))
        raise EfficiencyInputError("--arch", "arch", f"unknown architecture {name!r}; known: {known}")
    return dict(load_registry()[key]["config"])


def registry_architecture(name: Optional[str]) -> Optional[Dict[str, int]]:
    """Architecture columns for a registry or HELM name, or None when the registry lacks it."""
    key = registry_name(name or "")
    if key is None:
        return None
    from transformers import AutoConfig

    from helm_efficiency.profiling.architecture import architecture_from_config

    config = dict(load_registry()[key]["config"])
    arch = architecture_from_config(AutoConfig.for_model(config.pop("model_type"), **config), f"registry {key}")
    arch.pop("tensor_parallel")  # deployment choice, not architecture: decided per reference GPU
    return arch
