"""Batch-1 board power per GPU and phase, from the measured rows (sources/measured.py).

    python -m helm_efficiency.sources.power            # print what the measurements give
    python -m helm_efficiency.sources.power --write    # and write it into analytic/hardware.json

Decode power: every 16-bit batch-1 row measured on a 700 W HBM3 board (H100 SXM or H200,
pooled: the same board power and memory-bound decode) that reports decode power, or the
average over a whole decode-dominated request. Prefill power: the rows that report it per
phase. Each phase's value is the median of its rows, its range their minimum to maximum (capped
at the board's power limit). A GPU with no measured rows keeps its stated assumption, with a
±25% band. `energy = Σ phase seconds × phase power × GPUs`, as in estimate.py.
"""

import argparse
import json
from typing import Any, Dict, Optional, Sequence

import numpy as np
import pandas as pd

from helm_efficiency.sources.measured import anchor_rows
from helm_efficiency.util import data_paths

HARDWARE_JSON = data_paths.HARDWARE_JSON
POOLS = {"h100": ("h100", "h200"), "h200": ("h100", "h200")}  # GPUs whose batch-1 power rows are pooled
ASSUMPTION_BAND = 0.25


def phase_powers(rows: Optional[pd.DataFrame] = None) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """{gpu: {phase: {"w", "lo_w", "hi_w", "rows", "sources"}}} from the measured 16-bit rows."""
    rows = anchor_rows() if rows is None else rows
    rows = rows[rows["quantity"].isin(["power_w", "power_prefill_w", "power_decode_w"]) & rows["precision16"].astype(bool)]
    out: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for gpu, pool in POOLS.items():
        pooled = rows[rows["gpu"].isin(pool)]
        for phase, quantities in (("decode", ("power_decode_w", "power_w")), ("prefill", ("power_prefill_w",))):
            values = pooled[pooled["quantity"].isin(quantities)]
            if len(values):
                out.setdefault(gpu, {})[phase] = {
                    "w": float(np.median(values["value"])), "lo_w": float(values["value"].min()), "hi_w": float(values["value"].max()),
                    "rows": int(len(values)), "sources": sorted(values["source_id"].unique())}
    return out


def write_hardware(powers: Dict[str, Dict[str, Dict[str, Any]]], path: str = HARDWARE_JSON) -> None:
    """Set power_{phase}_w and its range for each GPU in hardware.json; GPUs without rows get the ±25% band."""
    from helm_efficiency.util.atomic import write_text_atomic

    with open(path) as f:
        raw = json.load(f)
    for gpu, spec in raw.items():
        if gpu.startswith("_") or spec.get("power_w") is None:
            continue
        notes = []
        for phase in ("prefill", "decode"):
            measured = powers.get(gpu, {}).get(phase)
            if measured:
                cap = float(spec["power_w"])
                value, lo, hi = (round(min(measured[k], cap), 1) for k in ("w", "lo_w", "hi_w"))
                notes.append(f"{phase}: measured, median {value} W of {measured['rows']} batch-1 rows on 700 W H100/H200 boards "
                             f"(range {lo}-{hi} W, capped at the {cap:.0f} W limit; sources {', '.join(measured['sources'])})")
            else:
                value = spec[f"power_{phase}_w"]
                lo, hi = round(value * (1 - ASSUMPTION_BAND), 1), round(value * (1 + ASSUMPTION_BAND), 1)
                notes.append(f"{phase}: assumption, not a measurement ({value} W, ±25% band), no batch-1 {phase} power measured on this GPU")
            spec.update({f"power_{phase}_w": value, f"power_{phase}_lo_w": lo, f"power_{phase}_hi_w": hi})
        spec["power_source"] = "; ".join(notes) + ". Written by python -m helm_efficiency.sources.power --write from helm_efficiency/sources/measured/"
    text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in raw.items()) + "\n}\n"
    write_text_atomic(path, text)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the powers into analytic/hardware.json")
    args = parser.parse_args(argv)
    powers = phase_powers()
    for gpu, phases in sorted(powers.items()):
        for phase, p in sorted(phases.items()):
            print(f"{gpu} {phase:8s} {p['w']:.0f} W (range {p['lo_w']:.0f}-{p['hi_w']:.0f} W, {p['rows']} rows: {', '.join(p['sources'])})")
    if args.write:
        write_hardware(powers)
        print(f"wrote {HARDWARE_JSON}")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
