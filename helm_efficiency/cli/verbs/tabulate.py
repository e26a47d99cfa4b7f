"""`helm-efficiency tabulate`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, _csv_ints, add_model_source
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.stacks import DEFAULT_TABLE, stack_list


def run(args: Namespace) -> None:
    from helm_efficiency.sources.aiconfigurator import CALIBRATION_OUTPUT_TOKENS, CALIBRATION_PROMPT_TOKENS, stack, tabulate
    from helm_efficiency.profiling.profile_cmd import load_config_dict
    from helm_efficiency.analytic.registry import registry_entry

    config = load_config_dict(args.config, args.arch)
    entry = registry_entry(args.arch) if args.arch else None
    name = args.name or (entry["key"] if entry else None)
    if not name:
        raise EfficiencyInputError(args.config, "--name", "required with --config (the model name the table will use)")
    prompts, outputs = args.prompts or CALIBRATION_PROMPT_TOKENS, args.outputs or CALIBRATION_OUTPUT_TOKENS
    df = tabulate(config, name, stack(args.stack), prompts, outputs, args.tensor_parallel,
                  hf_id=entry.get("hf_id") if entry else None, source=args.config or f"registry {name}")
    df.to_csv(args.output, index=False)
    mapped = df["provenance_mapped_from"].iloc[0]
    print(f"wrote {len(df)} simulated points for {name} on {args.stack} (TP {df['num_gpus'].iloc[0]}) to {args.output}"
          + (f"; simulated as an equivalent architecture (was {mapped})" if mapped else ""))


def register(add: AddVerb) -> None:
    p = add("tabulate", run, "Simulate a model's batch-1 runtime grid on a modern stack (AIConfigurator's measured kernels) into a measurements CSV.",
            "helm-efficiency tabulate --arch meta/llama-3-8b --stack h100-trtllm -o llama3.csv && helm-efficiency calibrate llama3.csv -o mine.json")
    add_model_source(p)
    p.add_argument("--stack", default=DEFAULT_TABLE, help=f"{stack_list()} (default: {DEFAULT_TABLE})")
    p.add_argument("--prompts", type=_csv_ints, help="prompt lengths (tokens), comma-separated (default: 1,64,256,512,1024,2048,4096,8192)")
    p.add_argument("--outputs", type=_csv_ints, help="output lengths (tokens), comma-separated (default: 1,64,1024)")
    p.add_argument("--tensor-parallel", type=int, help="GPUs (default: the smallest power of two that holds the bf16 weights)")
    p.add_argument("--name", help="model name in the table (default: the registry name; required with --config)")
    p.add_argument("-o", "--output", required=True, help="measurements CSV to write (calibrate turns it into a table entry)")
