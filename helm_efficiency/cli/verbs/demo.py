"""`helm-efficiency demo`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.demo import format_demo_table, run_demo

    table = run_demo(args.output_path, args.max_eval_instances, args.suite)
    print()
    print("Per model: exact_match and seconds per request, averaged over the scenarios listed (those where the model has both;\n"
          "random-weight models, so accuracy is ~0). Idealized = shipped CPU reference table (profiled with `helm-efficiency profile`, batch 1).")
    print(format_demo_table(table))
    if table["note"].astype(str).str.contains("BUSY MACHINE").any():
        print("\nWARNING: other processes kept this machine busy while some runs were timed (see the notes): their raw and denoised\n"
              "runtimes are inflated. Rerun `helm-efficiency demo` on a quiet machine for numbers you can compare.")
    print(f"\nSuite written to {args.output_path}/runs/{args.suite}. Next, offline (the models are registered in prod_env/):\n"
          f"  helm-efficiency schema -o schema_efficiency.yaml && helm-summarize --suite {args.suite} -o {args.output_path} "
          f"--schema-path schema_efficiency.yaml && helm-server --suite {args.suite} -o {args.output_path}\n"
          f"    (each scenario's page shows our columns after accuracy: raw, denoised, idealized runtime with its interval, energy, cost;\n"
          f"     plain `helm-summarize --suite {args.suite}` also works: HELM's own denoised/idealized columns carry our numbers)\n"
          f"  helm-efficiency leaderboard {args.output_path}/runs/{args.suite} -o leaderboard/")


def register(add: AddVerb) -> None:
    p = add("demo", run, "Run an offline helm-run with the plugin on random-weight local models and print the efficiency table.",
            "helm-efficiency demo --max-eval-instances 20")
    p.add_argument("--output-path", default="benchmark_output", help="helm-run's --output-path: the suite goes to OUTPUT_PATH/runs/SUITE, the models to OUTPUT_PATH/demo_models")
    p.add_argument("--suite", default="demo", help="helm-run's --suite")
    p.add_argument("--max-eval-instances", type=int, default=20, help="instances per run entry (helm-run's --max-eval-instances)")
