"""A request's model identity, one place for both prices: the names a model is known by (the
name, the HELM model its deployment serves, their architecture-registry keys), the registry key
that prices it, its architecture, size and context window, and whether HELM lists it as
closed-weight. The batch-1 estimate and the served tables both resolve names here, so the
idealized and served numbers of one request name the same model.

Every function takes the Catalog to read (HELM's YAML plus, in a suite, its prod_env;
helm_io/catalog.py): which model a deployment serves is the catalog's answer, never a process
global. `identify` builds the whole ModelIdentity of one group of requests at once.
"""

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.analytic.architecture import context_window as config_context_window
from helm_efficiency.analytic.registry import registry_architecture, registry_entry, registry_name
from helm_efficiency.analytic.transfer import complete_architecture
from helm_efficiency.costmodel.measurements import architecture_of
from helm_efficiency.helm_io.catalog import CLOSED_ACCESS, Catalog
from helm_efficiency.util.data_paths import ACTIVE_PARAMETERS_JSON


def known_names(names: Iterable[Optional[str]], catalog: Catalog) -> List[str]:
    """`names`, then the HELM model each deployment serves (in `catalog`), then their
    architecture-registry keys; each once, in that order."""
    out: List[str] = []
    for name in [n for n in names if n]:
        for candidate in (name, catalog.model_of_deployment(str(name))):
            if candidate and candidate not in out:
                out.append(candidate)
    return out + [k for k in dict.fromkeys(registry_name(n, catalog) for n in out) if k and k not in out]


def registry_key(name: Optional[str], catalog: Catalog) -> Optional[str]:
    """The registry key a request's model name prices under: the first of the names the batch-1
    path knows it by (known_names: the name, the HELM model it serves, their registry
    keys) that the architecture registry resolves."""
    if not name:
        return None
    return next((key for key in (registry_name(n, catalog) for n in known_names([name], catalog)) if key), None)


def entry_context_window(entry: Any) -> Optional[Tuple[int, str]]:
    """(tokens, where it says so) from a table entry's own architecture (a profiled model's
    max_position_embeddings), else None."""
    own = (getattr(entry, "architecture", None) or {}).get("max_position_embeddings")
    return (int(own), f"max_position_embeddings of the profiled {entry.model}") if own else None


def context_window(names: Sequence[Optional[str]], catalog: Catalog, *, entry: Any = None) -> Optional[Tuple[int, str]]:
    """(tokens, where it says so): the entry's own architecture (entry_context_window), else the
    first name's registry config, else the catalog's model_deployments.yaml. None when nothing says."""
    own = entry_context_window(entry) if entry is not None else None
    if own:
        return own
    for name in (n for n in names if n):
        stated = config_context_window((registry_entry(name, catalog) or {}).get("config", {}))
        if stated:
            return stated[1], f"{stated[0]} of {registry_name(name, catalog)} in the architecture registry"
        tokens = catalog.deployment_context_window(name)
        if tokens:
            return tokens, f"max request length of {name} in HELM's model_deployments.yaml"
    return None


def helm_metadata(names: Sequence[Optional[str]], catalog: Catalog) -> Iterator[Dict[str, Any]]:
    """The catalog's metadata entry for each name that has one (a deployment through its model)."""
    for name in names:
        meta = (catalog.model_metadata(catalog.model_of_deployment(name) or name) or catalog.model_metadata(name)) if name else None
        if meta:
            yield meta


# Request columns that give a model's size: total parameters, and per token for a mixture of experts
SIZE_COLUMNS = ("num_parameters", "num_active_parameters")


@lru_cache(maxsize=1)
def _stated_active() -> Dict[str, float]:
    """HELM model name or one of its `helm_names` (lower case) → active parameters, from
    active_parameters.json (each entry's `active` a positive number below its `total`)."""
    from helm_efficiency.errors import EfficiencyInputError

    with open(ACTIVE_PARAMETERS_JSON, encoding="utf-8") as f:
        facts = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    out: Dict[str, float] = {}
    for key, fact in facts.items():
        fact = fact if isinstance(fact, dict) else {}
        active, total = fact.get("active"), fact.get("total")
        if not (isinstance(active, (int, float)) and isinstance(total, (int, float)) and 0 < active < total):
            raise EfficiencyInputError(ACTIVE_PARAMETERS_JSON, f"{key}.active", f"is {active!r} (total {total!r}); expected 0 < active < total")
        out.update({name.lower(): float(active) for name in [key] + list(fact.get("helm_names", []))})
    return out


