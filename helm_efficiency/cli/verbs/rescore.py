"""`helm-efficiency rescore`: argument parsing and the call into the library."""

import sys
from argparse import Namespace

from helm_efficiency.cli.options import AddVerb, RESCORE_PARTIAL_EXIT, add_efficiency_options, add_local_path_option, efficiency_spec


def run(args: Namespace) -> None:
    from helm_efficiency.rescore import rescore_suite

    summary = rescore_suite(args.suite_dir, spec=efficiency_spec(args, "rescore"), pattern=args.runs, dry_run=args.dry_run, jobs=args.jobs,
                            executor=args.executor, address=args.address, local_path=args.local_path)
    if summary.get("failed"):
        sys.exit(RESCORE_PARTIAL_EXIT)


def register(add: AddVerb) -> None:
    p = add("rescore", run, "Add efficiency stats to the runs of an existing benchmark_output suite, without calling any model. "
            f"Exit status {RESCORE_PARTIAL_EXIT} when some runs could not be read or written (every good run is still written), 2 on bad input.",
            "helm-efficiency rescore benchmark_output/runs/my-suite --table a100 -j 2")
    p.add_argument("suite_dir", help="the suite folder, benchmark_output/runs/SUITE")
    add_efficiency_options(p)
    p.add_argument("--runs", default="*", help="glob over run folder names")
    p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for the per-run phases (local pool, or a Dask LocalCluster)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="where the per-run phases run: local (default) or dask (pip install 'helm-efficiency[dask]')")
    p.add_argument("--address", help="with --executor dask: an existing scheduler, e.g. tcp://scheduler:8786 (default: start a LocalCluster of -j workers)")
    add_local_path_option(p)
