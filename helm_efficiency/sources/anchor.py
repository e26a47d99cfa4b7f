"""Anchor the simulated stacks to published measurements: a few physical correction terms per
serving framework, fitted with statsmodels on the relative error against batch-1 measurements.

For each measured batch-1 row (sources/measured.py) the simulator is run at the row's own
model, GPU, framework and tensor parallelism (`simulate_anchors`). The correction then says
what real serving adds to the simulated kernels, per phase (prefill → first token, decode →
each later token):

    measured = simulated · (1 + scale) + step + comm · layers · (TP − 1)

- `scale`: a framework-wide factor (kernels and launches the simulator misses);
- `step`: a per-step framework overhead (seconds; scheduling, sampling, detokenization);
- `comm`: per-layer all-reduce latency at batch 1 (two per layer), growing with the TP − 1 steps
  of a ring all-reduce, zero at TP 1 (chosen over log2(TP), TP > 1 and (TP − 1)/TP by
  leave-one-source-out error: bench/measured_accuracy.py).

It is fitted as weighted least squares on the relative error (measured / simulated − 1, so a
20 ms and a 2 s request weigh alike), one model per framework and phase, with each source
weighted so that no single sweep dominates. The form (which of the three terms) is chosen
per framework and phase by leave-one-source-out error, never in-sample. FP8 rows are not fitted
(they only bound a 16-bit estimate). `spread` is the 1st–99th percentile of the held-out
log-ratio, which widens each corrected table's 90% interval to what measurement shows.
"""

import json
import os
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError

CORRECTION_VERSION = 2
ANCHOR_CACHE = os.path.join(os.path.dirname(__file__), "measured", "simulated", "anchors_simulated.csv")
CORRECTION_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tables", "data", "anchor_correction.json")
TERMS = ("scale", "step", "comm")
FORMS = {"none": (), "scale": ("scale",), "scale+step": ("scale", "step"), "scale+step+comm": ("scale", "step", "comm"),
         "step+comm": ("step", "comm")}
PHASE_OF = {"ttft_s": "prefill", "tpot_s": "decode"}
BACKEND_STACK_SYSTEMS = {("trtllm", "h100"): "h100-trtllm", ("vllm", "h100"): "h100-vllm", ("trtllm", "h200"): "h200-trtllm",
                         ("trtllm", "a100"): "a100-trtllm", ("vllm", "a100"): "a100-vllm"}
SUFFIXES = ("-Instruct", "-instruct", "-chat-hf", "-chat", "-hf", "-it", "-v0.1")


# -- simulating each measured row ------------------------------------------------------------------
def config_for(hf_id: str) -> Optional[Tuple[dict, str]]:
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


def _simulate_group(job) -> List[dict]:
    """Simulated prefill / per-token decode / total seconds for every row of one (model, GPU, framework, TP)."""
    from helm_efficiency.analytic.architecture import architecture_from_config
    from helm_efficiency.sources.aiconfigurator import STACKS, compile_engine

    (hf_id, gpu, backend, tp), rows = job
    stack = BACKEND_STACK_SYSTEMS.get((backend, gpu))
    found = config_for(hf_id)
    base = {"hf_id": hf_id, "gpu": gpu, "backend": backend, "tp": tp}
    if stack is None or found is None:
        return [dict(base, key=k, sim_reason="no simulated stack" if stack is None else "no config for this model") for k in rows]
    config, source = found
    try:
        arch = architecture_from_config(config, source)
        handle, provenance = compile_engine(config, hf_id, STACKS[stack], int(tp), source, moe=bool(arch.get("num_experts")))
    except EfficiencyInputError as e:
        return [dict(base, key=k, sim_reason=str(e)[:200]) for k in rows]
    out = []
    for key, p, o in rows:
        context_ms, generation_ms, total_ms = handle.run_static(batch_size=1, isl=int(max(p, 1)), osl=int(max(o, 2)))
        out.append(dict(base, key=key, num_layers=int(arch["num_layers"]), sim_ttft_s=context_ms / 1e3,
                        sim_tpot_s=generation_ms / 1e3 / (max(o, 2) - 1), sim_e2e_s=(context_ms + generation_ms * (max(o, 1) - 1) / (max(o, 2) - 1)) / 1e3,
                        sim_config=source, sim_backend_version=provenance["backend_version"], sim_reason=""))
    return out


