"""`helm-efficiency import-megatron`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.sources.megatron import import_megatron_logs

    df = import_megatron_logs(args.logs)
    df.to_csv(args.output, index=False)
    print(f"wrote {len(df)} measurements of {df['model'].nunique()} models to {args.output}")


def register(add: AddVerb) -> None:
    p = add("import-megatron", run, "Turn Megatron-LM profiling logs into a measurements CSV (architecture columns included).",
            "helm-efficiency import-megatron tests/data/reference_profiles/a100/*.log -o a100.csv")
    p.add_argument("logs", nargs="+", help="Megatron-LM profiling logs (one model each; the folder name, e.g. a100/, is the hardware)")
    p.add_argument("-o", "--output", required=True, help="measurements CSV to write")
