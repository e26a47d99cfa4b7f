"""Coverage and calibration of the leaderboard's uncertainty on simulated leaderboards with known truth.

Uses the simulation of tests/test_leaderboard_uncertainty.py (`simulate`: 10 models, paired
instances, log-normal costs on two stacks with a shared error). For each setting, REPLICATIONS
boards with DRAWS draws each; prints how often the 90% capability, efficiency and rank intervals
hold the truth, and, for models given a Pareto probability in a band, how often they are on the
true frontier.

    python bench/leaderboard_uncertainty_calibration.py [--replications 300] [--draws 500]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from test_leaderboard_uncertainty import simulate  # noqa: E402  (the test's own simulation)

from helm_efficiency.report.uncertainty import draw, min_ranks, pareto_front, summarize  # noqa: E402

SETTINGS = [  # (label, simulate's keyword arguments)
    ("spread-out board, 4 scenarios x 200 instances", dict(spread=1.0)),
    ("crowded board, 4 x 200 instances [the test's]", dict(spread=0.35)),
    ("very crowded board, 4 x 200 instances", dict(spread=0.25)),
    ("crowded board, costs rising with capability (trend 1, scatter 0.3)", dict(spread=0.35, trend=1.0, scatter=0.3)),
    ("one scenario of 10 instances", dict(scenarios=1, instances=10, spread=1.0)),
    ("one scenario of 20 instances", dict(scenarios=1, instances=20, spread=1.0)),
    ("one scenario of 30 instances", dict(scenarios=1, instances=30, spread=1.0)),
    ("one scenario of 50 instances", dict(scenarios=1, instances=50, spread=1.0)),
]


def evaluate(replications: int, draws: int, **kwargs) -> dict:
    rng = np.random.default_rng(2024)
    hold = {"capability": [], "efficiency": [], "capability rank": [], "efficiency rank": []}
    probability, on_front, span, gap = [], [], [], []
    for replication in range(replications):
        board, truth, cost = simulate(rng, **kwargs)
        span.append(truth.max() - truth.min())
        gap.append(np.median(np.diff(np.sort(truth))))
        out = summarize(board, draw(board, draws=draws, seed=replication))
        rank, cost_rank = min_ranks(truth), min_ranks(cost, higher_is_better=False)
        hold["capability"] += list((out["capability_lo"] <= truth) & (truth <= out["capability_hi"]))
        hold["efficiency"] += list((out["efficiency_lo"] <= cost) & (cost <= out["efficiency_hi"]))
        hold["capability rank"] += list((out["capability_rank_lo"] <= rank) & (rank <= out["capability_rank_hi"]))
        hold["efficiency rank"] += list((out["efficiency_rank_lo"] <= cost_rank) & (cost_rank <= out["efficiency_rank_hi"]))
        probability += list(out["pareto_probability"])
        on_front += list(pareto_front(truth, cost))
    probability, on_front = np.array(probability), np.array(on_front)
    bands = []
    for lo, hi in ((0.05, 0.35), (0.35, 0.65), (0.65, 0.95)):
        given = (probability >= lo) & (probability < hi)
        bands.append((lo, hi, int(given.sum()), probability[given].mean(), on_front[given].mean()))
    return {"hold": {k: float(np.mean(v)) for k, v in hold.items()}, "bands": bands, "span": np.mean(span), "gap": np.median(gap)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=int, default=300)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    print(f"{args.replications} boards of 10 models per setting, {args.draws} draws each; share of 90% intervals holding the truth")
    print("| setting | true capabilities: span, median gap | capability | capability rank | efficiency | efficiency rank | "
          "P(front) given → share on the true front |")
    print("|---|---|---|---|---|---|---|")
    for label, kwargs in SETTINGS:
        start = time.perf_counter()
        result = evaluate(args.replications, args.draws, **kwargs)
        h = result["hold"]
        bands = "; ".join(f"{p:.2f} → {f:.2f} (n={n})" for _, _, n, p, f in result["bands"])
        print(f"| {label} | {result['span']:.2f}, {result['gap']:.3f} | {h['capability']:.3f} | {h['capability rank']:.3f} | {h['efficiency']:.3f} | {h['efficiency rank']:.3f} | "
              f"{bands} |", flush=True)
        print(f"  ({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
