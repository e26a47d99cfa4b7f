"""`helm-efficiency random-model`: argument parsing and the call into the library."""

import os
from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, add_model_source


def run(args: Namespace) -> None:
    from helm_efficiency.profiling.profile_cmd import check_memory, load_config_dict
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.profiling.random_model import save_random_model

    source = args.config or f"--arch {args.arch}"
    config = load_config_dict(args.config, args.arch)
    arch = architecture_from_config(config, source)
    check_memory(arch, 4, 1, "cpu", source)  # fp32 weights must fit in this machine's memory
    save_random_model(config, args.output_dir, seed=args.seed)
    print(f"wrote a random-weight {config.get('model_type')} model to {args.output_dir}; serve it with "
          f"helm-run --enable-local-huggingface-models {args.output_dir} (model huggingface/{os.path.basename(os.path.abspath(args.output_dir))})")


def register(add: AddVerb) -> None:
    p = add("random-model", run, "Build a random-weight model from a config (no download) and save it with a byte tokenizer, "
            "ready for helm-run --enable-local-huggingface-models DIR.",
            "helm-efficiency random-model --arch test/tiny-llama -o models/tiny && "
            "helm-run --run-entries 'synthetic_reasoning:mode=pattern_match,model=huggingface/tiny,efficiency=true' --enable-local-huggingface-models models/tiny --suite s --max-eval-instances 5")
    add_model_source(p)
    p.add_argument("--seed", type=int, default=0, help="weight seed (runtime does not depend on weight values)")
    p.add_argument("-o", "--output-dir", required=True, help="folder to write; HELM names the model huggingface/<folder name>")
