"""Options and argument types shared by several verbs (one definition each)."""

import argparse
from typing import TYPE_CHECKING, Callable, List

from helm_efficiency.errors import EfficiencyInputError

if TYPE_CHECKING:
    from helm_efficiency.pricing.spec import EfficiencySpec
    from helm_efficiency.tables.sla import Sla

Verb = Callable[[argparse.Namespace], None]  # a verb module's `run`
AddVerb = Callable[[str, Verb, str, str], argparse.ArgumentParser]  # build_parser's `add`: name, run, help text, example

# rescore's exit status when some runs could not be read or written (every good run was written).
RESCORE_PARTIAL_EXIT = 3


def _csv_ints(text: str) -> List[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _positive_float(text: str) -> float:
    """argparse type: a finite number above zero (a negative power or price makes no sense)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} must be a positive, finite number")
    return value


def add_table_option(p: argparse.ArgumentParser) -> None:
    from helm_efficiency.stacks import DEFAULT_TABLE, HELM_TABLE, SHIPPED_TABLES

    p.add_argument("--table", action="append", help=f"a shipped table ({', '.join(SHIPPED_TABLES + (HELM_TABLE,))}) or a JSON path; "
                   f"repeat, or join with '+', to search several in order (default: {DEFAULT_TABLE})")


def add_sla_option(p: argparse.ArgumentParser) -> None:
    from helm_efficiency.tables.sla import parse_sla

    p.add_argument("--sla", type=_sla_type(parse_sla), help="latency target for the served numbers, e.g. tpot=50ms,ttft=2s (the default); add batch=N to cap the requests in flight per replica")


def _sla_type(parse: Callable[[str], "Sla"]) -> Callable[[str], "Sla"]:
    def parse_or_usage(text: str) -> "Sla":
        try:
            return parse(text)
        except EfficiencyInputError as e:
            raise argparse.ArgumentTypeError(str(e))

    return parse_or_usage


def add_efficiency_options(p: argparse.ArgumentParser) -> None:
    """The options of pricing/spec.EfficiencySpec, the same for every verb that prices requests
    (estimate, rescore) and named like the live metric's arguments: --table, --served-stack,
    --power-w, --usd-per-gpu-hour, --quantile, --sla."""
    from helm_efficiency.stacks import SIMULATED_TABLES

    add_table_option(p)
    p.add_argument("--served-stack", help=f"the stack whose served table prices the served numbers ({', '.join(SIMULATED_TABLES)}; "
                   "default: the first --table's)")
    p.add_argument("--power-w", type=_positive_float, help="per-GPU power (W, both phases), overriding the hardware's documented "
                   "assumption (default: analytic/hardware.json's, per phase)")
    p.add_argument("--usd-per-gpu-hour", type=_positive_float, help="per-GPU-hour price (USD), overriding the hardware's "
                   "documented assumption (default: analytic/hardware.json's)")
    p.add_argument("--quantile", type=float, help="the denoising lower envelope's quantile, strictly between 0 and 1 (default: "
                   "automatic, 10/n within [0.02, 0.1]); requests without timings (estimate's CSV) are not denoised")
    add_sla_option(p)


def efficiency_spec(args: argparse.Namespace, verb: str) -> "EfficiencySpec":
    """The EfficiencySpec of a verb's parsed options (add_efficiency_options), validated once;
    an error names the option."""
    from helm_efficiency.pricing.spec import EfficiencySpec

    return EfficiencySpec.build(tables=args.table, served_stack=args.served_stack, power_w=args.power_w, usd_per_gpu_hour=args.usd_per_gpu_hour,
                                quantile=args.quantile, sla=args.sla, source=f"helm-efficiency {verb}", cli=True)


def add_local_path_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local-path", default="prod_env", help="the suite's prod_env folder, as helm-run's --local-path: its "
                   "model_deployments.yaml and model_metadata.yaml resolve custom deployments to their models (default: prod_env, "
                   "next to where you run; ignored if absent)")


def add_model_source(p: argparse.ArgumentParser) -> None:
    """--config or --arch: where the verbs that build or simulate a model get its architecture."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a Hugging Face config.json (must have model_type)")
    source.add_argument("--arch", help="a registry, HELM or Hugging Face name, e.g. meta/llama-3.1-8b (see `helm-efficiency registry`)")
