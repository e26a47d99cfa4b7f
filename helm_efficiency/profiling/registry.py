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
