"""Speed of the leaderboard's joint draws (report/uncertainty.py) on a large synthetic board.

MODELS models × SCENARIOS scenarios × INSTANCES instances (default 100 × 10 × 1,000), every
model with a 0/1 correctness value, an idealized runtime and an idealized cost per instance, all
on one reference stack with stored 90% intervals. Times `draw` (instance resamples, stack errors,
per-scenario and per-model means, cost per correct answer) and `summarize` (intervals, rank
intervals, Pareto probabilities) for DRAWS draws (default 10,000), best of --repeat, and prints it.

    python bench/leaderboard_uncertainty_speed.py [--draws 10000] [--models 100] [--scenarios 10] [--instances 1000]
"""

import argparse
import os
import time

import numpy as np

from helm_efficiency.report.uncertainty import Board, Measure, Stratum, draw, summarize


def synthetic_board(models: int, scenarios: int, instances: int, seed: int = 0) -> Board:
    rng = np.random.default_rng(seed)
    ability = rng.normal(0, 1, (models, scenarios))
    strata, capability = [], np.zeros((models, scenarios))
    runtime_point = np.zeros((models, scenarios))
    size = np.exp(rng.normal(0, 1, models))[:, None]
    for s in range(scenarios):
        difficulty = rng.normal(0, 1, instances)
        correct = (rng.random((models, instances)) < 1 / (1 + np.exp(difficulty[None, :] - ability[:, s:s + 1]))).astype(float)
        runtime = size * rng.lognormal(0, 0.3, (1, instances))  # seconds per request, one request per instance
        strata.append(Stratum(s, correct, {"idealized_runtime_s": runtime, "idealized_cost_usd": runtime * 1e-3}))
        capability[:, s], runtime_point[:, s] = correct.mean(axis=1), runtime.mean(axis=1)
    sigma = rng.uniform(0.15, 0.4, models)
    shared = np.full(models, 0.12)  # the part of each model's log error its stack shares
    measures = {"idealized_runtime_s": Measure(runtime_point, sigma, sigma, shared),
                "idealized_cost_usd": Measure(runtime_point * 1e-3, sigma, sigma, shared)}
    return Board(capability=capability, used=np.ones((models, scenarios), bool), measures=measures, efficiency="idealized_runtime_s",
                 strata=strata, stack=np.zeros(models, int), correctness=np.ones(scenarios, bool), per_correct=["idealized_cost_usd"],
                 instances=np.full((models, scenarios), float(instances)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    board = synthetic_board(args.models, args.scenarios, args.instances)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = draw(board, draws=args.draws, seed=1)
        drawn = time.perf_counter()
        out = summarize(board, result)
        times.append((time.perf_counter() - start, drawn - start))
    total, drawing = min(times)
    print(f"{args.draws} draws over {args.models} models x {args.scenarios} scenarios x {args.instances} instances "
          f"({os.cpu_count()} CPUs): {total:.2f} s ({drawing:.2f} s drawing, {total - drawing:.2f} s intervals, ranks and Pareto "
          f"probabilities); median capability interval width {np.median(out['capability_hi'] - out['capability_lo']):.3f}")


if __name__ == "__main__":
    main()
