"""`helm-efficiency explain`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, add_table_option


def run(args: Namespace) -> None:
    import json

    from helm_efficiency.pricing.estimate import explain_transfer, load_tables

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
    if "corrected_runtime_s" in report:
        lo, hi = report["corrected_interval_s"]
        print(f"  with the stack's correction  {report['corrected_runtime_s']:.4f} s   (90% interval {lo:.4f}–{hi:.4f}; "
              "what the stack's published measurements say real serving adds, docs/corrections.md)")


def register(add: AddVerb) -> None:
    p = add("explain", run, "Take a transfer (architecture-only) estimate apart: roofline, regression terms, profiled neighbours.",
            "helm-efficiency explain meta/llama-3.1-8b --hardware a100 --prompt-tokens 512 --output-tokens 32")
    p.add_argument("model", help="a registry or HELM model name (see helm_efficiency/analytic/registry.json)")
    p.add_argument("--hardware", help="reference hardware (default: the first table's)")
    add_table_option(p)
    p.add_argument("--prompt-tokens", type=int, default=512, help="prompt length p of the request explained (tokens)")
    p.add_argument("--output-tokens", type=int, default=32, help="output length o of the request explained (tokens)")
    p.add_argument("--json", action="store_true", help="print the breakdown as JSON")
