"""Anchor the simulated stacks to published measurements: simulate each measured batch-1 row.

For each measured batch-1 row (sources/measured.py) the simulator is run at the row's own
model, GPU, framework, tensor parallelism and precision (`simulate_anchors`; FP8 rows in FP8,
and in bf16 too, so that a 16-bit estimate can be checked never to be cheaper than them). The
correction fitted on those rows (what real serving adds to the simulated kernels, per framework
and phase, with an interval for a new source) lives in sources/correction.py; this module
writes it to tables/data/anchor_correction.json:

    python -m helm_efficiency.sources.anchor --simulate -j 2   # new measured rows, simulated (cached by shape)
    python -m helm_efficiency.sources.anchor --fit             # the correction
"""

import json
import os
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.analytic.registry import VARIANT_SUFFIXES as SUFFIXES
from helm_efficiency.sources.correction import PHASE_OF, PhaseCorrection, fit_correction, fit_rows  # noqa: F401 (re-exported)
from helm_efficiency.stacks import REFERENCE_STACKS, ReferenceStack
from helm_efficiency.util import data_paths

CORRECTION_VERSION = 3
FORMULA = ("measured = simulated * (1 + scale + legacy * [older release]) + step + comm[interconnect] * layers * log2(TP); "
           "tables use legacy = 0")
ANCHOR_CACHE = data_paths.ANCHOR_CACHE
CORRECTION_PATH = data_paths.ANCHOR_CORRECTION_PATH
BACKEND_STACK_SYSTEMS = {(s.backend, s.hardware): s.name for s in REFERENCE_STACKS}  # the stack simulating a (framework, GPU)


# -- simulating each measured row ------------------------------------------------------------------
NO_CONFIG = "no config for this model"


def config_for(hf_id: str) -> Optional[Tuple[Dict[str, Any], str]]:
    """(config.json, where it came from) for a Hugging Face id: the registry entry (tolerating
    -Instruct/-chat/-hf variants, which share the base architecture), else the simulator's own."""
    from helm_efficiency.analytic.registry import load_registry, registry_name
    from helm_efficiency.sources.aiconfigurator import shipped_config

    candidates = [hf_id] + [hf_id[: -len(s)] for s in SUFFIXES if hf_id.endswith(s)]
    candidates += [c.replace("Meta-Llama-3.1", "Llama-3.1") for c in candidates if "Meta-Llama-3.1" in c]
    for candidate in candidates:
        key = registry_name(candidate)
        if key:
            return load_registry()[key]["config"], f"registry {key}"
    shipped = shipped_config(hf_id)
    return (shipped, f"aiconfigurator-core model_configs ({hf_id})") if shipped else None


@lru_cache(maxsize=None)
def routes_to_experts(hf_id: str) -> bool:
    """The model routes tokens to experts, by the config `config_for` finds (False without one;
    a config the architecture reader cannot read raises, naming it)."""
    from helm_efficiency.analytic.architecture import architecture_from_config, is_moe

    found = config_for(hf_id)
    return bool(found and is_moe(architecture_from_config(*found)))


# The simulator's system for each GPU a measured row names (SXM parts; the rows say SXM or
# name a DGX/HGX system where they say anything).
SIMULATOR_SYSTEMS = {"h100": "h100_sxm", "h200": "h200_sxm", "a100": "a100_sxm", "b200": "b200_sxm"}
SOFTWARE = {"trtllm": "TensorRT-LLM", "vllm": "vLLM", "sglang": "SGLang"}
# A row is simulated at its own weight precision: 16-bit rows in bf16, FP8 rows with FP8 GEMMs
# (and FP8 MoE experts). Other precisions are not simulated.
SIM_QUANT = {"bf16": {}, "fp8": {"gemm_quant_mode": "fp8", "moe_quant_mode": "fp8"}}


def row_stack(gpu: str, backend: str) -> Optional[Tuple[str, ReferenceStack]]:
    """(stack name, the simulator's ReferenceStack) for a measured row's (GPU, framework), or None."""
    system = SIMULATOR_SYSTEMS.get(gpu)
    if system is None or backend not in SOFTWARE:
        return None
    return BACKEND_STACK_SYSTEMS.get((backend, gpu)) or f"{gpu}-{backend}", ReferenceStack(f"{gpu}-{backend}", gpu, system, backend, SOFTWARE[backend])


def sim_dtype(precision16: object, precision_fp8: object) -> Optional[str]:
    """The precision a row is simulated at ("bf16", "fp8"), or None (not simulated)."""
    return "bf16" if bool(precision16) else ("fp8" if bool(precision_fp8) else None)


