"""Models HELM serves on this machine: their architecture (`--enable-local-huggingface-models`
folders) and whether their requests share this machine's hardware."""

import json
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog, registered_deployment
from helm_efficiency.helm_io.states import RequestState
from helm_efficiency.request_table.table import request_rows
from helm_efficiency.request_table.tokens import TokenCounter


def local_model_architecture(deployment: str, catalog: Catalog = HELM_ONLY) -> Optional[Tuple[Dict[str, int], str]]:
    """(architecture columns, config.json path) for a deployment HELM serves from a local folder,
    or None (remote deployments, unknown names, folders without a config). The folder comes from
    HELM's live registry (inside helm-run), else `catalog` (HELM's YAML and the suite's prod_env: rescore)."""
    spec = registered_deployment(deployment)
    if spec is not None:
        path = ((spec.client_spec.args or {}) if spec.client_spec else {}).get("pretrained_model_name_or_path")
    else:
        path = catalog.deployment_model_path(deployment)
    config_path = os.path.join(str(path), "config.json") if path else None
    if not config_path or not os.path.isfile(config_path):
        return None
    with open(config_path) as f:
        arch = architecture_from_config(json.load(f), config_path)
    arch.pop("tensor_parallel")
    return arch, config_path


def run_requests(request_states: Sequence[RequestState], deployment: str, *, count_tokens: TokenCounter,
                 prompt_token_counts: Optional[Dict[Tuple[Any, ...], int]] = None, log: Optional[Callable[[str], None]] = None,
                 catalog: Catalog = HELM_ONLY) -> pd.DataFrame:
    """The requests table of one run, built the same way by the live metric and by rescore from
    the typed request states (helm_io/states.py; the metric converts HELM's objects first):
    HELM's counts where they exist (request_table/table.request_rows), the deployment's serving, its model
    (as `catalog` says), and, for a model served from a local folder, the architecture in that
    folder's config.json (so a local folder named like a known model is priced as what it is)."""
    table = request_rows(request_states, count_tokens, prompt_token_counts=prompt_token_counts, serving=serving(deployment, catalog))
    table["model_deployment"] = table["model_deployment"].fillna(deployment)
    table["model"] = table["model"].fillna(catalog.model_of_deployment(deployment) or deployment)
    local = local_model_architecture(deployment, catalog)
    if local is not None:
        architecture, config_path = local
        for column, value in architecture.items():
            table[column] = value
        if log is not None:
            log(f"efficiency: {deployment} is priced from the architecture in {config_path}")
    return table


# HELM clients that run the model in-process, on the machine running helm-run.
LOCAL_CLIENTS = ("helm.clients.huggingface_client.HuggingFaceClient", "helm.clients.simple_client.SimpleClient")


def serving(deployment: str, catalog: Catalog = HELM_ONLY) -> str:
    """"local" when HELM runs the deployment's model in-process (its requests share this
    machine), "remote" for any other known client, "unknown" otherwise. Looks at HELM's live
    registry (inside helm-run), then `catalog`'s model_deployments.yaml (rescore, offline); names HELM
    makes up for --enable-local-huggingface-models / --enable-huggingface-models folders and hub
    ids ("huggingface/NAME") are served in-process."""
    spec = registered_deployment(deployment)
    client = spec.client_spec.class_name if spec is not None and spec.client_spec else catalog.deployment_client(deployment)
    if client is None:
        return "local" if deployment.startswith("huggingface/") else "unknown"
    return "local" if client in LOCAL_CLIENTS else "remote"
