"""Rebuild every shipped data file, in order, with one command, and check it byte-identical.

    python -m helm_efficiency.builders.rebuild --list              # the steps, in order
    python -m helm_efficiency.builders.rebuild -j 2 --check        # all of them; exit 1 if any shipped byte changed
    python -m helm_efficiency.builders.rebuild --only fits --check # some of them

Run from the repository's root (the Megatron step reads tests/data/reference_profiles) with the
`build` extra installed (the simulator). Each step is its own module's command, run as a
subprocess (with `util/reproducible.py`'s floating-point settings, so that the bytes do not
depend on the CPU's vector extensions), so this file holds only the order. The batch-1 simulated step takes hours on 2 cores, the served step 57 minutes with -j 2; each
caches by shape, so a rerun simulates only what changed. Not rebuilt: `cpu.json`, which is timed
on a machine (`python -m helm_efficiency.builders.cpu`), so its bytes are that machine's.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from helm_efficiency.util.data_paths import PACKAGE_DIR as PACKAGE, SHIPPED_DATA  # every shipped file a step writes
from helm_efficiency.util.reproducible import environment


def steps(jobs: int) -> List[Tuple[str, List[str], str]]:
    """(name, module and arguments, what it writes), in the order that each step reads only what
    an earlier one wrote."""
    j = ["-j", str(jobs)]
    return [
        ("megatron", ["helm_efficiency.builders.megatron", "--profiles", os.path.join("tests", "data", "reference_profiles")],
         "tables/data/a100.json, v100.json (the paper's Megatron-LM profiles)"),
        ("batch1-power", ["helm_efficiency.sources.power", "--write"], "analytic/hardware.json batch-1 powers (measured rows)"),
        ("anchor-rows", ["helm_efficiency.sources.anchor", "--simulate", *j], "sources/measured/simulated/ (measured rows, simulated)"),
        ("anchor-fit", ["helm_efficiency.sources.anchor", "--fit"], "tables/data/anchor_correction.json"),
        ("simulated", ["helm_efficiency.builders.simulated", *j], "tables/data/<stack>.json (simulated, then anchored)"),
        ("anchored", ["helm_efficiency.builders.anchored"],
         "tables/data/<stack>.json re-anchored from their stored simulated points (seconds; after a refit without the simulated step)"),
        ("served-rows", ["helm_efficiency.sources.served_anchor", "--simulate", *j], "sources/measured_served/simulated/"),
        ("served-fit", ["helm_efficiency.sources.served_correction", "--fit"], "tables/data/served/served_correction.json"),
        ("served", ["helm_efficiency.builders.served", *j, "--no-progress"], "tables/data/served/<stack>.zip"),
        ("served-transfer", ["helm_efficiency.builders.served_transfer"], "tables/data/served/served_transfer.json"),
        ("fits", ["helm_efficiency.builders.fits"], "tables/data/fits/<table>.json.gz (every shipped table's stored fits)"),
    ]


def digests() -> Dict[str, str]:
    """{path relative to the package: SHA-256} of every shipped data file."""
    out = {}
    for path in SHIPPED_DATA:
        files = [path] if os.path.isfile(path) else [os.path.join(r, n) for r, _, names in os.walk(path) for n in names]
        for file in files:
            with open(file, "rb") as f:
                out[os.path.relpath(file, PACKAGE)] = hashlib.sha256(f.read()).hexdigest()
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes for the simulating steps")
    parser.add_argument("--only", action="append", help="run only these steps (repeatable; see --list)")
    parser.add_argument("--list", action="store_true", help="print the steps in order and exit")
    parser.add_argument("--check", action="store_true", help="exit 1, naming the files, if any shipped byte changed")
    args = parser.parse_args(argv)
    plan = steps(args.jobs)
    names = [name for name, _, _ in plan]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"unknown step(s) {unknown}; the steps are {names}")
    if args.list:
        for i, (name, command, writes) in enumerate(plan, 1):
            print(f"{i}. {name:13s} python -m {' '.join(command)}\n   writes {writes}")
        return
    before = digests()
    for name, command, _ in plan:
        if args.only and name not in args.only:
            continue
        print(f"== {name}: python -m {' '.join(command)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", *command], env=environment())  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
        if done.returncode != 0:
            sys.exit(f"step {name} failed with exit status {done.returncode}; later steps not run")
        print(f"== {name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    if args.check:
        after = digests()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            sys.exit("not byte-identical: " + ", ".join(changed))
        print(f"byte-identical: {len(after)} shipped data files unchanged")


if __name__ == "__main__":
    main()
