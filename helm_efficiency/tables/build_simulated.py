"""Rebuild the shipped modern reference tables (h100-trtllm, h100-vllm, h200-trtllm, a100-trtllm,
a100-vllm) from AIConfigurator's measured-kernel simulation of every registry architecture.

    python -m helm_efficiency.tables.build_simulated            # all five stacks
    python -m helm_efficiency.tables.build_simulated --stack h100-trtllm -j 2

Each model is tabulated at the 24-point calibration grid (6 prompt x 4 output lengths, batch 1,
bf16, TP = the smallest power of two that holds the weights) and calibrated like any profile.
A model the simulator does not model on a stack is listed in the table's `not_tabulated` with the
simulator's reason; estimation then falls back to transfer on the same stack.
"""

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Optional, Sequence

from helm_efficiency.analytic.registry import load_registry
from helm_efficiency.sources.aiconfigurator import CALIBRATION_OUTPUT_TOKENS, CALIBRATION_PROMPT_TOKENS, STACKS, tabulate_many
from helm_efficiency.tables.build import DATA_DIR
from helm_efficiency.tables.calibrate import calibrate_table

CREDIT = "NVIDIA AIConfigurator (aiconfigurator-core, Apache-2.0) measured-kernel simulation, static batch 1"


def build_stack(stack_name: str, out_dir: str = DATA_DIR, models: Optional[Sequence[str]] = None, progress: bool = True) -> str:
    """Tabulate, calibrate and save one stack's table; returns a one-line summary."""
    registry = load_registry()
    keys = [k for k in sorted(registry) if not k.startswith("test/") and (not models or k in models)]
    reference = STACKS[stack_name]
    jobs = [(registry[k]["config"], k, reference, CALIBRATION_PROMPT_TOKENS, CALIBRATION_OUTPUT_TOKENS, None, registry[k].get("hf_id"), f"registry {k}")
            for k in keys]
    started = time.time()
    measurements, not_tabulated = tabulate_many(jobs, progress=progress)
    table = calibrate_table(
        measurements,
        name=stack_name,
        source=f"{CREDIT}: {reference.system}, {reference.backend}",
        description=f"{reference.system} {reference.software} bf16 batch-1 reference stack, simulated by AIConfigurator and fitted by helm-efficiency",
        command=["python", "-m", "helm_efficiency.tables.build_simulated", "--stack", stack_name],
    )
    table.not_tabulated = not_tabulated
    table.save(os.path.join(out_dir, f"{stack_name}.json"))
    return f"{stack_name}: {len(table.entries)} entries, {len(not_tabulated)} not modelled, {time.time() - started:.0f} s"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="stack to rebuild (default: all)")
    parser.add_argument("--out-dir", default=DATA_DIR)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="stacks built in parallel processes")
    args = parser.parse_args(argv)
    stacks = args.stack or list(STACKS)
    started = time.time()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for line in pool.map(build_stack, stacks, [args.out_dir] * len(stacks), [None] * len(stacks), [False] * len(stacks)):
                print(line, flush=True)
    else:
        for name in stacks:
            print(build_stack(name, args.out_dir), flush=True)
    print(f"all done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
