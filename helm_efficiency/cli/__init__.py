"""`helm-efficiency <verb>`: run `helm-efficiency --help` for the verbs, `helm-efficiency VERB --help` for each."""

import argparse
import os
import sys
from typing import List, Optional

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm.metric_names import LEADERBOARD_STATS
from helm_efficiency.tables.names import DEFAULT_TABLE, split_table_names


def _csv_ints(text: str) -> List[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def cmd_demo(args) -> None:
    from helm_efficiency.demo import format_demo_table, run_demo

    table = run_demo(args.output_path, args.max_eval_instances, args.suite)
    print()
    print("Efficiency per model (means over runs; random-weight models, so accuracy is ~0).")
    print("Idealized = shipped CPU reference table (profiled with `helm-efficiency profile` on a CPU, batch 1).")
    print(format_demo_table(table))
    print(f"\nSuite written to {args.output_path}/runs/{args.suite}. Next, offline (the models are registered in prod_env/):\n"
          f"  helm-efficiency schema -o schema_efficiency.yaml && helm-summarize --suite {args.suite} -o {args.output_path} "
          f"--schema-path schema_efficiency.yaml && helm-server --suite {args.suite} -o {args.output_path}\n"
          f"    (each group page gets an 'Efficiency (helm-efficiency)' tab: raw, denoised, idealized runtime with its interval, energy, cost;\n"
          f"     plain `helm-summarize --suite {args.suite}` also works: HELM's own denoised/idealized columns carry our numbers)\n"
          f"  helm-efficiency leaderboard {args.output_path}/runs/{args.suite} -o leaderboard/")


def cmd_import_megatron(args) -> None:
    from helm_efficiency.sources.megatron import import_megatron_logs

    df = import_megatron_logs(args.logs)
    df.to_csv(args.output, index=False)
    print(f"wrote {len(df)} measurements of {df['model'].nunique()} models to {args.output}")


def cmd_calibrate(args) -> None:
    from helm_efficiency.measurements import read_csv
    from helm_efficiency.tables.calibrate import calibrate_table

    aliases = {}
    if args.aliases:
        from helm_efficiency.runs import read_json

        aliases = read_json(args.aliases)
    import pandas as pd

    measurements = pd.concat([read_csv(path) for path in args.measurements], ignore_index=True)
    table = calibrate_table(measurements, name=args.name or args.output, source=" ".join(args.measurements), form=args.form, aliases=aliases)
    table.save(args.output)
    for entry in table.entries:
        fit = entry.fit_summary()
        stats = "; ".join(f"batch {b}: form {s['form']}, n={s['n']}, R²={s['rsquared']:.4f}" for b, s in fit.items())
        print(f"{entry.model}@{entry.hardware}: {stats}")
    print(f"wrote {args.output}")


def cmd_estimate(args) -> None:
    from helm_efficiency.cli.estimate import estimate_csv

    estimate_csv(args.requests, args.output, args.table, args.power_w, args.usd_per_gpu_hour, sla=args.sla)


def cmd_explain(args) -> None:
    import json

    from helm_efficiency.estimate import explain_transfer, load_tables

    report = explain_transfer(args.model, load_tables(args.table), args.prompt_tokens, args.output_tokens, args.hardware)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    arch = report["architecture"]
    print(f"{args.model} on {report['hardware']} (TP {arch.get('tensor_parallel', 1)}), p={args.prompt_tokens}, o={args.output_tokens}")
    print(f"  pure roofline                {report['roofline_s']:.4f} s")
    for name, seconds in report["terms_s"].items():
        print(f"  + {name:<26} {seconds:+.4f} s")
    print(f"  = shared regression          {report['regression_s']:.4f} s   (fitted on {', '.join(report['trained_on'])})")
    for n in sorted(report["neighbours"], key=lambda n: -abs(n["weight"])):
        print(f"    neighbour {n['model']:<18} weight {n['weight']:.3f}, its runtime ÷ regression {n['deviation']:.3f}")
    lo, hi = report["interval_s"]
    flag = "  [extrapolated]" if report["extrapolated"] else ""
    print(f"  transfer estimate            {report['runtime_s']:.4f} s   (90% interval {lo:.4f}–{hi:.4f}){flag}")


def cmd_tabulate(args) -> None:
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


def cmd_registry(args) -> None:
    from helm_efficiency.analytic.registry import load_registry, registry_name
    from helm_efficiency.helm_catalog import open_text_models

    if args.missing:
        missing = [m for m in open_text_models() if registry_name(m["name"]) is None]
        for m in missing:
            size = f"{m['num_parameters'] / 1e9:.1f}B" if m.get("num_parameters") else "size unknown"
            print(f"{m['name']}\t{size}\t{m.get('release_date') or ''}")
        print(f"{len(missing)} of {len(open_text_models())} open-weight text models in the installed HELM are not in the registry", file=sys.stderr)
        return
    for key, entry in sorted(load_registry().items()):
        print(f"{key}\t{entry['source']}\t{', '.join(entry.get('helm_names', []))}")


def cmd_profile(args) -> None:
    from helm_efficiency.profiling.profile_cmd import profile

    df = profile(
        args.config, args.arch, args.device, args.dtype, args.prompts, args.outputs, args.batch_sizes,
        args.repeats, args.warmup, args.max_seconds, args.hardware, args.name, args.stack, args.energy,
    )
    df.to_csv(args.output, index=False)
    worst = (df["runtime_std_s"] / df["runtime_s"]).max() if len(df) else float("nan")
    print(f"wrote {len(df)} points to {args.output}; worst repeat std/mean = {worst:.1%}"
          + (f"; {len(df.attrs['warnings'])} warning(s) above: the machine was not quiet" if df.attrs.get("warnings") else ""))


def cmd_random_model(args) -> None:
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


def cmd_local_model_config(args) -> None:
    from helm_efficiency.helm.local_configs import write_local_model_configs

    names = write_local_model_configs(args.folders, args.prod_env)
    print(f"registered {', '.join(names)} in {args.prod_env}/{{model_deployments,tokenizer_configs,model_metadata}}.yaml")


def cmd_denoise(args) -> None:
    from helm_efficiency.cli.denoise import denoise_csv

    denoise_csv(args.timings, args.output, args.fit_out, args.quantile)


# rescore's exit status when some runs could not be read or written (every good run was written).
RESCORE_PARTIAL_EXIT = 3


def cmd_rescore(args) -> None:
    from helm_efficiency.rescore import rescore_suite

    summary = rescore_suite(args.suite_dir, tables=args.table, pattern=args.runs, dry_run=args.dry_run, jobs=args.jobs,
                            executor=args.executor, address=args.address, local_path=args.local_path, sla=args.sla)
    if summary.get("failed"):
        sys.exit(RESCORE_PARTIAL_EXIT)


def cmd_leaderboard(args) -> None:
    from helm_efficiency.report.leaderboard import write_leaderboard

    write_leaderboard(args.source, args.output_dir, metric=args.metric, efficiency=args.efficiency,
                      common_scenarios=args.common_scenarios, allow_mixed_stacks=args.allow_mixed_stacks,
                      local_path=args.local_path, schema=args.schema)


def cmd_schema(args) -> None:
    from helm_efficiency.helm.schema import write_schema

    write_schema(args.output, args.base)


def add_table_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", action="append", help="a shipped table (h100-trtllm, h100-vllm, h200-trtllm, a100-trtllm, a100-vllm, a100, "
                   "v100, cpu, helm) or a JSON path; repeat, or join with '+', to search several in order (default: h100-trtllm)")


def add_sla_option(p: argparse.ArgumentParser) -> None:
    from helm_efficiency.tables.served import parse_sla

    p.add_argument("--sla", type=_sla_type(parse_sla), help="latency target for the served numbers, e.g. tpot=50ms,ttft=2s (the default)")


def _sla_type(parse):
    def parse_or_usage(text):
        try:
            return parse(text)
        except EfficiencyInputError as e:
            raise argparse.ArgumentTypeError(str(e))

    return parse_or_usage


def add_local_path_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local-path", default="prod_env", help="the suite's prod_env folder, as helm-run's --local-path: its "
                   "model_deployments.yaml and model_metadata.yaml resolve custom deployments to their models (default: prod_env, "
                   "next to where you run; ignored if absent)")