# '<total>B-A<active>B' (or M) as a whole word of a model's name, as Qwen and IBM name their
# mixtures of experts (Qwen3-Next-80B-A3B, granite-3.0-3b-a800m)
_NAMED_SIZES = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])-a(\d+(?:\.\d+)?)([bm])(?![a-z0-9])", re.IGNORECASE)
_UNIT = {"b": 1e9, "m": 1e6}


def named_active_parameters(name: str) -> Optional[float]:
    """The active parameters a '<total>B-A<active>B' name states, where 0 < active < total; else None."""
    found = _NAMED_SIZES.search(name)
    if not found:
        return None
    total, active = (float(found.group(i)) * _UNIT[found.group(i + 1).lower()] for i in (1, 3))
    return active if 0 < active < total else None


def active_parameters(names: Sequence[Optional[str]], catalog: Catalog) -> Optional[float]:
    """Parameters a token runs through, for a mixture of experts known by its size alone: stated
    for the HELM model (active_parameters.json), else read from a '<total>B-A<active>B' name;
    None for a dense model or where nothing says."""
    known = known_names(names, catalog)
    stated = _stated_active()
    for name in known:
        if name.lower() in stated:
            return stated[name.lower()]
    return next((a for a in map(named_active_parameters, known) if a is not None), None)


Frozen = Tuple[Tuple[str, int], ...]


@dataclass(frozen=True)
class ModelIdentity:
    """Everything known about one group of requests' model, built once (`identify`): its
    deployment and the HELM model that deployment serves (per the catalog), the architecture-
    registry key that prices it, its architecture (request columns over the registry's), its
    parameter count (a request column, else HELM's metadata), its context window (tokens, where
    it says so), and the HELM model name when HELM lists it as closed-weight. `num_active_parameters`:
    what one token runs through, for a mixture of experts known by its size alone (else None). `names` are the
    names the requests gave, in order (what the batch-1 chain resolves), `given` the
    architecture the request columns state. Frozen and hashable: a step reads it, never changes it."""

    deployment: Optional[str]
    helm_model: Optional[str]
    registry_key: Optional[str]
    architecture: Optional[Frozen]
    num_parameters: Optional[float]
    context_window: Optional[Tuple[int, str]]
    closed: Optional[str]
    names: Tuple[str, ...] = ()
    given: Frozen = ()
    num_active_parameters: Optional[float] = None

    @property
    def name(self) -> str:
        return self.names[0] if self.names else "model"

    def arch(self) -> Optional[Dict[str, int]]:
        return dict(self.architecture) if self.architecture is not None else None


def _frozen(d: Dict[str, int]) -> Frozen:
    return tuple(sorted((k, v) for k, v in d.items()))


def identify(catalog: Catalog, names: Sequence[Optional[str]], *, rows: Optional[pd.DataFrame] = None) -> ModelIdentity:
    """The ModelIdentity of requests known by `names` (a deployment, a HELM model, a Hugging
    Face id or a registry key, in the order the requests give them), read in `catalog`; `rows`
    (a requests table, optional) may carry architecture columns, `num_parameters` and
    `num_active_parameters`, which win over the registry's and HELM's metadata."""
    known = tuple(str(n) for n in names if n)
    given = (architecture_of(rows) or {}) if rows is not None else {}
    arch = complete_architecture(rows) if rows is not None else None
    if arch is None:
        for name in known:
            registered = registry_architecture(name, catalog)
            if registered is not None:
                arch = {**registered, **given}  # columns the rows do give (tensor_parallel, say) win
                break
    deployment = next((n for n in known if catalog.model_of_deployment(n)), None)
    helm_model = (catalog.model_of_deployment(deployment) if deployment else None) or next(
        (n for n in known if catalog.model_metadata(n)), None)
    size = None
    if rows is not None and "num_parameters" in rows.columns and rows["num_parameters"].notna().any():
        size = float(rows["num_parameters"].dropna().iloc[0])
    else:
        size = next((float(m["num_parameters"]) for m in helm_metadata(known, catalog) if m.get("num_parameters")), None)
    active = active_parameters(known, catalog)
    if rows is not None and "num_active_parameters" in rows.columns and rows["num_active_parameters"].notna().any():
        active = float(rows["num_active_parameters"].dropna().iloc[0])
    closed = next((m["name"] for m in helm_metadata(known, catalog) if m.get("access") in CLOSED_ACCESS), None)
    key = next((k for k in (registry_name(n, catalog) for n in known_names(known, catalog)) if k), None)
    return ModelIdentity(deployment, helm_model, key, _frozen(arch) if arch is not None else None, size,
                         context_window(known, catalog), closed, known, _frozen(given), active)
