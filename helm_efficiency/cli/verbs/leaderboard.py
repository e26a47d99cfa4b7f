"""`helm-efficiency leaderboard`: argument parsing and the call into the library."""

from argparse import Namespace

from helm_efficiency.cli.options import AddVerb
from helm_efficiency.helm.metric_names import LEADERBOARD_STATS
from helm_efficiency.report.uncertainty import DEFAULT_DRAWS, DEFAULT_SEED


def run(args: Namespace) -> None:
    from helm_efficiency.report.leaderboard import write_leaderboard

    write_leaderboard(args.source, args.output_dir, metric=args.metric, efficiency=args.efficiency,
                      common_scenarios=args.common_scenarios, allow_mixed_stacks=args.allow_mixed_stacks,
                      schema=args.schema, seed=args.seed, draws=args.draws, write_stats=args.write_stats)


def register(add: AddVerb) -> None:
    p = add("leaderboard", run, "Capability vs efficiency: table (CSV, Markdown, HTML), Pareto flags, ranks and PNG plots.",
            "helm-efficiency leaderboard benchmark_output/runs/demo -o leaderboard/")
    p.add_argument("source", help="a suite folder (benchmark_output/runs/SUITE), or a HELM 2022 runtimes-and-accuracies CSV (github.com/stanford-crfm/helm-efficiency)")
    p.add_argument("-o", "--output-dir", required=True, help="folder for leaderboard.{csv,md,html} and the PNGs")
    p.add_argument("--metric", default="auto", help="capability stat; auto (default): each run group's main metric from HELM's schema "
                   "(F1 for QA, quasi-exact match for classification, ...), combined by mean win rate when they differ; a metric the schema "
                   "marks lower_is_better (toxic_frac, say) ranks lower values first")
    p.add_argument("--efficiency", default="idealized", choices=[s.leaderboard for s in LEADERBOARD_STATS],
                   help="the measure Pareto flags and the plots use (default: idealized runtime)")
    p.add_argument("--common-scenarios", action="store_true", help="average every model over only the scenarios all models have")
    p.add_argument("--schema", action="append", help="a HELM schema YAML whose run groups give each run's main metric and whose "
                   "metrics give each metric's direction (repeatable; "
                   "default: every schema_*.yaml in the suite folder and its benchmark_output, then every schema HELM ships)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the joint draws behind the intervals (default {DEFAULT_SEED}: "
                   "the same inputs and seed give the same numbers)")
    p.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help=f"joint draws (instance resamples and stack errors; default {DEFAULT_DRAWS})")
    p.add_argument("--write-stats", action="store_true", help="also write each scenario's capability interval, rank interval, Pareto "
                   "probability and cost per correct answer into its runs' stats.json, for helm-summarize and helm-server")
    p.add_argument("--allow-mixed-stacks", action="store_true",
                   help="rank idealized numbers from different reference stacks together (every output then says so)")