def add_model_source(p: argparse.ArgumentParser) -> None:
    """--config or --arch: where the verbs that build or simulate a model get its architecture."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a Hugging Face config.json (must have model_type)")
    source.add_argument("--arch", help="a registry, HELM or Hugging Face name, e.g. meta/llama-3.1-8b (see `helm-efficiency registry`)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helm-efficiency", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    def add(name, func, help_text, example):
        p = sub.add_parser(name, help=help_text.split("\n\n")[0], description=help_text.replace("%%", "%"), epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "Run an offline helm-run with the plugin on random-weight local models and print the efficiency table.",
            "helm-efficiency demo --max-eval-instances 20")
    p.add_argument("--output-path", default="benchmark_output")
    p.add_argument("--suite", default="demo")
    p.add_argument("--max-eval-instances", type=int, default=20)

    p = add("import-megatron", cmd_import_megatron, "Turn Megatron-LM profiling logs into a measurements CSV (architecture columns included).",
            "helm-efficiency import-megatron ../shared/data/reference_profiles/a100/*.log -o a100.csv")
    p.add_argument("logs", nargs="+")
    p.add_argument("-o", "--output", required=True)

    p = add("calibrate", cmd_calibrate, "Fit a CostTable (one entry per model and hardware) from a measurements CSV.\n\n"
            "Required columns: model, hardware, num_prompt_tokens, num_output_tokens, runtime_s (seconds per request). Optional: "
            "runtime_std_s, batch_size, num_gpus, dtype, software, source, provenance_*, and architecture columns (num_layers, "
            "hidden_size, num_attention_heads, num_kv_heads, intermediate_size, vocab_size, tensor_parallel, ...).",
            "helm-efficiency calibrate a100.csv -o a100.json --aliases aliases.json")
    p.add_argument("measurements", nargs="+", help="one or more measurements CSVs (columns above)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--form", default="auto", help="auto (paper_context where the points identify it, else paper, else long_context), cv (chosen by cross-validation), paper, paper_context or long_context")
    p.add_argument("--aliases", help="JSON {HELM model or deployment name: table model name}")
    p.add_argument("--name", help="table name (default: the output path)")

    p = add("estimate", cmd_estimate, "Add idealized runtime (90%% interval), method, energy and cost to a requests CSV.\n\n"
            "Required columns: model (a HELM, registry or table name), num_prompt_tokens, num_output_tokens. Optional: hardware "
            "(picks the table whose entries are on it), and architecture columns (num_layers, hidden_size, num_attention_heads, "
            "intermediate_size, tensor_parallel, ...) that override the registry's and are estimated apart.",
            "helm-efficiency estimate --table a100 requests.csv -o estimates.csv")
    p.add_argument("requests", help="requests CSV (columns above)")
    p.add_argument("-o", "--output", required=True)
    add_table_option(p)
    p.add_argument("--power-w", type=_positive_float, help="override the per-GPU power assumption (W, both phases)")
    p.add_argument("--usd-per-gpu-hour", type=_positive_float, help="override the per-GPU-hour price (USD)")
    add_sla_option(p)

    p = add("explain", cmd_explain, "Take a transfer (architecture-only) estimate apart: roofline, regression terms, profiled neighbours.",
            "helm-efficiency explain meta/llama-3.1-8b --hardware a100 --prompt-tokens 512 --output-tokens 32")
    p.add_argument("model", help="a registry or HELM model name (see helm_efficiency/analytic/registry.json)")
    p.add_argument("--hardware", help="reference hardware (default: the first table's)")
    add_table_option(p)
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--output-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print the breakdown as JSON")

    p = add("tabulate", cmd_tabulate, "Simulate a model's batch-1 runtime grid on a modern stack (AIConfigurator's measured kernels) into a measurements CSV.",
            "helm-efficiency tabulate --arch meta/llama-3-8b --stack h100-trtllm -o llama3.csv && helm-efficiency calibrate llama3.csv -o mine.json")
    add_model_source(p)
    p.add_argument("--stack", default=DEFAULT_TABLE, help="h100-trtllm (default), h100-vllm, h200-trtllm, a100-trtllm or a100-vllm")
    p.add_argument("--prompts", type=_csv_ints, help="prompt lengths (tokens), comma-separated (default: 1,64,256,512,1024,2048,4096,8192)")
    p.add_argument("--outputs", type=_csv_ints, help="output lengths (tokens), comma-separated (default: 1,64,1024)")
    p.add_argument("--tensor-parallel", type=int, help="GPUs (default: the smallest power of two that holds the bf16 weights)")
    p.add_argument("--name", help="model name in the table (default: the registry name; required with --config)")
    p.add_argument("-o", "--output", required=True)

    p = add("registry", cmd_registry, "List the architecture registry, or (--missing) HELM's open-weight text models it lacks.",
            "helm-efficiency registry --missing")
    p.add_argument("--missing", action="store_true", help="list the installed HELM's open-weight text models with no registry entry")

    p = add("random-model", cmd_random_model, "Build a random-weight model from a config (no download) and save it with a byte tokenizer, "
            "ready for helm-run --enable-local-huggingface-models DIR.",
            "helm-efficiency random-model --arch test/tiny-llama -o models/tiny && "
            "helm-run --run-entries 'synthetic_reasoning:mode=pattern_match,model=huggingface/tiny,efficiency=true' --enable-local-huggingface-models models/tiny --suite s --max-eval-instances 5")
    add_model_source(p)
    p.add_argument("--seed", type=int, default=0, help="weight seed (runtime does not depend on weight values)")
    p.add_argument("-o", "--output-dir", required=True, help="folder to write; HELM names the model huggingface/<folder name>")

    p = add("local-model-config", cmd_local_model_config, "Register local Hugging Face model folders in PROD_ENV's model_deployments.yaml, "
            "tokenizer_configs.yaml and model_metadata.yaml, so helm-run, helm-summarize and helm-server resolve huggingface/<folder> "
            "without --enable-local-huggingface-models.",
            "helm-efficiency local-model-config models/mine && helm-summarize --suite mine")
    p.add_argument("folders", nargs="+", help="model folders (config.json and tokenizer files, as save_pretrained writes them)")
    p.add_argument("--prod-env", default="prod_env", help="HELM's --local-path (default: prod_env)")

    p = add("profile", cmd_profile, "Profile a random-weight model (from a config or registry name) and write a measurements CSV.",
            "helm-efficiency profile --arch test/tiny-llama --device cpu -o m.csv")
    add_model_source(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="fp32 (CPU default), fp16 or bf16 (CUDA default)")
    p.add_argument("--prompts", type=_csv_ints, default=[1, 64, 128, 256, 512, 1024])
    p.add_argument("--outputs", type=_csv_ints, default=[1, 8, 32])
    p.add_argument("--batch-sizes", type=_csv_ints, default=[1])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-seconds", type=float, default=None, help="time budget; most informative points go first")
    p.add_argument("--hardware", help="hardware label for the table (default: detected device name)")
    p.add_argument("--name", help="model name in the table (default: --arch, else the config's name, else its folder for a config.json)")
    p.add_argument("--stack", choices=["eager", "optimized"], default="eager",
                   help="eager: dynamic KV cache, eager PyTorch; optimized: static KV cache and compiled decode (CUDA graphs on GPU)")
    p.add_argument("--energy", action="store_true", help="CUDA: add energy_j per request from NVML's energy counter (pip install nvidia-ml-py)")
    p.add_argument("-o", "--output", required=True)

    p = add("denoise", cmd_denoise, "Fit a lower envelope per model to request timings and add denoised_runtime_s to every row.\n\n"
            "Required columns: model, num_prompt_tokens, num_output_tokens, runtime_s (or rescore's efficiency_requests.csv, with "
            "model_deployment and raw_runtime_s). Optional: request_datetime (for the cold start), success, cached, status.",
            "helm-efficiency denoise timings.csv -o denoised.csv --fit-out fit.json")
    p.add_argument("timings", help="timings CSV (columns above)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--fit-out")
    p.add_argument("--quantile", type=float, default=None, help="envelope quantile (default: automatic, 10/n within [0.02, 0.1])")

    p = add("rescore", cmd_rescore, "Add efficiency stats to the runs of an existing benchmark_output suite, without calling any model. "
            f"Exit status {RESCORE_PARTIAL_EXIT} when some runs could not be read or written (every good run is still written), 2 on bad input.",
            "helm-efficiency rescore benchmark_output/runs/my-suite --table a100 -j 2")
    p.add_argument("suite_dir")
    add_table_option(p)
    p.add_argument("--runs", default="*", help="glob over run folder names")
    p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for the per-run phases (local pool, or a Dask LocalCluster)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="where the per-run phases run: local (default) or dask (pip install 'helm-efficiency[dask]')")
    p.add_argument("--address", help="with --executor dask: an existing scheduler, e.g. tcp://scheduler:8786 (default: start a LocalCluster of -j workers)")
    add_local_path_option(p)
    add_sla_option(p)

    p = add("leaderboard", cmd_leaderboard, "Capability vs efficiency: table (CSV, Markdown, HTML), Pareto flags, ranks and PNG plots.",
            "helm-efficiency leaderboard benchmark_output/runs/demo -o leaderboard/")
    p.add_argument("source", help="a suite folder (benchmark_output/runs/SUITE), or a HELM 2022 runtimes-and-accuracies CSV (github.com/stanford-crfm/helm-efficiency)")
    p.add_argument("-o", "--output-dir", required=True, help="folder for leaderboard.{csv,md,html} and the PNGs")
    p.add_argument("--metric", default="auto", help="capability stat; auto (default): each run group's main metric from HELM's schema "
                   "(F1 for QA, quasi-exact match for classification, ...), combined by mean win rate when they differ")
    p.add_argument("--efficiency", default="idealized", choices=[s.leaderboard for s in LEADERBOARD_STATS],
                   help="the measure Pareto flags and the plots use (default: idealized runtime)")
    p.add_argument("--common-scenarios", action="store_true", help="average every model over only the scenarios all models have")
    p.add_argument("--schema", action="append", help="a HELM schema YAML whose run groups give each run's main metric (repeatable; "
                   "default: every schema_*.yaml in the suite folder and its benchmark_output, then every schema HELM ships)")
    add_local_path_option(p)
    p.add_argument("--allow-mixed-stacks", action="store_true",
                   help="rank idealized numbers from different reference stacks together (every output then says so)")
    p = add("schema", cmd_schema, "Write a helm-summarize schema: HELM's schema plus an efficiency_plugin metric group with our stats.",
            "helm-efficiency schema -o schema_efficiency.yaml && helm-summarize --suite my-suite --schema-path schema_efficiency.yaml")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--base", help="schema to extend: a YAML file, or the name of one HELM ships (classic, lite, safety, medhelm, capabilities, ...; default: classic)")
    return parser


def _positive_float(text: str) -> float:
    """argparse type: a finite number above zero (a negative power or price makes no sense)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} must be a positive, finite number")
    return value


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "dtype", "unset") is None:
        args.dtype = "bf16" if str(args.device).startswith("cuda") else "fp32"
    if getattr(args, "table", "unset") is None:
        args.table = [DEFAULT_TABLE]
    if isinstance(getattr(args, "table", None), list):
        args.table = list(split_table_names(args.table))  # --table a100 --table v100, or --table a100+v100
    try:
        args.func(args)
    except EfficiencyInputError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except BrokenPipeError:  # `helm-efficiency explain ... | head` closed the pipe: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
