"""Models HELM serves on this machine: their architecture (`--enable-local-huggingface-models`
folders) and whether their requests share this machine's hardware."""

import json
import os
from typing import Dict, Optional, Tuple

from helm_efficiency.analytic.architecture import architecture_from_config


def registered_deployment(deployment: str):
    """HELM's ModelDeployment for a registered name, else None. Never HELM's get_model_deployment:
    for an unknown "huggingface/NAME" that tries to download NAME's tokenizer from the Hub."""
    from helm.benchmark.model_deployment_registry import DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT

    return DEPLOYMENT_NAME_TO_MODEL_DEPLOYMENT.get(deployment)


def local_model_architecture(deployment: str) -> Optional[Tuple[Dict[str, int], str]]:
    """(architecture columns, config.json path) for a deployment HELM serves from a local folder,
    or None (remote deployments, unregistered names, folders without a config)."""
    spec = registered_deployment(deployment)
    if spec is None:
        return None
    path = ((spec.client_spec.args or {}) if spec.client_spec else {}).get("pretrained_model_name_or_path")
    config_path = os.path.join(str(path), "config.json") if path else None
    if not config_path or not os.path.isfile(config_path):
        return None
    with open(config_path) as f:
        arch = architecture_from_config(json.load(f), config_path)
    arch.pop("tensor_parallel")
    return arch, config_path


# HELM clients that run the model in-process, on the machine running helm-run.
LOCAL_CLIENTS = ("helm.clients.huggingface_client.HuggingFaceClient", "helm.clients.simple_client.SimpleClient")


def serving(deployment: str) -> str:
    """"local" when HELM runs the deployment's model in-process (its requests share this
    machine), "remote" for any other known client, "unknown" otherwise. Looks at HELM's live
    registry (inside helm-run), then its model_deployments.yaml (rescore, offline); names HELM
    makes up for --enable-local-huggingface-models / --enable-huggingface-models folders and hub
    ids ("huggingface/NAME") are served in-process."""
    from helm_efficiency.helm_catalog import deployment_client

    spec = registered_deployment(deployment)
    client = spec.client_spec.class_name if spec is not None and spec.client_spec else deployment_client(deployment)
    if client is None:
        return "local" if deployment.startswith("huggingface/") else "unknown"
    return "local" if client in LOCAL_CLIENTS else "remote"
