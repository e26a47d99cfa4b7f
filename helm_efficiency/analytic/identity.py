"""A request's model identity, one place for both prices: the names a model is known by (the
name, the HELM model its deployment serves, their architecture-registry keys), the registry key
that prices it, and its context window. The batch-1 estimate and the served tables both resolve
names here, so the idealized and served numbers of one request name the same model."""

from typing import Iterable, List, Optional, Sequence

from helm_efficiency.analytic.architecture import context_window as config_context_window
from helm_efficiency.analytic.registry import registry_entry, registry_name
from helm_efficiency.helm_io.catalog import deployment_context_window, model_of_deployment


def known_names(names: Iterable[Optional[str]]) -> List[str]:
    """`names`, then the HELM model each deployment serves (HELM's catalog and the suite's
    prod_env: helm_io.catalog), then their architecture-registry keys; each once, in that order."""
    out: List[str] = []
    for name in [n for n in names if n]:
        for candidate in (name, model_of_deployment(str(name))):
            if candidate and candidate not in out:
                out.append(candidate)
    return out + [k for k in dict.fromkeys(registry_name(n) for n in out) if k and k not in out]


def registry_key(name: Optional[str]) -> Optional[str]:
    """The registry key a request's model name prices under: the first of the names the batch-1
    path knows it by (known_names: the name, the HELM model it serves, their registry
    keys) that the architecture registry resolves."""
    if not name:
        return None
    return next((key for key in (registry_name(n) for n in known_names([name])) if key), None)


def context_window(names: Sequence[Optional[str]], entry=None) -> Optional[tuple]:
    """(tokens, where it says so): the entry's own architecture (a profiled model's
    max_position_embeddings), else the first name's registry config, else HELM's
    model_deployments.yaml. None when nothing says."""
    own = (getattr(entry, "architecture", None) or {}).get("max_position_embeddings")
    if own:
        return int(own), f"max_position_embeddings of the profiled {entry.model}"

    for name in (n for n in names if n):
        stated = config_context_window((registry_entry(name) or {}).get("config", {}))
        if stated:
            return stated[1], f"{stated[0]} of {registry_name(name)} in the architecture registry"
        tokens = deployment_context_window(name)
        if tokens:
            return tokens, f"max request length of {name} in HELM's model_deployments.yaml"
    return None
