"""`helm-efficiency leaderboard`: argument parsing and the call into the library."""

from helm_efficiency.cli.options import add_local_path_option
from helm_efficiency.helm.metric_names import LEADERBOARD_STATS


def run(args) -> None:
    from helm_efficiency.report.leaderboard import write_leaderboard

    write_leaderboard(args.source, args.output_dir, metric=args.metric, efficiency=args.efficiency,
                      common_scenarios=args.common_scenarios, allow_mixed_stacks=args.allow_mixed_stacks,
                      local_path=args.local_path, schema=args.schema)


def register(add) -> None:
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
    add_local_path_option(p)
    p.add_argument("--allow-mixed-stacks", action="store_true",
                   help="rank idealized numbers from different reference stacks together (every output then says so)")
