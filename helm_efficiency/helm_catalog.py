"""HELM's model catalog (model_metadata.yaml, model_deployments.yaml), read as data files.

Reads the YAML that ships inside the installed `crfm-helm` without importing HELM's code, so
the estimate path stays light. Returns empty results when HELM is not installed.
"""

import copy
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Optional

import yaml

CLOSED_ACCESS = ("closed", "limited")


@lru_cache(maxsize=None)
def _yaml(package: str, file_name: str) -> dict:
    """A YAML file inside the installed crfm-helm, parsed; {} without HELM. Cached: do not mutate."""
    try:
        text = resources.files(package).joinpath(file_name).read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _read(file_name: str, key: str) -> List[dict]:
    return list(_yaml("helm.config", file_name).get(key) or [])


def classic_schema() -> dict:
    """HELM's schema_classic.yaml (metrics, metric groups, run groups with their main metric),
    a fresh copy each call so callers may change it; {} without HELM."""
    return copy.deepcopy(_yaml("helm.benchmark.static", "schema_classic.yaml"))


def helm_models() -> List[dict]:
    """Every entry of HELM's model_metadata.yaml (name, access, num_parameters, release_date, tags)."""
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
