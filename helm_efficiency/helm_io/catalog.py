"""HELM's model catalog (model_metadata.yaml, model_deployments.yaml), read as data files.

Reads the YAML that ships inside the installed `crfm-helm` without importing HELM's code, so
the estimate path stays light. Returns empty results when HELM is not installed. A suite's own
`prod_env` folder (helm-run's `--local-path`) can define more deployments and models: after
`use_local_path(path)`, its entries come first, as helm-run reads them.
"""

import copy
import hashlib
import os
import pickle
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Optional

import yaml

from helm_efficiency.util.atomic import write_bytes_atomic

CLOSED_ACCESS = ("closed", "limited")


@lru_cache(maxsize=None)
def _yaml(package: str, file_name: str) -> dict:
    """A YAML file inside the installed crfm-helm, parsed; {} without HELM. Cached: do not mutate."""
    try:
        text = resources.files(package).joinpath(file_name).read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    return _parsed(text)


def cache_dir() -> str:
    """Where parsed copies of HELM's YAML are kept: $HELM_EFFICIENCY_CACHE, else ~/.cache/helm_efficiency."""
    return os.environ.get("HELM_EFFICIENCY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "helm_efficiency")


def _parsed(text: str) -> dict:
    """`text` parsed as YAML. HELM's catalog is ~1 MB of YAML and takes ~0.4 s to parse, most of
    a one-row estimate's time, so the parse is kept as a pickle named by the text's SHA-256: the
    same text always gives the same data (dates stay dates), and another text another file. A
    cache that cannot be read or written is skipped; the YAML is then parsed."""
    path = os.path.join(cache_dir(), f"yaml-{hashlib.sha256(text.encode()).hexdigest()}.pickle")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # absent, or unreadable: parse
        pass
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    try:
        write_bytes_atomic(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass
    return data


_LOCAL_PATH: Optional[str] = None


def use_local_path(path: Optional[str]) -> None:
    """Read `path`/model_deployments.yaml and model_metadata.yaml (a suite's prod_env) before
    HELM's own from now on; None or a missing folder: HELM's own only."""
    global _LOCAL_PATH
    path = os.path.abspath(path) if path and os.path.isdir(path) else None
    if path != _LOCAL_PATH:
        _LOCAL_PATH = path
        for cached in (_local_yaml, _deployment_models, _deployment_windows, _deployment_clients, _deployment_paths, _metadata_by_name):
            cached.cache_clear()


@lru_cache(maxsize=None)
def _local_yaml(path: str, file_name: str) -> dict:
    """A prod_env YAML file, parsed; {} when absent. Malformed: an error naming the file."""
    from helm_efficiency.errors import EfficiencyInputError

    full = os.path.join(path, file_name)
    if not os.path.isfile(full):
        return {}
    try:
        with open(full) as f:
            parsed = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as e:
        raise EfficiencyInputError(full, "<file>", f"invalid YAML ({e})")
    if not isinstance(parsed, dict):
        raise EfficiencyInputError(full, "<file>", "not a mapping")
    return parsed


def _read(file_name: str, key: str) -> List[dict]:
    local = list(_local_yaml(_LOCAL_PATH, file_name).get(key) or []) if _LOCAL_PATH else []
    return [e for e in local if isinstance(e, dict) and e.get("name")] + list(_yaml("helm.config", file_name).get(key) or [])


def classic_schema() -> dict:
    """HELM's schema_classic.yaml (metrics, metric groups, run groups with their main metric),
    a fresh copy each call so callers may change it; {} without HELM."""
    return copy.deepcopy(_yaml("helm.benchmark.static", "schema_classic.yaml"))


def read_schema_file(path: str) -> dict:
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


def helm_schemas() -> List[dict]:
    """Every schema HELM ships (helm/benchmark/static/schema_*.yaml), classic first; cached: do not mutate."""
    return [_yaml("helm.benchmark.static", name) for name in _helm_schema_names()]


def helm_schema_files() -> List[str]:
    """The file names of the schemas helm_schemas() returns, in its order."""
    return list(_helm_schema_names())


def helm_models() -> List[dict]:
    """Every entry of HELM's model_metadata.yaml (name, access, num_parameters, release_date, tags),
    the local prod_env's first."""
    return _read("model_metadata.yaml", "models")


@lru_cache(maxsize=1)
def _deployment_models() -> Dict[str, str]:
    """Deployment name and Hugging Face path (lower-cased) → HELM model name."""
    index: Dict[str, str] = {}
    for deployment in _read("model_deployments.yaml", "model_deployments"):
        model = deployment.get("model_name") or deployment["name"]
        index.setdefault(deployment["name"].lower(), model)
        path = ((deployment.get("client_spec") or {}).get("args") or {}).get("pretrained_model_name_or_path")
        if path:
            index.setdefault(str(path).lower(), model)
    return index


@lru_cache(maxsize=1)
def _deployment_windows() -> Dict[str, int]:
    """Deployment (and its model) → the longest request HELM sends it, in tokens."""
    windows: Dict[str, int] = {}
    for d in _read("model_deployments.yaml", "model_deployments"):
        length = d.get("max_request_length") or d.get("max_sequence_length")
        if isinstance(length, int) and length > 0:
            windows.setdefault(d["name"], length)
            windows.setdefault(d.get("model_name") or d["name"], length)
    return windows


def deployment_context_window(name: str) -> Optional[int]:
    """max_request_length (else max_sequence_length) of a HELM deployment or model, in tokens."""
    return _deployment_windows().get(name)


@lru_cache(maxsize=1)
def _deployment_clients() -> Dict[str, str]:
    return {d["name"]: (d.get("client_spec") or {}).get("class_name", "") for d in _read("model_deployments.yaml", "model_deployments")}


@lru_cache(maxsize=1)
def _deployment_paths() -> Dict[str, str]:
    return {d["name"]: str(((d.get("client_spec") or {}).get("args") or {}).get("pretrained_model_name_or_path"))
            for d in _read("model_deployments.yaml", "model_deployments")
            if ((d.get("client_spec") or {}).get("args") or {}).get("pretrained_model_name_or_path")}


def deployment_model_path(name: str) -> Optional[str]:
    """The `pretrained_model_name_or_path` a deployment's client loads (a local folder or a hub id), else None."""
    return _deployment_paths().get(name)


def deployment_client(name: str) -> Optional[str]:
    """The client class HELM's model_deployments.yaml names for a deployment, else None."""
    return _deployment_clients().get(name)


def model_of_deployment(name: str) -> Optional[str]:
    """HELM model name for a HELM deployment name or a Hugging Face path HELM serves, else None."""
    return _deployment_models().get(name.lower())


@lru_cache(maxsize=1)
def _metadata_by_name() -> Dict[str, dict]:
    index: Dict[str, dict] = {}
    for model in helm_models():
        index.setdefault(model["name"], model)  # the first entry, as a scan in file order would find
    return index


def model_metadata(name: str) -> Optional[dict]:
    """HELM's metadata entry for a model name, or None."""
    return _metadata_by_name().get(name)


def open_text_models() -> List[dict]:
    """HELM's open-weight text models (access 'open', TEXT_MODEL_TAG), each name once."""
    seen, out = set(), []
    for model in helm_models():
        if model.get("access") == "open" and "TEXT_MODEL_TAG" in (model.get("tags") or []) and model["name"] not in seen:
            seen.add(model["name"])
            out.append(model)
    return out


def preload() -> None:
    """Parse the catalog (HELM's and the prod_env's YAML, and the indexes built on them) now,
    once, in this process: a process pool forked after this inherits it, where each worker
    would otherwise parse the same YAML again."""
    for index in (_deployment_models, _deployment_windows, _deployment_clients, _deployment_paths, _metadata_by_name):
        index()


def registered_deployment(deployment: str):
    """HELM's ModelDeployment for a name registered in this process (inside helm-run: HELM's
    catalog plus the suite's prod_env), else None. Never HELM's get_model_deployment: for an
    unknown "huggingface/NAME" that tries to download NAME's tokenizer from the Hub."""
    from helm.benchmark.model_deployment_registry import DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT

    return DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT.get(deployment)

