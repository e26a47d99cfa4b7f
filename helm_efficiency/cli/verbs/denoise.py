"""`helm-efficiency denoise`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb


def run(args: Namespace) -> None:
    from helm_efficiency.denoise.timings_csv import denoise_csv

    denoise_csv(args.timings, args.output, args.fit_out, args.quantile)


def register(add: AddVerb) -> None:
    p = add("denoise", run, "Fit a lower envelope per model to request timings and add denoised_runtime_s to every row.\n\n"
            "Required columns: model, num_prompt_tokens, num_output_tokens, runtime_s (or rescore's efficiency_requests.csv, with "
            "model_deployment and raw_runtime_s). Optional: request_datetime (for the cold start), success, cached, status.",
            "helm-efficiency denoise timings.csv -o denoised.csv --fit-out fit.json")
    p.add_argument("timings", help="timings CSV (columns above)")
    p.add_argument("-o", "--output", required=True, help="CSV to write: every input row, in order, with denoised_runtime_s, used_in_fit, excluded_reason and fit_quality added")
    p.add_argument("--fit-out", help="also write the fit per deployment as JSON: parameters with 90%% intervals, implied time to first token and per output token, requests used (default: not written)")
    p.add_argument("--quantile", type=float, default=None, help="envelope quantile (default: automatic, 10/n within [0.02, 0.1])")
