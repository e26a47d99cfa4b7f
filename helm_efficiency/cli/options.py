"""Options and argument types shared by several verbs (one definition each)."""

import argparse
from typing import List

from helm_efficiency.errors import EfficiencyInputError

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
