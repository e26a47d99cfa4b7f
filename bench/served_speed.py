"""How long served pricing takes, and what the band at a latency target costs on top of the point.

    python bench/served_speed.py [--requests 20000] [--stack h100-trtllm] [--repeats 3]

Prices `--requests` requests of random shapes (prompt 50–4,000, output 1–1,000 tokens; seed 0)
over five registry models with `served_estimates` (the point and its band: three targets per
model), and, in the same run, the point alone (one target per model, the same internal path).
Prints the best of `--repeats` for each and their ratio. Then, in the same run, the same requests
priced for models the simulator refuses or knows only by size (TRANSFERRED: each priced from two
simulated neighbours, tables/served_transfer.py), against the simulated models' time.
"""

import argparse
import time
import warnings

import numpy as np

MODELS = ("meta/llama-3.1-8b", "meta/llama-3.1-70b", "mistralai/mistral-7b-v0.1", "qwen/qwen2.5-7b", "google/gemma-2-9b")
# refused by h100-trtllm's simulator (transfer, dense and MoE), or known only by size (dense, MoE)
TRANSFERRED = ("databricks/dbrx-instruct", "openai/gpt-oss-120b", "mistralai/ministral-8b-2512", "qwen/qwen3-next-80b-a3b-instruct", "ai21/jamba-1.5-mini")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="requests to price (default 20000)")
    parser.add_argument("--stack", default="h100-trtllm", help="served stack (default h100-trtllm)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is printed (default 3)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from helm_efficiency.tables.served import DEFAULT_SLA, _ModelPoints, _priced_by_shape, load_served_table, served_estimates

    rng = np.random.default_rng(0)
    names = [MODELS[i % len(MODELS)] for i in range(args.requests)]
    p = rng.integers(50, 4000, args.requests).astype(float)
    o = rng.integers(1, 1000, args.requests).astype(float)
    table = load_served_table(args.stack)
    served_estimates(names[:10], p[:10], o[:10], stack=args.stack)  # tables and fits loaded before timing

    def point_only() -> None:
        model = np.array(names)
        for m in MODELS:
            rows = np.flatnonzero(model == m)
            _priced_by_shape(_ModelPoints(table, m, DEFAULT_SLA), p[rows], o[rows])

    point = best_of(args.repeats, point_only)
    full = best_of(args.repeats, lambda: served_estimates(names, p, o, stack=args.stack))
    print(f"{args.requests} requests over {len(MODELS)} models on {args.stack} (best of {args.repeats}): point alone {point:.3f} s, "
          f"served_estimates with its band {full:.3f} s: {full / point:.2f}x")
    others = [TRANSFERRED[i % len(TRANSFERRED)] for i in range(args.requests)]
    served_estimates(others[:10], p[:10], o[:10], stack=args.stack)
    moved = best_of(args.repeats, lambda: served_estimates(others, p, o, stack=args.stack))
    print(f"the same requests over {len(TRANSFERRED)} transferred or size-only models: {moved:.3f} s, {moved / full:.2f}x the simulated models'")


if __name__ == "__main__":
    main()
