"""Cold start of `helm-efficiency estimate` on a one-row requests CSV, against Python's own start.

    python bench/estimate_startup.py [--repeats 5] [--table h100-trtllm]

Each repeat is a fresh process (the OS file cache stays warm after the first). Baselines measured
in the same run: `python -c pass` (interpreter start) and `python -c "import pandas"` (the floor
for any pandas tool). Target (issue #35): at most 2x `import pandas` measured in the same run.
The first run on a machine parses HELM's catalog YAML and caches it (helm_io/catalog.cache_dir);
the warm-up run below pays that, as a user's first call does.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def wall_seconds(command, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--table", default="h100-trtllm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        requests = os.path.join(tmp, "one.csv")
        with open(requests, "w") as f:
            f.write("model,num_prompt_tokens,num_output_tokens\nmeta/llama-3.1-8b,512,64\n")
        estimate = [sys.executable, "-m", "helm_efficiency.cli", "estimate", requests, "--table", args.table, "-o", os.path.join(tmp, "out.csv")]
        subprocess.run(estimate, check=True, stdout=subprocess.DEVNULL)  # warm the file cache
        results = {
            "python -c pass": wall_seconds([sys.executable, "-c", "pass"], args.repeats),
            "python -c 'import pandas'": wall_seconds([sys.executable, "-c", "import pandas"], args.repeats),
            f"estimate, one row, --table {args.table}": wall_seconds(estimate, args.repeats),
        }
    base = results["python -c 'import pandas'"]
    for name, seconds in results.items():
        print(f"{name:45s} {seconds:6.2f} s  ({seconds / base:.1f}x import pandas)")
    total = results[f"estimate, one row, --table {args.table}"]
    ratio = total / base
    print(f"\ntarget <= 2x import pandas: {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x, {total:.2f} s, median of {args.repeats})")


if __name__ == "__main__":
    main()
