"""HELM's model catalog (model_metadata.yaml, model_deployments.yaml), read as data files.

Reads the YAML that ships inside the installed `crfm-helm` without importing HELM's code, so
the estimate path stays light. Returns empty results when HELM is not installed. A suite's own
`prod_env` folder (helm-run's `--local-path`) can define more deployments and models: a
`Catalog(local_path)` reads its entries first, as helm-run does. There is no process-wide
"current" prod_env: each entry point builds its Catalog and passes it down.
"""

import copy
import hashlib
import os
import pickle
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import yaml

from helm_efficiency.util.atomic import write_bytes_atomic

if TYPE_CHECKING:
    from helm.benchmark.model_deployment_registry import ModelDeployment

CLOSED_ACCESS = ("closed", "limited")


@lru_cache(maxsize=None)
def _yaml(package: str, file_name: str) -> Dict[str, Any]:
    """A YAML file inside the installed crfm-helm, parsed; {} without HELM. Cached: do not mutate."""
    try:
        text = resources.files(package).joinpath(file_name).read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    return _parsed(text)


def cache_dir() -> str:
    """Where parsed copies of HELM's YAML are kept: $HELM_EFFICIENCY_CACHE, else ~/.cache/helm_efficiency."""
    return os.environ.get("HELM_EFFICIENCY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "helm_efficiency")


def _parsed(text: str) -> Dict[str, Any]:
    """`text` parsed as YAML. HELM's catalog is ~1 MB of YAML and takes ~0.4 s to parse, most of
    a one-row estimate's time, so the parse is kept as a pickle named by the text's SHA-256: the
    same text always gives the same data (dates stay dates), and another text another file. A
    cache that cannot be read or written is skipped; the YAML is then parsed."""
    path = os.path.join(cache_dir(), f"yaml-{hashlib.sha256(text.encode()).hexdigest()}.pickle")
    try:
        with open(path, "rb") as f:
            cached: Dict[str, Any] = pickle.load(f)
            return cached
    except Exception:  # absent, or unreadable: parse
        pass
    data: Dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    try:
        write_bytes_atomic(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass
    return data


def classic_schema() -> Dict[str, Any]:
    """HELM's schema_classic.yaml (metrics, metric groups, run groups with their main metric),
    a fresh copy each call so callers may change it; {} without HELM."""
    return copy.deepcopy(_yaml("helm.benchmark.static", "schema_classic.yaml"))


def read_schema_file(path: str) -> Dict[str, Any]:
    """A HELM schema (YAML, or the JSON helm-summarize writes), parsed; an error names the file."""
    import json

    from helm_efficiency.errors import EfficiencyInputError

    try:
        with open(path) as f:
            parsed = json.load(f) if path.endswith(".json") else yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise EfficiencyInputError(path, "<file>", f"not a readable schema ({e})")
    return parsed if isinstance(parsed, dict) else {}


@lru_cache(maxsize=1)
def _helm_schema_names() -> List[str]:
    try:
        files = [p.name for p in resources.files("helm.benchmark.static").iterdir() if p.name.startswith("schema_") and p.name.endswith(".yaml")]
    except (ModuleNotFoundError, FileNotFoundError):
        return []
    rest = sorted(f for f in files if f != "schema_classic.yaml")
    return (["schema_classic.yaml"] if "schema_classic.yaml" in files else []) + rest


def helm_schemas() -> List[Dict[str, Any]]:
    """Every schema HELM ships (helm/benchmark/static/schema_*.yaml), classic first; cached: do not mutate."""
    return [_yaml("helm.benchmark.static", name) for name in _helm_schema_names()]


def helm_schema_files() -> List[str]:
    """The file names of the schemas helm_schemas() returns, in its order."""
    return list(_helm_schema_names())


@dataclass(frozen=True)
class Catalog:
    """HELM's model catalog: the model_deployments.yaml and model_metadata.yaml HELM ships, and,
    when `local_path` names a folder, a suite's prod_env (helm-run's `--local-path`) whose
    entries come first, as helm-run reads them. Frozen: built once by each entry point (rescore,
    estimate, the live metric) and passed to whatever resolves names; two catalogs never share
    an answer. Every index is built on first use and kept on the instance (HELM's own YAML is
    parsed once per process, `_yaml`); a missing `local_path` folder means HELM's files only.

    `Catalog()` (or HELM_ONLY, a shared one) is HELM's own files: the default of a call made
    without a suite."""

    local_path: Optional[str] = None

    def __post_init__(self) -> None:
        path = self.local_path
        object.__setattr__(self, "local_path", os.path.abspath(path) if path and os.path.isdir(path) else None)

    def __reduce__(self) -> Tuple[type, Tuple[Optional[str]]]:
        # A worker process gets the folder, not the indexes: it rebuilds them on first use.
        return (Catalog, (self.local_path,))

    # -- the files ---------------------------------------------------------------------------
    def _local(self, file_name: str) -> Dict[str, Any]:
        """A prod_env YAML file, parsed; {} when absent. Malformed: an error naming the file."""
        from helm_efficiency.errors import EfficiencyInputError

        full = os.path.join(str(self.local_path), file_name)
        if self.local_path is None or not os.path.isfile(full):
            return {}
        try:
            with open(full) as f:
                parsed = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError as e:
            raise EfficiencyInputError(full, "<file>", f"invalid YAML ({e})")
        if not isinstance(parsed, dict):
            raise EfficiencyInputError(full, "<file>", "not a mapping")
        return parsed

    def _read(self, file_name: str, key: str) -> List[Dict[str, Any]]:
        local = list(self._local(file_name).get(key) or [])
        return [e for e in local if isinstance(e, dict) and e.get("name")] + list(_yaml("helm.config", file_name).get(key) or [])

    @cached_property
    def _deployments(self) -> List[Dict[str, Any]]:
        return self._read("model_deployments.yaml", "model_deployments")

    @cached_property
    def _models(self) -> List[Dict[str, Any]]:
        return self._read("model_metadata.yaml", "models")

    # -- the indexes (built once per instance) -------------------------------------------------
    @cached_property
    def _deployment_models(self) -> Dict[str, str]:
        """Deployment name and Hugging Face path (lower-cased) → HELM model name."""
        index: Dict[str, str] = {}
        for deployment in self._deployments:
            model = deployment.get("model_name") or deployment["name"]
            index.setdefault(deployment["name"].lower(), model)
            path = _client_args(deployment).get("pretrained_model_name_or_path")
            if path:
                index.setdefault(str(path).lower(), model)
        return index

    @cached_property
    def _deployment_windows(self) -> Dict[str, int]:
        """Deployment (and its model) → the longest request HELM sends it, in tokens."""
        windows: Dict[str, int] = {}
        for d in self._deployments:
            length = d.get("max_request_length") or d.get("max_sequence_length")
            if isinstance(length, int) and length > 0:
                windows.setdefault(d["name"], length)
                windows.setdefault(d.get("model_name") or d["name"], length)
        return windows

    @cached_property
    def _deployment_clients(self) -> Dict[str, str]:
        return {d["name"]: (d.get("client_spec") or {}).get("class_name", "") for d in self._deployments}

    @cached_property
    def _deployment_paths(self) -> Dict[str, str]:
        return {d["name"]: str(_client_args(d)["pretrained_model_name_or_path"])
                for d in self._deployments if _client_args(d).get("pretrained_model_name_or_path")}

    @cached_property
    def _metadata_by_name(self) -> Dict[str, Dict[str, Any]]:
        index: Dict[str, Dict[str, Any]] = {}
        for model in self._models:
            index.setdefault(model["name"], model)  # the first entry, as a scan in file order would find
        return index

    # -- lookups ------------------------------------------------------------------------------
    def models(self) -> List[Dict[str, Any]]:
        """Every entry of model_metadata.yaml (name, access, num_parameters, release_date, tags),
        the prod_env's first. Do not mutate."""
        return self._models

    def model_of_deployment(self, name: str) -> Optional[str]:
        """HELM model name for a deployment name or a Hugging Face path a deployment serves, else None."""
        return self._deployment_models.get(name.lower())

    def deployment_context_window(self, name: str) -> Optional[int]:
        """max_request_length (else max_sequence_length) of a deployment or model, in tokens."""
        return self._deployment_windows.get(name)

    def deployment_client(self, name: str) -> Optional[str]:
        """The client class model_deployments.yaml names for a deployment, else None."""
        return self._deployment_clients.get(name)

    def deployment_model_path(self, name: str) -> Optional[str]:
        """The `pretrained_model_name_or_path` a deployment's client loads (a local folder or a hub id), else None."""
        return self._deployment_paths.get(name)

    def model_metadata(self, name: str) -> Optional[Dict[str, Any]]:
        """The metadata entry of a model name, or None."""
        return self._metadata_by_name.get(name)

    def open_text_models(self) -> List[Dict[str, Any]]:
        """The open-weight text models (access 'open', TEXT_MODEL_TAG), each name once."""
        seen, out = set(), []
        for model in self._models:
            if model.get("access") == "open" and "TEXT_MODEL_TAG" in (model.get("tags") or []) and model["name"] not in seen:
                seen.add(model["name"])
                out.append(model)
        return out

    def preload(self) -> "Catalog":
        """Parse the YAML and build every index now: a process pool forked after this inherits
        HELM's parsed YAML, where each worker would otherwise parse it again. Returns self."""
        for name in ("_deployment_models", "_deployment_windows", "_deployment_clients", "_deployment_paths", "_metadata_by_name"):
            getattr(self, name)
        return self


def _client_args(deployment: Dict[str, Any]) -> Dict[str, Any]:
    args: Dict[str, Any] = (deployment.get("client_spec") or {}).get("args") or {}
    return args


HELM_ONLY = Catalog()  # HELM's own files: the default where no suite is given (frozen; its indexes fill on use)


def registered_deployment(deployment: str) -> Optional["ModelDeployment"]:
    """HELM's ModelDeployment for a name registered in this process (inside helm-run: HELM's
    catalog plus the suite's prod_env), else None. Never HELM's get_model_deployment: for an
    unknown "huggingface/NAME" that tries to download NAME's tokenizer from the Hub."""
    from helm.benchmark.model_deployment_registry import DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT

    return DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT.get(deployment)

