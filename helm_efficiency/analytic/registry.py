"""The architecture registry (registry.json): public configs of open models, by HELM model name.

A name resolves to an entry by its key, by one of the entry's `helm_names` (fine-tunes and
renamed models that share the architecture), by its Hugging Face id, or, for a HELM model
deployment, through the deployment's model name in HELM's own catalog. No torch, no HELM code.
"""

import json
from functools import lru_cache
from importlib import resources
from typing import Dict, Optional

from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.errors import EfficiencyInputError

REGISTRY_PATH = "helm_efficiency/analytic/registry.json"


@lru_cache(maxsize=1)
def load_registry() -> Dict[str, dict]:
    raw = json.loads(resources.files("helm_efficiency.analytic").joinpath("registry.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


@lru_cache(maxsize=1)
def _name_index() -> Dict[str, str]:
    """Lower-cased key, HELM name and Hugging Face id → registry key."""
    index: Dict[str, str] = {}
    for key, entry in load_registry().items():
        for name in [key, entry.get("hf_id")] + list(entry.get("helm_names", [])):
            if name:
                index.setdefault(name.lower(), key)
    return index


def registry_name(name: Optional[str]) -> Optional[str]:
    """Registry key for a registry key, a HELM model or deployment name, or a Hugging Face id; else None."""
    if not isinstance(name, str) or not name:
        return None
    index = _name_index()
    key = index.get(name.lower())
    if key is None:
        from helm_efficiency.helm_catalog import model_of_deployment

        model = model_of_deployment(name)
        key = index.get(model.lower()) if model else None
    return key


def registry_entry(name: Optional[str]) -> Optional[dict]:
    key = registry_name(name)
    return dict(load_registry()[key], key=key) if key else None


def registry_config(name: Optional[str]) -> Dict:
    key = registry_name(name)
    if key is None:
        raise EfficiencyInputError("--arch", "arch", f"unknown architecture {name!r}; see {REGISTRY_PATH} (`helm-efficiency registry` lists it)")
    return dict(load_registry()[key]["config"])


def registry_architecture(name: Optional[str]) -> Optional[Dict[str, int]]:
    """Architecture columns for a registry, HELM or Hugging Face name, or None when the registry lacks it."""
    key = registry_name(name)
    if key is None:
        return None
    arch = architecture_from_config(load_registry()[key]["config"], f"{REGISTRY_PATH}: {key}")
    arch.pop("tensor_parallel")  # deployment choice, not architecture: decided per reference GPU
    return arch
