"""`helm-efficiency schema`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.helm.schema import write_schema

    write_schema(args.output, args.base)


def register(add: AddVerb) -> None:
    p = add("schema", run, "Write a helm-summarize schema: HELM's schema plus an efficiency_plugin metric group with our stats.",
            "helm-efficiency schema -o schema_efficiency.yaml && helm-summarize --suite my-suite --schema-path schema_efficiency.yaml")
    p.add_argument("-o", "--output", required=True, help="schema YAML to write (pass it to helm-summarize --schema-path)")
    p.add_argument("--base", help="schema to extend: a YAML file, or the name of one HELM ships (classic, lite, safety, medhelm, capabilities, ...; default: classic)")
