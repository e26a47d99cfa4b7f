"""`helm-efficiency local-model-config`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.helm.local_configs import write_local_model_configs

    names = write_local_model_configs(args.folders, args.prod_env)
    print(f"registered {', '.join(names)} in {args.prod_env}/{{model_deployments,tokenizer_configs,model_metadata}}.yaml")


def register(add: AddVerb) -> None:
    p = add("local-model-config", run, "Register local Hugging Face model folders in PROD_ENV's model_deployments.yaml, "
            "tokenizer_configs.yaml and model_metadata.yaml, so helm-run, helm-summarize and helm-server resolve huggingface/<folder> "
            "without --enable-local-huggingface-models.",
            "helm-efficiency local-model-config models/mine && helm-summarize --suite mine")
    p.add_argument("folders", nargs="+", help="model folders (config.json and tokenizer files, as save_pretrained writes them)")
    p.add_argument("--prod-env", default="prod_env", help="HELM's --local-path (default: prod_env)")
