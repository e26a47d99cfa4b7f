"""Write HELM's prod_env config files for local Hugging Face model folders.

`helm-run --enable-local-huggingface-models DIR` registers a folder for that one run only, so
`helm-summarize` and `helm-server` cannot resolve the model afterwards. These files register it
for every HELM command that reads the same `--local-path` (default `prod_env`): the same
deployment, tokenizer and metadata HELM's own flag would register, under the same name,
`huggingface/<folder name>`. Existing entries for other models are kept.
"""

import os
from datetime import date
from typing import Any, Dict, List, Sequence

import yaml

from helm_efficiency.util.atomic import write_text_atomic
from helm_efficiency.errors import EfficiencyInputError

FILES = {"model_deployments.yaml": "model_deployments", "tokenizer_configs.yaml": "tokenizer_configs", "model_metadata.yaml": "models"}


def local_model_entries(folder: str) -> Dict[str, Dict[str, Any]]:
    """{file: entry} for one model folder (config.json and tokenizer files, as save_pretrained writes)."""
    from transformers import AutoTokenizer

    folder = os.path.abspath(folder)
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise EfficiencyInputError(folder, "config.json", "missing: not a Hugging Face model folder")
    name = f"huggingface/{os.path.basename(folder.rstrip(os.sep))}"
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.model_max_length > 1_000_000:
        raise EfficiencyInputError(folder, "tokenizer_config.json", "model_max_length is not set; HELM needs the context length")
    args = {"pretrained_model_name_or_path": folder}
    return {
        "model_deployments.yaml": {"name": name, "model_name": name, "tokenizer_name": name, "max_sequence_length": int(tokenizer.model_max_length),
                                   "client_spec": {"class_name": "helm.clients.huggingface_client.HuggingFaceClient", "args": args}},
        "tokenizer_configs.yaml": {"name": name, "tokenizer_spec": {"class_name": "helm.tokenizers.huggingface_tokenizer.HuggingFaceTokenizer", "args": args},
                                   "end_of_text_token": tokenizer.eos_token or "", "prefix_token": tokenizer.bos_token or ""},
        "model_metadata.yaml": {"name": name, "display_name": name, "description": f"Local Hugging Face model in {folder}",
                                "creator_organization_name": "Unknown", "access": "open", "release_date": date.today(),
                                "tags": ["TEXT_MODEL_TAG", "FULL_FUNCTIONALITY_TEXT_MODEL_TAG"]},
    }


def write_local_model_configs(folders: Sequence[str], prod_env: str = "prod_env") -> List[str]:
    """Add (or replace) the folders' entries in PROD_ENV's three YAML files; returns the model names."""
    entries = [local_model_entries(f) for f in folders]
    os.makedirs(prod_env, exist_ok=True)
    for file_name, key in FILES.items():
        path = os.path.join(prod_env, file_name)
        existing: Dict[str, Any] = {}
        if os.path.exists(path):
            with open(path) as f:
                existing = yaml.safe_load(f) or {}
            if not isinstance(existing, dict):
                raise EfficiencyInputError(path, key, "not a HELM config file (expected a mapping)")
        new_names = {e[file_name]["name"] for e in entries}
        kept = [item for item in existing.get(key) or [] if item.get("name") not in new_names]
        existing[key] = kept + [e[file_name] for e in entries]
        write_text_atomic(path, yaml.safe_dump(existing, sort_keys=False))
    return [e["model_deployments.yaml"]["name"] for e in entries]
