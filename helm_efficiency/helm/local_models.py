"""Architectures of models HELM serves from a local folder (`--enable-local-huggingface-models`)."""

import json
import os
from typing import Dict, Optional, Tuple

from helm_efficiency.analytic.architecture import architecture_from_config


def local_model_architecture(deployment: str) -> Optional[Tuple[Dict[str, int], str]]:
    """(architecture columns, config.json path) for a deployment HELM serves from a local folder,
    or None (remote deployments, unregistered names, folders without a config)."""
    from helm.benchmark.model_deployment_registry import get_model_deployment

    try:
        spec = get_model_deployment(deployment)
    except ValueError:
        return None
    path = ((spec.client_spec.args or {}) if spec.client_spec else {}).get("pretrained_model_name_or_path")
    config_path = os.path.join(str(path), "config.json") if path else None
    if not config_path or not os.path.isfile(config_path):
        return None
    with open(config_path) as f:
        arch = architecture_from_config(json.load(f), config_path)
    arch.pop("tensor_parallel")
    return arch, config_path
