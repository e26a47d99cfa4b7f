"""How repeatable is a fixed workload's runtime on this machine, with nothing else running?

Times one fixed CPU workload (matrix products with torch, about 0.05–0.1 s) again and again,
after random pauses like the contention bench's quiet slices, and prints the spread of those
runtimes around their fastest-half mean (the profiler's truth) and around their median.
A denoiser can only be checked against a quiet truth to within this machine's own spread:
if a plain loop already moves ±20% between repeats, a 5% target cannot be resolved here.

    python bench/timing_noise.py [--repeats 80] [--threads 1] [--mean-gap-s 0.3]
"""

import argparse
import random
import time

import numpy as np

from helm_efficiency.profiling.profiler import robust_mean_std


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--mean-gap-s", type=float, default=0.3, help="mean random pause before each repeat (0: back to back)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    matrix = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    rng = random.Random(0)
    runtimes = []
    for _ in range(3 + args.repeats):
        if args.mean_gap_s > 0:
            time.sleep(rng.expovariate(1.0 / args.mean_gap_s))
        started = time.perf_counter()
        for _ in range(20):
            matrix @ matrix
        runtimes.append(time.perf_counter() - started)
    runtimes = np.array(runtimes[3:])  # the first three warm up
    truth, median = robust_mean_std(runtimes)[0], float(np.median(runtimes))
    print(f"{args.repeats} repeats of one fixed workload, {args.threads} thread(s), mean pause {args.mean_gap_s} s; "
          f"fastest-half mean {truth * 1000:.1f} ms, median {median * 1000:.1f} ms")
    for name, base in (("fastest-half mean", truth), ("median", median)):
        p = np.percentile(runtimes / base - 1, [5, 10, 25, 50, 75, 90, 95]) * 100
        print(f"runtime / {name} − 1 (%): p5 {p[0]:+.1f}  p10 {p[1]:+.1f}  p25 {p[2]:+.1f}  p50 {p[3]:+.1f}  "
              f"p75 {p[4]:+.1f}  p90 {p[5]:+.1f}  p95 {p[6]:+.1f}")
    lo, hi = np.percentile(runtimes / truth - 1, [10, 90]) * 100
    print(f"p10–p90 spread is {hi - lo:.1f} points, {(hi - lo) / 5:.1f}x a 5% target")


if __name__ == "__main__":
    main()