def simulate_anchors(anchors: pd.DataFrame, jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """`anchors` with sim_ttft_s, sim_tpot_s, sim_e2e_s, num_layers and `sim` (the row's own quantity) added."""
    from helm_efficiency.executors import map_ordered

    timed = anchors[anchors["quantity"].isin(["ttft_s", "tpot_s", "e2e_s"])].copy()
    timed["key"] = timed["where"]
    groups = [((h, g, b, int(t)), list(zip(rows["key"], rows["p"], rows["o"])))
              for (h, g, b, t), rows in timed.groupby(["hf_id", "gpu", "backend", "tp"], sort=True)]
    results = map_ordered(_simulate_group, groups, jobs, "simulating measured rows" if progress else "", unit="config")
    simulated = pd.DataFrame([r for group in results for r in group])
    out = timed.merge(simulated.drop(columns=["hf_id", "gpu", "backend", "tp"]), on="key", how="left").drop(columns=["key"])
    out["sim"] = [row.get(f"sim_{q}") for q, row in zip(out["quantity"], out.to_dict("records"))]
    return out


def load_simulated_anchors(path: str = ANCHOR_CACHE) -> pd.DataFrame:
    """The measured rows with their simulated values, as `python -m helm_efficiency.sources.anchor --simulate` wrote them."""
    if not os.path.exists(path):
        raise EfficiencyInputError(path, "<file>", "missing: run `python -m helm_efficiency.sources.anchor --simulate`")
    return pd.read_csv(path)


# -- the correction --------------------------------------------------------------------------------------
def comm_steps(tp) -> np.ndarray:
    """Steps of a ring all-reduce over `tp` GPUs (TP − 1; zero without tensor parallelism)."""
    return np.maximum(np.asarray(tp, float), 1.0) - 1.0


def _features(sim: np.ndarray, layers: np.ndarray, tp: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """Columns of the relative-error regression: measured/sim − 1 = Σ coef · feature."""
    columns = {"scale": np.ones_like(sim), "step": 1.0 / sim, "comm": layers * comm_steps(tp) / sim}
    return np.column_stack([columns[t] for t in terms])


def _source_weights(sources: pd.Series) -> np.ndarray:
    """1 / (rows of the same source): each source counts as much in total, however many rows it has."""
    counts = sources.map(sources.value_counts())
    return (1.0 / counts).to_numpy(float)


@dataclass(frozen=True)
class PhaseCorrection:
    """One framework's correction for one phase: coefficients for TERMS (missing = 0)."""

    form: str
    coefficients: Dict[str, float]
    spread: Tuple[float, float] = (0.0, 0.0)  # SPREAD_QUANTILES of held-out log(measured / corrected)
    sources: Tuple[str, ...] = ()
    rows: int = 0

    def apply(self, sim, layers, tp):
        sim, layers, tp = (np.asarray(x, float) for x in (sim, layers, tp))
        c = self.coefficients
        return sim * (1 + c.get("scale", 0.0)) + c.get("step", 0.0) + c.get("comm", 0.0) * layers * comm_steps(tp)


def fit_phase(rows: pd.DataFrame, form: str) -> PhaseCorrection:
    """WLS (statsmodels) of measured/sim − 1 on the form's features, every term kept ≥ 0 (a
    term that comes out negative is dropped and the rest refitted): real serving only adds to
    the simulated kernels, so a correction never makes a stack faster than its kernels."""
    import statsmodels.api as sm

    terms = list(FORMS[form])
    y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
    weights = _source_weights(rows["source_id"])
    tp = rows["tp"].to_numpy(float)
    if (tp <= 1).all() and "comm" in terms:  # no TP > 1 row: nothing identifies the communication term
        terms.remove("comm")
    while terms:
        x = _features(rows["sim"].to_numpy(float), rows["num_layers"].to_numpy(float), tp, terms)
        with warnings.catch_warnings():  # a fold whose rows cannot tell two terms apart: the refit drops one
            warnings.simplefilter("ignore")
            params = sm.WLS(y, x, weights=weights).fit().params
        negative = [t for t, v in zip(terms, params) if v < 0]
        if not negative:
            return PhaseCorrection(form, {t: float(v) for t, v in zip(terms, params)}, sources=tuple(sorted(rows["source_id"].unique())), rows=len(rows))
        terms.remove(negative[0])
    return PhaseCorrection(form, {}, sources=tuple(sorted(rows["source_id"].unique())), rows=len(rows))


def held_out_predictions(rows: pd.DataFrame, form: str) -> pd.Series:
    """Each row predicted by the form fitted without the row's source (NaN where no other source)."""
    out = pd.Series(np.nan, index=rows.index)
    for source, held in rows.groupby("source_id"):
        train = rows[rows["source_id"] != source]
        if train["source_id"].nunique() == 0:
            continue
        correction = fit_phase(train, form)
        out[held.index] = correction.apply(held["sim"], held["num_layers"], held["tp"])
    return out


SHAPE = ["source_id", "hf_id", "gpu", "backend", "tp", "p", "o"]


def fit_rows(simulated: pd.DataFrame) -> pd.DataFrame:
    """The rows a correction is fitted on: 16-bit, simulated, first-token or decode. A
    whole-request measurement (e2e, or batch-1 tok/s) of a long generation (o ≥ 64) whose
    source gave no per-token number for the same shape becomes a decode row:
    (e2e − simulated first token) / (o − 1), when the first token is under a fifth of it."""
    rows = simulated[simulated["precision16"].astype(bool) & simulated["sim"].notna() & (simulated["sim"] > 0)].copy()
    direct = rows[rows["quantity"].isin(list(PHASE_OF))]
    e2e = rows[(rows["quantity"] == "e2e_s") & (rows["o"] >= 64) & (rows["sim_ttft_s"] < 0.2 * rows["value"])]
    have = set(map(tuple, direct[direct["quantity"] == "tpot_s"][SHAPE].astype(str).to_numpy()))
    e2e = e2e[[tuple(k) not in have for k in e2e[SHAPE].astype(str).to_numpy()]].copy()
    e2e["value"] = (e2e["value"] - e2e["sim_ttft_s"]) / (e2e["o"] - 1)
    e2e["sim"] = e2e["sim_tpot_s"]
    e2e["quantity"] = "tpot_s"
    return pd.concat([direct, e2e], ignore_index=True)


MIN_SOURCES = 2
# The held-out log-ratio quantiles that bound the corrected 90% interval. The within-group
# held-out spread is narrower than a truly new source's, so the 1st/99th percentiles are used (chosen
# by held-out coverage: 2.5/97.5% gave 83%, 1/99% 88%, the full range 89%):
# bench/measured_accuracy.py measures the coverage this gives on held-out sources.
SPREAD_QUANTILES = (0.01, 0.99)


def fit_correction(simulated: pd.DataFrame, frameworks: Sequence[str] = ("trtllm", "vllm")) -> Dict[str, Dict[str, PhaseCorrection]]:
    """{framework: {phase: PhaseCorrection}}, each phase's form chosen by leave-one-source-out
    median |error| (ties: fewer terms). A framework whose phase has rows from fewer than
    MIN_SOURCES sources gets the phase's pooled correction (all frameworks' rows)."""
    rows = fit_rows(simulated)
    out: Dict[str, Dict[str, PhaseCorrection]] = {}
    for backend in frameworks:
        for quantity, phase in PHASE_OF.items():
            group = rows[(rows["backend"] == backend) & (rows["quantity"] == quantity)]
            if group["source_id"].nunique() < MIN_SOURCES:
                group = rows[rows["quantity"] == quantity]
            out.setdefault(backend, {})[phase] = _fit_group(group)
    return out


def _fit_group(group: pd.DataFrame) -> PhaseCorrection:
    """The form with the best leave-one-source-out median |error|, fitted on all of `group`."""
    scores = {}
    for form in FORMS:
        predicted = held_out_predictions(group, form)
        err = np.abs(predicted / group["value"] - 1).dropna()
        if len(err):
            scores[form] = (round(float(err.median()), 4), len(FORMS[form]))
    best = min(scores, key=scores.get) if scores else "none"
    correction = fit_phase(group, best)
    held = held_out_predictions(group, best)
    log_ratio = np.log(group["value"] / held).dropna()
    if len(log_ratio) < 10:  # too few held-out rows: the in-sample spread
        log_ratio = np.log(group["value"] / correction.apply(group["sim"], group["num_layers"], group["tp"]))
    spread = tuple(float(np.quantile(log_ratio, q)) for q in SPREAD_QUANTILES)
    return PhaseCorrection(best, correction.coefficients, spread, correction.sources, correction.rows)


def correction_to_json(correction: Dict[str, Dict[str, PhaseCorrection]]) -> dict:
    return {"version": CORRECTION_VERSION, "formula": "measured = simulated * (1 + scale) + step + comm * layers * (TP - 1)",
            "frameworks": {b: {phase: {"form": c.form, "coefficients": {k: round(v, 10) for k, v in sorted(c.coefficients.items())},
                                       "spread_log": [round(c.spread[0], 6), round(c.spread[1], 6)], "sources": list(c.sources),
                                       "rows": c.rows} for phase, c in sorted(phases.items())} for b, phases in sorted(correction.items())},
            "command": "python -m helm_efficiency.sources.anchor --fit"}


def load_correction(path: str = CORRECTION_PATH) -> Dict[str, Dict[str, PhaseCorrection]]:
    with open(path) as f:
        raw = json.load(f)
    return {b: {phase: PhaseCorrection(c["form"], c["coefficients"], tuple(c["spread_log"]), tuple(c["sources"]), c["rows"])
                for phase, c in phases.items()} for b, phases in raw["frameworks"].items()}


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate", action="store_true", help=f"simulate every measured row (writes {os.path.relpath(ANCHOR_CACHE)})")
    parser.add_argument("--fit", action="store_true", help=f"fit the correction (writes {os.path.relpath(CORRECTION_PATH)})")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.simulate:
        from helm_efficiency.atomic import write_text_atomic
        from helm_efficiency.sources.measured import anchor_rows

        simulated = simulate_anchors(anchor_rows(), jobs=args.jobs)
        os.makedirs(os.path.dirname(ANCHOR_CACHE), exist_ok=True)
        write_text_atomic(ANCHOR_CACHE, simulated.to_csv(index=False, float_format="%.9g"))
        print(f"simulated {simulated['sim'].notna().sum()} of {len(simulated)} measured rows -> {ANCHOR_CACHE}")
    if args.fit:
        from helm_efficiency.atomic import write_text_atomic

        correction = fit_correction(load_simulated_anchors())
        write_text_atomic(CORRECTION_PATH, json.dumps(correction_to_json(correction), indent=1) + "\n")
        for backend, phases in sorted(correction.items()):
            for phase, c in sorted(phases.items()):
                print(f"{backend:7s} {phase:8s} form {c.form:16s} {c.coefficients} spread {np.exp(c.spread[0]):.3f}..{np.exp(c.spread[1]):.3f} ({c.rows} rows, {len(c.sources)} sources)")


if __name__ == "__main__":
    main()
