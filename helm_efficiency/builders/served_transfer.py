"""Measure how far a served transfer lands from the simulator, leaving one architecture out on
every shipped served table; written to tables/data/served/served_transfer.json.

    python -m helm_efficiency.builders.served_transfer

For each stack and each model its table simulates, the model is priced as if the simulator had
refused it (tables/served.price_transferred) and as if only its size were known
(price_by_size; a mixture of experts as if known by its total and active sizes), at a grid of request shapes under the default latency target, and compared with
its own simulated price. Its own entry and every entry of the same architecture under another
name (served_transfer.twins: Llama-3 and 3.1 8B, say) are left out of the neighbours, since a
refused model has no such twin. Per stack and kind (served_transfer.KINDS: dense, mixture of
experts, size alone, total and active size), and pooled over the stacks: the median |error| and the 5th and 95th
percentiles of log(priced / simulated), the spread that widens such a band, and the farthest
any held-out model's nearest neighbour was (`max_distance`: a model whose nearest neighbour is
farther is flagged served_extrapolated). A stack whose kind held out fewer than
served_transfer.MIN_MODELS models is priced with the pooled spread.
"""

import argparse
import json
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from helm_efficiency.util.atomic import write_text_atomic

PROMPTS = (128, 512, 2048, 8192)
OUTPUTS = (16, 256, 2048)


class HeldOut(NamedTuple):
    """One held-out model: how far its nearest neighbour was, and log(priced / simulated) at each shape."""

    distance: float
    errors: List[float]


def summary(values: List[float], models: int, max_distance: float) -> Dict[str, Any]:
    """One kind's spread as stored: 5th and 95th percentiles of the log errors, median |error|,
    counts, and the farthest nearest neighbour it was measured at."""
    e = np.array(values)
    return {"lo_log": round(float(np.quantile(e, 0.05)), 6), "hi_log": round(float(np.quantile(e, 0.95)), 6),
            "median_abs_error": round(float(np.median(np.abs(np.expm1(e)))), 4), "models": models, "points": len(values),
            "max_distance": round(max_distance, 6)}


def stack_spread(held_out: Dict[str, Dict[str, HeldOut]]) -> Dict[str, Any]:
    """{kind: summary} of one stack's held-out models (`stack_errors`), as stored."""
    return {kind: summary(_flat(by_model), len(by_model), max(h.distance for h in by_model.values()))
            for kind, by_model in held_out.items() if by_model}


def _flat(by_model: Dict[str, HeldOut]) -> List[float]:
    """Every held-out model's errors, in model order."""
    return [e for model in sorted(by_model) for e in by_model[model].errors]


def stack_errors(stack: str) -> Dict[str, Dict[str, HeldOut]]:
    """{kind: {held-out model: HeldOut}} on one stack."""
    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.analytic.identity import context_window
    from helm_efficiency.helm_io.catalog import HELM_ONLY
    from helm_efficiency.sources.served_correction import interval_factors
    from helm_efficiency.tables.served import (load_served_table, price_by_size, price_simulated, price_transferred, served_hardware,
                                               simulated_architectures)
    from helm_efficiency.tables.served_transfer import (KINDS, active_parameters, kind_of, neighbours, size_distance, size_kind, size_neighbours,
                                                        stored_parameters, transfer_distance, twins)
    from helm_efficiency.tables.sla import DEFAULT_SLA

    table = load_served_table(stack)
    hardware = hardware_spec(served_hardware(table))
    lo_f, hi_f, _ = interval_factors(table.name)
    candidates = simulated_architectures(table)
    errors: Dict[str, Dict[str, HeldOut]] = {kind: {} for kind in KINDS}
    for key, arch in sorted(candidates.items()):
        window = context_window([key], HELM_ONLY)
        shapes = [(p, o) for p in PROMPTS for o in OUTPUTS if window is None or p + o <= window[0]]
        if not shapes:
            continue
        p, o = (np.array(v, float) for v in zip(*shapes))
        own = price_simulated(table, key, DEFAULT_SLA, p, o, lo_f, hi_f).gpu_s
        out = twins(arch, candidates)
        size, active = stored_parameters(arch), (active_parameters(arch) if kind_of(arch) == "moe" else None)  # known by its size(s)
        sized = size_kind(active)
        nearest = {kind_of(arch): [transfer_distance(arch, candidates[k]) for k in neighbours(arch, candidates, out)[:1]],
                   sized: [size_distance(size, active, candidates[k]) for k in size_neighbours(size, candidates, out, active)[:1]]}
        priced = {kind_of(arch): price_transferred(table, key, arch, hardware, DEFAULT_SLA, p, o, lo_f, hi_f, (0.0, 0.0), exclude=out),
                  sized: price_by_size(table, size, hardware, DEFAULT_SLA, p, o, lo_f, hi_f, (0.0, 0.0), exclude=out, active=active)}
        for kind, moved in priced.items():
            both = np.isfinite(own) & np.isfinite(moved.gpu_s)
            if both.any():
                errors[kind][key] = HeldOut(nearest[kind][0], np.log(moved.gpu_s[both] / own[both]).tolist())
    return errors


def main(argv: Optional[Sequence[str]] = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    from helm_efficiency.stacks import SIMULATED_TABLES
    from helm_efficiency.tables.served import has_served_table
    from helm_efficiency.tables.served_transfer import KINDS, MIN_MODELS, NEIGHBOURS, SPREAD_PATH
    from helm_efficiency.tables.sla import DEFAULT_SLA

    stacks: Dict[str, Any] = {}
    pooled: Dict[str, List[float]] = {kind: [] for kind in KINDS}
    pooled_models = {kind: 0 for kind in KINDS}
    pooled_distance = {kind: 0.0 for kind in KINDS}
    for stack in [s for s in SIMULATED_TABLES if has_served_table(s)]:
        started = time.time()
        errors = stack_errors(stack)
        stacks[stack] = stack_spread(errors)
        for kind, by_model in errors.items():
            pooled[kind] += _flat(by_model)
            pooled_models[kind] += len(by_model)
            pooled_distance[kind] = max([pooled_distance[kind]] + [h.distance for h in by_model.values()])
        print(f"{stack}: " + ", ".join(f"{k} {v['models']} models: median |error| {v['median_abs_error']:.1%}, 90% x{np.exp(v['lo_log']):.2f}..x"
                                       f"{np.exp(v['hi_log']):.2f}" + (" (pooled used)" if v["models"] < MIN_MODELS else "")
                                       for k, v in stacks[stack].items()) + f" ({time.time() - started:.0f} s)", flush=True)
    pooled_summary = {kind: summary(values, pooled_models[kind], pooled_distance[kind]) for kind, values in pooled.items() if values}
    print("pooled: " + ", ".join(f"{k}: median |error| {v['median_abs_error']:.1%}, 90% x{np.exp(v['lo_log']):.2f}..x{np.exp(v['hi_log']):.2f}"
                                 for k, v in pooled_summary.items()))
    raw = {"version": 2, "neighbours": NEIGHBOURS, "min_models": MIN_MODELS, "prompt_tokens": list(PROMPTS), "output_tokens": list(OUTPUTS),
           "sla": str(DEFAULT_SLA), "held_out": "each simulated model with its twins (served_transfer.twins)", "stacks": stacks,
           "pooled": pooled_summary, "command": "python -m helm_efficiency.builders.served_transfer"}
    write_text_atomic(SPREAD_PATH, json.dumps(raw, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SPREAD_PATH}")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
