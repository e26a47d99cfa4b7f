"""`helm-efficiency <verb>`: run `helm-efficiency --help` for the verbs, `helm-efficiency VERB --help` for each.

Each verb lives in its own module under cli/verbs/ (`register` its arguments, `run` it); shared
options are in cli/options.py. This module only builds the parser and turns input errors into
exit status 2.
"""

import argparse
import importlib
import os
import sys
from typing import List, Optional

from helm_efficiency.cli.options import RESCORE_PARTIAL_EXIT, Verb  # noqa: F401  (RESCORE_PARTIAL_EXIT: rescore's exit status, for callers)
from helm_efficiency.cli.verbs import VERBS
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.stacks import DEFAULT_TABLE, split_table_names


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; each option's help ends with its default
    (ArgumentDefaultsHelpFormatter's rule), unless the help states it already or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helm-efficiency", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)

    def add(name: str, func: Verb, help_text: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text.split("\n\n")[0], description=help_text.replace("%%", "%"), epilog=f"example:\n  {example}",
                           formatter_class=HelpFormatter)
        p.set_defaults(func=func)
        return p

    for verb in VERBS:
        importlib.import_module(f"helm_efficiency.cli.verbs.{verb}").register(add)
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
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
