"""Measure how far a served transfer lands from the simulator: leave-one-model-out on every
shipped served table, written to tables/data/served/served_transfer.json.

    python -m helm_efficiency.builders.served_transfer

For each stack and each model its table simulates, the model is priced as if the simulator had
refused it (tables/served.price_transferred, its own entry excluded from the neighbours) and,
if dense, as if only its size were known (price_by_size), at a grid of request shapes under the
default latency target, and compared with its own simulated price. Per stack and kind
(served_transfer.KINDS: dense, mixture of experts, size alone): the median |error| and the 5th
and 95th percentiles of log(priced / simulated), the spread that widens such a band.
"""

import argparse
import json
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from helm_efficiency.util.atomic import write_text_atomic

PROMPTS = (128, 512, 2048, 8192)
OUTPUTS = (16, 256, 2048)


def stack_spread(stack: str) -> Dict[str, Any]:
    """{kind: {lo_log, hi_log, median_abs_error, models, points}} of one stack's transfers (served_transfer.KINDS)."""
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.identity import context_window
    from helm_efficiency.helm_io.catalog import HELM_ONLY
    from helm_efficiency.sources.served_correction import interval_factors
    from helm_efficiency.tables.served import load_served_table, price_by_size, price_simulated, price_transferred, simulated_architectures
    from helm_efficiency.tables.sla import DEFAULT_SLA
    from helm_efficiency.tables.served_transfer import KINDS, kind_of, stored_parameters

    table = load_served_table(stack)
    hardware = hardware_spec(table.raw.get("provenance", {}).get("hardware") or stack.split("-")[0])
    lo_f, hi_f, _ = interval_factors(table.name)
    errors: Dict[str, List[float]] = {kind: [] for kind in KINDS}
    models: Dict[str, int] = {kind: 0 for kind in KINDS}
    for key, arch in sorted(simulated_architectures(table).items()):
        window = context_window([key], HELM_ONLY)
        shapes = [(p, o) for p in PROMPTS for o in OUTPUTS if window is None or p + o <= window[0]]
        if not shapes:
            continue
        p, o = (np.array(v, float) for v in zip(*shapes))
        own = price_simulated(table, key, DEFAULT_SLA, p, o, lo_f, hi_f).gpu_s
        priced = {kind_of(arch): price_transferred(table, arch, hardware, DEFAULT_SLA, p, o, lo_f, hi_f, (0.0, 0.0), exclude=[key])}
        if kind_of(arch) == "dense":
            priced["size"] = price_by_size(table, stored_parameters(arch), DEFAULT_SLA, p, o, lo_f, hi_f, (0.0, 0.0), exclude=[key])
        for kind, moved in priced.items():
            both = np.isfinite(own) & np.isfinite(moved.gpu_s)
            errors[kind] += np.log(moved.gpu_s[both] / own[both]).tolist()
            models[kind] += int(both.any())
    out: Dict[str, Any] = {}
    for kind, values in errors.items():
        if len(values) >= 10:
            e = np.array(values)
            out[kind] = {"lo_log": round(float(np.quantile(e, 0.05)), 6), "hi_log": round(float(np.quantile(e, 0.95)), 6),
                         "median_abs_error": round(float(np.median(np.abs(np.expm1(e)))), 4), "models": models[kind], "points": len(values)}
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    from helm_efficiency.stacks import SIMULATED_TABLES
    from helm_efficiency.tables.served import has_served_table
    from helm_efficiency.tables.served_transfer import NEIGHBOURS, SPREAD_PATH

    stacks: Dict[str, Any] = {}
    for stack in [s for s in SIMULATED_TABLES if has_served_table(s)]:
        started = time.time()
        stacks[stack] = stack_spread(stack)
        summary = ", ".join(f"{k} {v['models']} models: median |error| {v['median_abs_error']:.1%}, 90% x{np.exp(v['lo_log']):.2f}..x{np.exp(v['hi_log']):.2f}"
                            for k, v in stacks[stack].items())
        print(f"{stack}: {summary} ({time.time() - started:.0f} s)", flush=True)
    raw = {"version": 1, "neighbours": NEIGHBOURS, "prompt_tokens": list(PROMPTS), "output_tokens": list(OUTPUTS),
           "sla": "the default target (tables/sla.DEFAULT_SLA)", "stacks": stacks,
           "command": "python -m helm_efficiency.builders.served_transfer"}
    write_text_atomic(SPREAD_PATH, json.dumps(raw, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SPREAD_PATH}")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