SimJob = Tuple[Tuple[str, str, str, int, str], List[Tuple[float, float]]]  # (hf_id, gpu, backend, tp, dtype), its (p, o)


def _simulate_group(job: SimJob) -> List[Dict[str, Any]]:
    """Simulated prefill / per-token decode / total seconds for every (p, o) of one (model, GPU,
    framework, TP, precision)."""
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.sources.aiconfigurator import compile_engine

    (hf_id, gpu, backend, tp, dtype), shapes = job
    stack = row_stack(gpu, backend)
    found = config_for(hf_id)
    base = {"hf_id": hf_id, "gpu": gpu, "backend": backend, "tp": tp, "sim_dtype": dtype}
    if stack is None or found is None:
        return [dict(base, p=p, o=o, sim_reason="no simulated stack" if stack is None else NO_CONFIG) for p, o in shapes]
    config, source = found
    try:
        arch = architecture_from_config(config, source)
        handle, provenance = compile_engine(config, hf_id, stack[1], int(tp), source, moe=bool(arch.get("num_experts")),
                                            quant=SIM_QUANT[dtype])
    except EfficiencyInputError as e:
        return [dict(base, p=p, o=o, sim_reason=str(e)[:200]) for p, o in shapes]
    out = []
    for p, o in shapes:
        try:
            context_ms, generation_ms, total_ms = handle.run_static(batch_size=1, isl=int(max(p, 1)), osl=int(max(o, 2)))
        except Exception as e:  # the simulator's own refusal at this shape (e.g. out of memory)
            out.append(dict(base, p=p, o=o, sim_reason=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"))
            continue
        out.append(dict(base, p=p, o=o, num_layers=int(arch["num_layers"]), sim_ttft_s=context_ms / 1e3,
                        sim_tpot_s=generation_ms / 1e3 / (max(o, 2) - 1), sim_e2e_s=(context_ms + generation_ms * (max(o, 1) - 1) / (max(o, 2) - 1)) / 1e3,
                        sim_config=source, sim_backend_version=provenance["backend_version"], sim_reason=""))
    return out


SIM_KEY = ["hf_id", "gpu", "backend", "tp", "sim_dtype", "p", "o"]
SIM_COLUMNS = ["num_layers", "sim_ttft_s", "sim_tpot_s", "sim_e2e_s", "sim_config", "sim_backend_version", "sim_reason"]


def simulate_anchors(anchors: pd.DataFrame, jobs: int = 1, progress: bool = True, cache: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """`anchors` with sim_ttft_s, sim_tpot_s, sim_e2e_s, num_layers and `sim` (the row's own
    quantity) added, each row simulated at its own model, GPU, framework, TP and precision.
    Shapes already in `cache` (an earlier output) are not simulated again, except those that had
    no config then (the registry may know the model now)."""
    from helm_efficiency.util.executors import map_ordered

    timed = anchors[anchors["quantity"].isin(["ttft_s", "tpot_s", "e2e_s"])].copy()
    timed["sim_dtype"] = [sim_dtype(a, b) for a, b in zip(timed["precision16"], timed.get("precision_fp8", False))]
    timed = timed[timed["sim_dtype"].notna()]
    # FP8 rows are also simulated in bf16: a 16-bit estimate must never be cheaper than them.
    timed = pd.concat([timed, timed[timed["sim_dtype"] == "fp8"].assign(sim_dtype="bf16")], ignore_index=True)
    timed["tp"] = timed["tp"].astype(int)
    known = pd.DataFrame(columns=SIM_KEY + SIM_COLUMNS)
    if cache is not None and len(cache) and "sim_dtype" in cache:
        known = cache[SIM_KEY + SIM_COLUMNS].drop_duplicates(SIM_KEY)
        known = known[known["sim_reason"] != NO_CONFIG]
        known = known.astype({"tp": int, "p": float, "o": float})
    shapes = timed[SIM_KEY].drop_duplicates().astype({"p": float, "o": float})
    missing = shapes.merge(known[SIM_KEY], on=SIM_KEY, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"]
    groups = [((h, g, b, int(t), d), list(zip(rows["p"], rows["o"])))
              for (h, g, b, t, d), rows in missing.groupby(["hf_id", "gpu", "backend", "tp", "sim_dtype"], sort=True)]
    results = map_ordered(_simulate_group, groups, jobs, "simulating measured rows" if progress else "", unit="config")
    fresh = pd.DataFrame([r for group in results for r in group], columns=SIM_KEY + SIM_COLUMNS)
    simulated = pd.concat([known, fresh], ignore_index=True) if len(fresh) else known
    simulated = simulated.astype({"tp": int, "p": float, "o": float})
    out = timed.astype({"p": float, "o": float}).merge(simulated, on=SIM_KEY, how="left")
    out["sim"] = [row.get(f"sim_{q}") for q, row in zip(out["quantity"], out.to_dict("records"))]
    return out


def load_simulated_anchors(path: str = ANCHOR_CACHE) -> pd.DataFrame:
    """The measured rows with their simulated values, as `python -m helm_efficiency.sources.anchor --simulate` wrote them."""
    if not os.path.exists(path):
        raise EfficiencyInputError(path, "<file>", "missing: run `python -m helm_efficiency.sources.anchor --simulate`")
    return pd.read_csv(path)


# -- the correction (sources/correction.py) and its file ----------------------------------------------
def correction_to_json(correction: Dict[str, Dict[str, PhaseCorrection]]) -> Dict[str, Any]:
    return {"version": CORRECTION_VERSION, "formula": FORMULA,
            "frameworks": {b: {phase: {"form": c.form, "coefficients": {k: round(v, 10) for k, v in sorted(c.coefficients.items())},
                                       "comm_by_interconnect": {k: round(v, 10) for k, v in sorted(c.comm_by_link.items())},
                                       "interval_log": [round(c.interval[0], 6), round(c.interval[1], 6)],
                                       "variance_components": dict(sorted(c.variance.items())), "sources": list(c.sources),
                                       "rows": c.rows, "comm_fitted_interconnects": list(c.fitted_links)} for phase, c in sorted(phases.items())} for b, phases in sorted(correction.items())},
            "table_version": "each table stands for its simulator's own release (provenance backend_version), priced with legacy = 0",
            "command": "python -m helm_efficiency.sources.anchor --fit"}


def phases_from_json(frameworks: Dict[str, Any]) -> Dict[str, Dict[str, PhaseCorrection]]:
    return {b: {phase: PhaseCorrection(c["form"], c["coefficients"], c.get("comm_by_interconnect", {}), tuple(c["interval_log"]),
                                       c.get("variance_components", {}), tuple(c["sources"]), c["rows"],
                                       tuple(c.get("comm_fitted_interconnects", ())))
                for phase, c in phases.items()} for b, phases in frameworks.items()}


def load_correction(path: str = CORRECTION_PATH) -> Dict[str, Dict[str, PhaseCorrection]]:
    with open(path) as f:
        raw = json.load(f)
    if raw.get("version") != CORRECTION_VERSION:
        raise EfficiencyInputError(path, "version", f"is {raw.get('version')!r}; this version reads {CORRECTION_VERSION} "
                                   "(refit: python -m helm_efficiency.sources.anchor --fit)")
    return phases_from_json(raw["frameworks"])


def main(argv: Optional[Sequence[str]] = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate", action="store_true", help=f"simulate every measured row (writes {os.path.relpath(ANCHOR_CACHE)})")
    parser.add_argument("--fit", action="store_true", help=f"fit the correction (writes {os.path.relpath(CORRECTION_PATH)})")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.simulate:
        from helm_efficiency.util.atomic import write_text_atomic
        from helm_efficiency.sources.measured import anchor_rows

        cache = pd.read_csv(ANCHOR_CACHE) if os.path.exists(ANCHOR_CACHE) else None
        simulated = simulate_anchors(anchor_rows(), jobs=args.jobs, cache=cache)
        os.makedirs(os.path.dirname(ANCHOR_CACHE), exist_ok=True)
        write_text_atomic(ANCHOR_CACHE, simulated.to_csv(index=False, float_format="%.9g"))
        print(f"simulated {simulated['sim'].notna().sum()} of {len(simulated)} measured rows -> {ANCHOR_CACHE}")
    if args.fit:
        from helm_efficiency.util.atomic import write_text_atomic

        correction = fit_correction(fit_rows(load_simulated_anchors()))
        write_text_atomic(CORRECTION_PATH, json.dumps(correction_to_json(correction), indent=1) + "\n")
        for backend, phases in sorted(correction.items()):
            for phase, c in sorted(phases.items()):
                print(f"{backend:7s} {phase:8s} form {c.form:26s} {c.coefficients} {c.comm_by_link} interval "
                      f"x{np.exp(c.interval[0]):.3f}..x{np.exp(c.interval[1]):.3f} ({c.rows} rows, {len(c.sources)} sources)")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
