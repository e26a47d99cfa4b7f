"""Hashes of every file a rescore leaves in each wild suite (tests/data/wild), to check that a
change to rescore's reading, aggregation or writing keeps its outputs byte for byte.

    python tests/rescore_golden.py              # compare with tests/data/wild/rescore_golden.json
    python tests/rescore_golden.py --update     # record (run on the code whose outputs are the reference)
    python tests/rescore_golden.py --suite DIR [--local-path P] [--out hashes.json]   # any suite (the demo's)

tests/test_rescore_golden.py runs the comparison. Each wild suite is rescored twice on a copy:
in full (default stack), then `--runs` on one run (the partial path that keeps the other runs'
rows of the suite's requests CSV), hashing every file after each.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
WILD = os.path.join(HERE, "data", "wild")
GOLDEN = os.path.join(WILD, "rescore_golden.json")


def file_hashes(root: str, tmp: str) -> Dict[str, str]:
    """{path relative to root: sha256} of every file under root, the temporary folder's own
    path (a --local-path recorded in efficiency_metadata.json) replaced by `<tmp>`."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read().replace(tmp.encode(), b"<tmp>")
            out[os.path.relpath(path, root)] = hashlib.sha256(data).hexdigest()
    return dict(sorted(out.items()))


def rescore_hashes(suite_dir: str, local_path: Optional[str], tmp: str) -> Dict[str, Dict[str, str]]:
    """Rescore `suite_dir` in place, in full and then one run alone: file hashes after each."""
    from helm_efficiency.rescore import rescore_suite
    from helm_efficiency.helm_io.runs import list_run_dirs

    out = {}
    rescore_suite(suite_dir, local_path=local_path, progress=False)
    out["full"] = file_hashes(suite_dir, tmp)
    first = os.path.basename(list_run_dirs(suite_dir)[0])
    rescore_suite(suite_dir, pattern=first, local_path=local_path, progress=False)
    out["partial"] = file_hashes(suite_dir, tmp)
    return out


def synthetic_suite(suite_dir: str) -> None:
    """bench/rescore_speed.py's suite, small: 3 runs × 200 requests of a model priced on every
    number (the wild suites are mostly API models, left unpriced), and 2 runs with its variety
    (several requests per instance, perturbations, two trials, sub-splits, failed and untimed
    requests, instances HELM's per-instance file lacks)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rescore_speed", os.path.join(HERE, "..", "bench", "rescore_speed.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.synth_suite(suite_dir, runs=3, requests=200, distinct=3)
    bench.synth_suite(os.path.join(suite_dir, "..", "variety"), runs=2, requests=150, distinct=2, variety=True)
    for name in os.listdir(os.path.join(suite_dir, "..", "variety")):
        os.rename(os.path.join(suite_dir, "..", "variety", name), os.path.join(suite_dir, f"variety_{name}"))


SYNTHETIC = {"name": "bench_synthetic", "suite_dir": "bench_synthetic/runs/bench", "local_path": None}
SUITES = json.load(open(os.path.join(WILD, "suites.json"))) + [SYNTHETIC]
NAMES = [s["name"] for s in SUITES]


def wild_hashes(names=None) -> Dict[str, Dict[str, Dict[str, str]]]:
    """rescore_hashes of each wild suite and the synthetic one (or those named), each on a fresh copy."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="rescore-golden-") as tmp:
        for suite in SUITES:
            if names and suite["name"] not in names:
                continue
            if suite is SYNTHETIC:
                synthetic_suite(os.path.join(tmp, suite["suite_dir"]))
            else:
                shutil.copytree(os.path.join(WILD, suite["name"]), os.path.join(tmp, suite["name"]))
            local = os.path.join(tmp, suite["local_path"]) if suite["local_path"] else None
            out[suite["name"]] = rescore_hashes(os.path.join(tmp, suite["suite_dir"]), local, tmp)
    return out


def differences(expected: dict, actual: dict, where: str = "") -> list:
    """Paths (suite/pass/file) whose hash differs, is missing, or is new."""
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return [] if expected == actual else [where]
    return [d for key in sorted(set(expected) | set(actual))
            for d in differences(expected.get(key), actual.get(key), f"{where}/{key}" if where else key)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help=f"write {os.path.relpath(GOLDEN)}")
    parser.add_argument("--suite", help="rescore a copy of this suite folder instead of the wild suites")
    parser.add_argument("--local-path", help="with --suite: its prod_env folder")
    parser.add_argument("--out", help="with --suite: write its hashes here, or compare with them if the file exists")
    args = parser.parse_args()
    if args.suite:
        with tempfile.TemporaryDirectory(prefix="rescore-golden-") as tmp:
            copy = os.path.join(tmp, "suite")
            shutil.copytree(args.suite, copy)
            actual = rescore_hashes(copy, args.local_path, tmp)
        if args.out and os.path.exists(args.out):
            diff = differences(json.load(open(args.out)), actual)
            print("\n".join(diff) or f"identical to {args.out}")
            return 1 if diff else 0
        if args.out:
            json.dump(actual, open(args.out, "w"), indent=1)
            print(f"wrote {args.out}")
        return 0
    actual = wild_hashes()
    if args.update:
        with open(GOLDEN, "w") as f:
            json.dump(actual, f, indent=1)
            f.write("\n")
        print(f"wrote {GOLDEN}")
        return 0
    diff = differences(json.load(open(GOLDEN)), actual)
    print("\n".join(diff) or "identical")
    return 1 if diff else 0


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    sys.exit(main())
