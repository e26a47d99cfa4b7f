"""The architecture registry (registry.json): public configs of open models, by HELM model name.

A name resolves to an entry by its key, by one of the entry's `helm_names` (fine-tunes and
renamed models that share the architecture), by its Hugging Face id or one of its
`hf_aliases` (other checkpoints of the same shape), or, for a HELM model
deployment, through the deployment's model name in the catalog the caller passes (HELM's own
files when none: helm_io.catalog.HELM_ONLY). No torch, no HELM code.
"""

import json
from functools import lru_cache
from typing import Any, Dict, List, Optional

from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.util.data_paths import REGISTRY_JSON, in_package

REGISTRY_PATH = in_package(REGISTRY_JSON)  # as messages name it


@lru_cache(maxsize=1)
def load_registry() -> Dict[str, Dict[str, Any]]:
    with open(REGISTRY_JSON, encoding="utf-8") as f:
        raw = json.load(f)
    return {k: v for k, v in raw.items() if not k.startswith("_")}


@lru_cache(maxsize=1)
def _name_index() -> Dict[str, str]:
    """Lower-cased key, HELM name and Hugging Face id (or alias) → registry key."""
    index: Dict[str, str] = {}
    for key, entry in load_registry().items():
        for name in [key, entry.get("hf_id")] + list(entry.get("helm_names", [])) + list(entry.get("hf_aliases", [])):
            if name:
                index.setdefault(name.lower(), key)
    return index


# Variant suffixes of a Hugging Face id that share the base model's architecture (instruction
# and chat tunes, the '-hf' conversions), stripped when the exact name is unknown.
VARIANT_SUFFIXES = ("-Instruct", "-instruct", "-chat-hf", "-chat", "-hf", "-it", "-v0.1")


def name_variants(name: str) -> List[str]:
    """Other spellings of a Hugging Face id that name the same architecture, nearest first:
    variant suffixes stripped (repeatedly), the base's '-hf' conversion, and 'Meta-Llama-3.1' as
    'Llama-3.1'. E.g. meta-llama/Llama-2-70b-chat-hf → meta-llama/Llama-2-70b, …-70b-hf."""
    out: List[str] = []
    frontier = [name]
    while frontier:
        current = frontier.pop(0)
        for suffix in VARIANT_SUFFIXES:
            if current.endswith(suffix) and current[: -len(suffix)] not in out:
                out.append(current[: -len(suffix)])
                frontier.append(current[: -len(suffix)])
    out += [f"{base}-hf" for base in list(out) if not base.endswith("-hf") and f"{base}-hf" not in out]
    out += [v.replace("Meta-Llama-3.1", "Llama-3.1") for v in [name] + out if "Meta-Llama-3.1" in v]
    return [v for v in dict.fromkeys(out) if v and v != name]


@lru_cache(maxsize=1)
def _basename_index() -> Dict[str, Optional[str]]:
    """Lower-cased name after the last '/' (of keys, HELM names, Hugging Face ids) → registry
    key, None where two keys share it."""
    index: Dict[str, Optional[str]] = {}
    for name, key in _name_index().items():
        base = name.rsplit("/", 1)[-1]
        index[base] = key if index.get(base, key) == key else None
    return index


def registry_name(name: Optional[str], catalog: Catalog = HELM_ONLY) -> Optional[str]:
    """Registry key for a registry key, a HELM model or deployment name, or a Hugging Face id; else None.

    In order: the name itself; the HELM model a deployment serves; then, for a name the registry
    does not list, its `name_variants`; and last the name (or a variant) after its organisation,
    when exactly one registry entry goes by it (meta-llama/Llama-3.3-70B-Instruct → the entry
    listing meta/llama-3.3-70b-instruct). Batch-1 and served estimates resolve through this.
    `catalog` says which model a deployment serves (a suite's prod_env included)."""
    if not isinstance(name, str) or not name:
        return None
    index = _name_index()
    key = index.get(name.lower())
    if key is None:
        model = catalog.model_of_deployment(name)
        key = index.get(model.lower()) if model else None
    if key is None and "/" in name:
        variants = name_variants(name)
        key = next((index[v.lower()] for v in variants if v.lower() in index), None)
        if key is None:
            bases = _basename_index()
            key = next((bases[b] for b in (v.rsplit("/", 1)[-1].lower() for v in [name] + variants) if bases.get(b)), None)
    return key


def registry_entry(name: Optional[str], catalog: Catalog = HELM_ONLY) -> Optional[Dict[str, Any]]:
    key = registry_name(name, catalog)
    return dict(load_registry()[key], key=key) if key else None


def registry_config(name: Optional[str], catalog: Catalog = HELM_ONLY) -> Dict[str, Any]:
    key = registry_name(name, catalog)
    if key is None:
        raise EfficiencyInputError("--arch", "arch", f"unknown architecture {name!r}; see {REGISTRY_PATH} (`helm-efficiency registry` lists it)")
    return dict(load_registry()[key]["config"])


def registry_architecture(name: Optional[str], catalog: Catalog = HELM_ONLY) -> Optional[Dict[str, int]]:
    """Architecture columns for a registry, HELM or Hugging Face name, or None when the registry lacks it."""
    key = registry_name(name, catalog)
    if key is None:
        return None
    arch = architecture_from_config(load_registry()[key]["config"], f"{REGISTRY_PATH}: {key}")
    arch.pop("tensor_parallel")  # deployment choice, not architecture: decided per reference GPU
    return arch
