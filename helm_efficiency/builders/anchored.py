"""Anchor the shipped simulated tables to published measurements (sources/anchor.py).

Each entry's simulated grid points (24 per model) are corrected phase by phase with its
framework's correction:

    first token(p)      = correction.prefill(simulated runtime at (p, o = 1))
    decode per token    = correction.decode((simulated(p, o) − simulated(p, 1)) / (o − 1))
    corrected(p, o)     = first token(p) + (o − 1) · decode per token

and the entry is refitted on the corrected points as before. The simulator's own points stay
in each entry's provenance (`simulated_runtime_s`), with the correction's version, formula,
coefficients and the sources it was fitted on; the table's `anchor` block lists every source
with its reference, so each shipped number traces to its sources from the table file alone.
Rebuilding starts from the simulated points, so a second build is byte-identical.

    python -m helm_efficiency.sources.anchor --simulate -j 2   # the measured rows, simulated
    python -m helm_efficiency.sources.anchor --fit             # tables/data/anchor_correction.json
    python -m helm_efficiency.builders.anchored                # apply it to the five simulated tables
"""

import argparse
import json
import os
from typing import Any, Dict, Optional, Sequence

import numpy as np

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.anchor import load_correction
from helm_efficiency.sources.correction import PhaseCorrection
from helm_efficiency.util.data_paths import ANCHOR_CORRECTION_PATH, DATA_DIR, table_path


def hardware_of_stack(stack: str) -> str:
    """The GPU key of a simulated stack name (`h100-trtllm` → `h100`)."""
    from helm_efficiency.sources.aiconfigurator import STACKS

    return STACKS[stack].hardware if stack in STACKS else stack.split("-")[0]


def _source_refs(source_ids: Sequence[str]) -> Dict[str, str]:
    from helm_efficiency.sources.measured import load_measured

    measured = load_measured()
    refs = measured.drop_duplicates("source_id").set_index("source_id")["source_ref"]
    return {s: str(refs.get(s, "")) for s in sorted(source_ids)}


def anchor_entry(entry: Dict[str, Any], phases: Dict[str, PhaseCorrection], correction_json: Dict[str, Any], backend: str) -> Dict[str, Any]:
    """One table entry (JSON) with corrected measurements; the simulated points kept in provenance."""
    entry = json.loads(json.dumps(entry))
    provenance = entry.setdefault("provenance", {})
    points = entry["measurements"]
    simulated = np.asarray(provenance.get("simulated_runtime_s") or points["runtime_s"], float)
    p = np.asarray(points["num_prompt_tokens"], float)
    o = np.asarray(points["num_output_tokens"], float)
    first = {pi: simulated[(p == pi) & (o == 1)] for pi in np.unique(p)}
    if any(len(v) != 1 for v in first.values()):
        raise EfficiencyInputError(entry["model"], "measurements", "an anchored entry needs one o = 1 point per prompt length")
    layers = float((entry.get("architecture") or {}).get("num_layers") or 0)
    tp = float(entry.get("num_gpus") or provenance.get("tensor_parallel") or 1)
    gpu = hardware_of_stack(entry["hardware"])
    corrected = []
    for pi, oi, si in zip(p, o, simulated):
        ttft = float(first[pi][0])
        value = float(phases["prefill"].apply([ttft], [layers], [tp], gpu)[0])
        if oi > 1:
            per_token = max(si - ttft, 0.0) / (oi - 1)
            value += (oi - 1) * float(phases["decode"].apply([per_token], [layers], [tp], gpu)[0])
        corrected.append(value)
    points["runtime_s"] = corrected
    provenance["simulated_runtime_s"] = simulated.tolist()
    framework = correction_json["frameworks"][backend]
    provenance["anchor"] = {"version": correction_json["version"], "framework": backend, "formula": correction_json["formula"],
                            "prefill": framework["prefill"]["coefficients"], "decode": framework["decode"]["coefficients"],
                            "comm_per_layer_step_s": {phase: phases[phase].comm(gpu) for phase in ("decode", "prefill")},
                            "sources": sorted(set(framework["prefill"]["sources"]) | set(framework["decode"]["sources"]))}
    entry["measured_spread"] = {phase: list(phases[phase].interval) for phase in ("decode", "prefill")}
    return entry


def anchor_table_file(path: str, correction_path: str = ANCHOR_CORRECTION_PATH, out_path: Optional[str] = None) -> str:
    """Rewrite one simulated table (by its `provenance.backend`) with the measured correction."""
    from helm_efficiency.tables.cost_table import table_from_json

    with open(path) as f:
        raw = json.load(f)
    with open(correction_path) as f:
        correction_json = json.load(f)
    correction = load_correction(correction_path)
    backends = {(e.get("provenance") or {}).get("backend") for e in raw["entries"]}
    if len(backends) != 1 or next(iter(backends)) not in correction:
        raise EfficiencyInputError(path, "entries[].provenance.backend", f"{sorted(map(str, backends))}: not one framework the correction covers")
    backend = str(backends.pop())
    raw["entries"] = [anchor_entry(e, correction[backend], correction_json, backend) for e in raw["entries"]]
    sources = sorted({s for phase in correction_json["frameworks"][backend].values() for s in phase["sources"]})
    raw["anchor"] = {"version": correction_json["version"], "framework": backend, "formula": correction_json["formula"],
                     "correction": correction_json["frameworks"][backend], "command": correction_json["command"],
                     "source_refs": _source_refs(sources)}
    if "anchored to published batch-1 measurements" not in raw.get("description", ""):
        raw["description"] = raw.get("description", "") + "; anchored to published batch-1 measurements (builders/anchored.py)"
    table = table_from_json(raw, path)
    table.save(out_path or path)
    return f"{os.path.basename(path)}: {len(table.entries)} entries anchored ({backend}, {len(sources)} sources)"


def main(argv: Optional[Sequence[str]] = None) -> None:
    from helm_efficiency.sources.aiconfigurator import STACKS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="table to anchor (default: all five)")
    parser.add_argument("--data-dir", default=DATA_DIR)
    args = parser.parse_args(argv)
    for name in args.stack or sorted(STACKS):
        print(anchor_table_file(table_path(name, args.data_dir)), flush=True)


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
