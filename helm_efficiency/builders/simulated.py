"""Rebuild the shipped modern reference tables (h100-trtllm, h100-vllm, h200-trtllm, a100-trtllm,
a100-vllm) from AIConfigurator's measured-kernel simulation of every registry architecture.

    python -m helm_efficiency.builders.simulated -j 2                 # all five stacks, local processes
    python -m helm_efficiency.builders.simulated --stack h100-trtllm
    python -m helm_efficiency.builders.simulated --executor dask --address tcp://scheduler:8786

Each model is tabulated at the 24-point calibration grid (8 prompt x 3 output lengths, batch 1,
bf16, TP = the smallest power of two that holds the weights) and calibrated like any profile.
The (stack, model) simulations are independent, so they are one map over all pairs
(helm_efficiency/util/executors.py); calibration per stack follows. A model the simulator does not
model on a stack is listed in the table's `not_tabulated` with the simulator's reason;
estimation then falls back to transfer on the same stack.
"""

import argparse
import os
import time
from typing import List, Optional, Sequence, Tuple

import pandas as pd

from helm_efficiency.analytic.registry import load_registry
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.util.executors import map_ordered
from helm_efficiency.sources.aiconfigurator import CALIBRATION_OUTPUT_TOKENS, CALIBRATION_PROMPT_TOKENS, STACKS, tabulate
from helm_efficiency.builders.anchored import anchor_table_file
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.util.data_paths import ANCHOR_CORRECTION_PATH, DATA_DIR, table_path

CREDIT = "NVIDIA AIConfigurator (aiconfigurator-core, Apache-2.0) measured-kernel simulation, static batch 1"


Simulated = Tuple[str, str, Optional[pd.DataFrame], Optional[str]]  # what `simulate` returns for one pair


def simulate(pair: Tuple[str, str]) -> Simulated:
    """(stack, model, measurements or None, the simulator's refusal or None) for one pair."""
    stack_name, key = pair
    entry = load_registry()[key]
    try:
        points = tabulate(entry["config"], key, STACKS[stack_name], CALIBRATION_PROMPT_TOKENS, CALIBRATION_OUTPUT_TOKENS, None,
                          entry.get("hf_id"), f"registry {key}")
        return stack_name, key, points, None
    except EfficiencyInputError as e:
        return stack_name, key, None, str(e)


def save_stack(stack_name: str, results: Sequence[Simulated], out_dir: str = DATA_DIR) -> str:
    """Calibrate one stack's simulated points into its table and save it; returns a summary line."""
    frames = [points for stack, _, points, _ in results if stack == stack_name and points is not None]
    not_tabulated = {key: reason for stack, key, _, reason in results if stack == stack_name and reason is not None}
    reference = STACKS[stack_name]
    table = calibrate_table(
        pd.concat(frames, ignore_index=True),
        name=stack_name,
        source=f"{CREDIT}: {reference.system}, {reference.backend}",
        description=f"{reference.system} {reference.software} bf16 batch-1 reference stack, simulated by AIConfigurator and fitted by helm-efficiency",
        command=["python", "-m", "helm_efficiency.builders.simulated", "--stack", stack_name],
    )
    table.not_tabulated = not_tabulated
    path = table_path(stack_name, out_dir)
    table.save(path)
    anchored = ""
    if os.path.exists(ANCHOR_CORRECTION_PATH):  # then corrected against published measurements (builders/anchored.py)
        anchored = "; " + anchor_table_file(path)
    return f"{stack_name}: {len(table.entries)} entries, {len(not_tabulated)} not modelled{anchored}"


def build(stacks: Sequence[str], out_dir: str = DATA_DIR, models: Optional[Sequence[str]] = None, jobs: int = 1,
          executor: str = "local", address: Optional[str] = None, progress: bool = True) -> List[str]:
    """Simulate every (stack, registry model) pair, then calibrate and save each stack's table."""
    registry = load_registry()
    keys = [k for k in sorted(registry) if not k.startswith("test/") and (not models or k in models)]
    pairs = [(stack, key) for stack in stacks for key in keys]
    results: List[Simulated] = map_ordered(simulate, pairs, jobs, "simulating" if progress else "", executor, address, unit="model")
    return [save_stack(stack, results, out_dir) for stack in stacks]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="stack to rebuild (default: all)")
    parser.add_argument("--out-dir", default=DATA_DIR)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (local pool, or a Dask LocalCluster)")
    parser.add_argument("--executor", choices=["local", "dask"], default="local")
    parser.add_argument("--address", help="with --executor dask: an existing scheduler's address")
    args = parser.parse_args(argv)
    started = time.time()
    for line in build(args.stack or list(STACKS), args.out_dir, jobs=args.jobs, executor=args.executor, address=args.address):
        print(line, flush=True)
    print(f"all done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
