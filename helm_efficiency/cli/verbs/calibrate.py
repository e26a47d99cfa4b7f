"""`helm-efficiency calibrate`: argument parsing and the call into the library."""

from argparse import Namespace
from typing import TYPE_CHECKING, cast

from helm_efficiency.cli.options import AddVerb

if TYPE_CHECKING:
    from helm_efficiency.tables.cost_table import CostEntry


def run(args: Namespace) -> None:
    from helm_efficiency.costmodel.measurements import read_csv
    from helm_efficiency.tables.calibrate import calibrate_table

    aliases = {}
    if args.aliases:
        from helm_efficiency.helm_io.runs import read_json

        aliases = read_json(args.aliases)
    import pandas as pd

    measurements = pd.concat([read_csv(path) for path in args.measurements], ignore_index=True)
    table = calibrate_table(measurements, name=args.name or args.output, source=" ".join(args.measurements), form=args.form, aliases=aliases)
    table.save(args.output)
    for entry in table.entries:
        fit = cast("CostEntry", entry).fit_summary()  # calibrate_table makes calibrated entries only
        stats = "; ".join(f"batch {b}: form {s['form']}, n={s['n']}, R²={s['rsquared']:.4f}" for b, s in fit.items())
        print(f"{entry.model}@{entry.hardware}: {stats}")
    print(f"wrote {args.output}")


def register(add: AddVerb) -> None:
    p = add("calibrate", run, "Fit a CostTable (one entry per model and hardware) from a measurements CSV.\n\n"
            "Required columns: model, hardware, num_prompt_tokens, num_output_tokens, runtime_s (seconds per request). Optional: "
            "runtime_std_s, batch_size, num_gpus, dtype, software, source, provenance_*, and architecture columns (num_layers, "
            "hidden_size, num_attention_heads, num_kv_heads, intermediate_size, vocab_size, tensor_parallel, ...).",
            "helm-efficiency calibrate a100.csv -o a100.json --aliases aliases.json")
    p.add_argument("measurements", nargs="+", help="one or more measurements CSVs (columns above)")
    p.add_argument("-o", "--output", required=True, help="the CostTable JSON to write")
    p.add_argument("--form", default="auto", help="auto (paper_context where the points identify it, else paper, else long_context), cv (chosen by cross-validation), paper, paper_context or long_context")
    p.add_argument("--aliases", help="JSON {HELM model or deployment name: table model name}")
    p.add_argument("--name", help="table name (default: the output path)")
