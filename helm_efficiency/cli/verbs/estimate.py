"""`helm-efficiency estimate`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, add_efficiency_options, efficiency_spec


def run(args: Namespace) -> None:
    from helm_efficiency.helm_io.catalog import Catalog
    from helm_efficiency.pricing.estimate_csv import estimate_csv

    estimate_csv(args.requests, args.output, spec=efficiency_spec(args, "estimate"), catalog=Catalog())


def register(add: AddVerb) -> None:
    p = add("estimate", run, "Add idealized runtime (90%% interval), method, energy and cost, and the served (batched, --sla) GPU time, cost and energy, to a requests CSV.\n\n"
            "Required columns: model (a HELM, registry or table name), num_prompt_tokens, num_output_tokens. Optional: hardware "
            "(picks the table whose entries are on it), and architecture columns (num_layers, hidden_size, num_attention_heads, "
            "intermediate_size, tensor_parallel, ...) that override the registry's and are estimated apart, and media_kind, num_media "
            "(a request's images, audio or video, as rescore's efficiency_requests.csv writes them: priced with them where the "
            "registry states the model's image rule, else not at all, with a reason; see docs/media.md).",
            "helm-efficiency estimate --table a100 requests.csv -o estimates.csv")
    p.add_argument("requests", help="requests CSV (columns above)")
    p.add_argument("-o", "--output", required=True, help="estimates CSV to write: the input rows with idealized runtime, its 90%% interval, energy, cost, served columns and method")
    add_efficiency_options(p)
