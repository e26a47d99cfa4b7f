"""The served correction: what real schedulers add to the simulator's batched operating points.

Fitted on published concurrency sweeps (sources/measured_served/), each simulated at its own
model, GPU, framework, TP, precision, request shape and batch (sources/served_anchor.py). For
three quantities q — GPU-seconds per output token (`gpu`, what served cost prices), time per
output token (`tpot`) and time to first token (`ttft`, both for the latency target):

    log(measured_q / simulated_q) = a_q[framework] + b_q · log2(running batch)

statsmodels WLS with each source weighted equally; FP8 rows simulated in FP8 teach the batch
behaviour alongside the 16-bit rows. The form (pooled, per framework, with or without the batch
term) is chosen by leave-one-source-out median |error| of the 16-bit rows. The 90% interval for a
new source comes from the held-out log-ratios' variance components (MixedLM, a random intercept
per source: sources/correction.variance_components), two-sided around the corrected value.

`correct_points(stack, model, points)` applies it to a served table's stored points: tokens/s per
GPU divided by the `gpu` ratio at the point's batch, TPOT and TTFT multiplied by theirs, so the
latency target is checked against what the stack measures, not what its kernels allow.

Power under load (`served_power_w`): per-GPU board power as a function of the running batch,
interpolated in log2(batch) over the measured rows' medians per concurrency (silybench vLLM H100
sweeps), with the 5th–95th percentile of their relative spread widened for a new source. Other
GPUs scale it by their board limit (hardware.json), a stated assumption with a wider band.

    python -m helm_efficiency.sources.served_correction --fit   # writes tables/data/served/served_correction.json
"""

import argparse
import json
import math
import os
import warnings
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError

CORRECTION_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tables", "data", "served", "served_correction.json")
VERSION = 1
QUANTITIES = {"gpu": ("gpu_s_per_token", "sim_gpu_s_per_token"), "tpot": ("tpot_s", "sim_tpot_s"), "ttft": ("ttft_s", "sim_ttft_s")}
FRAMEWORKS = ("trtllm", "vllm", "sglang")
FORMS = ("pooled", "pooled+batch", "framework", "framework+batch")
POWER_SOURCE_SPREAD = 0.10  # extra relative half-width for a new source's power (one measured source per GPU)
POWER_TRANSFER_SPREAD = 0.15  # extra relative half-width where a GPU's curve is scaled from another's board limit


def _design(rows: pd.DataFrame, form: str) -> np.ndarray:
    batch = np.log2(np.maximum(rows["batch"].to_numpy(float), 1.0))
    columns = [np.ones(len(rows))] if form.startswith("pooled") else [(rows["backend"].to_numpy() == f).astype(float) for f in FRAMEWORKS]
    if form.endswith("+batch"):
        columns.append(batch)
    return np.column_stack(columns)


def _fit(rows: pd.DataFrame, y: np.ndarray, form: str) -> np.ndarray:
    import statsmodels.api as sm

    weights = (1.0 / rows["source_id"].map(rows["source_id"].value_counts())).to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(sm.WLS(y, _design(rows, form), weights=weights).fit().params, float)


def fit_rows(simulated: pd.DataFrame) -> pd.DataFrame:
    """Rows simulated at their own precision with every quantity positive; `batch` = concurrency."""
    rows = simulated[simulated["sim_gpu_s_per_token"].notna()].copy()
    for measured, sim in QUANTITIES.values():
        rows = rows[(rows[measured] > 0) & (rows[sim] > 0)]
    rows["batch"] = rows["concurrency"].astype(float)
    return rows.reset_index(drop=True)


def held_out(rows: pd.DataFrame, quantity: str, form: str) -> pd.Series:
    """log(measured / simulated) predicted for each row by the form fitted without the row's source."""
    measured, sim = QUANTITIES[quantity]
    y = np.log(rows[measured] / rows[sim]).to_numpy(float)
    out = pd.Series(np.nan, index=rows.index)
    for source in rows["source_id"].unique():
        train = (rows["source_id"] != source).to_numpy()
        if not train.any():
            continue
        params = _fit(rows[train], y[train], form)
        out[~train] = _design(rows[~train], form) @ params
    return out


def fit_served_correction(rows: pd.DataFrame) -> dict:
    """{quantity: {form, params, interval_log, variance}} (JSON-ready), forms chosen leave-one-source-out on 16-bit rows."""
    from helm_efficiency.sources.correction import interval_from, variance_components

    out = {}
    sixteen = rows["dtype16"].astype(bool).to_numpy()
    for quantity, (measured, sim) in QUANTITIES.items():
        y = np.log(rows[measured] / rows[sim])
        scores, held = {}, {}
        for form in FORMS:
            held[form] = held_out(rows, quantity, form)
            err = np.abs(np.exp(y - held[form]) - 1)[sixteen].dropna()
            scores[form] = (round(float(err.median()), 4), FORMS.index(form)) if len(err) else (math.inf, 0)
        form = min(scores, key=scores.get)
        params = _fit(rows, y.to_numpy(float), form)
        residual = y - held[form]
        variance = variance_components(residual[sixteen], rows["source_id"][sixteen])
        lo, hi = interval_from(variance)
        out[quantity] = {"form": form, "params": [round(float(v), 8) for v in params], "interval_log": [round(lo, 6), round(hi, 6)],
                         "variance_components": {k: round(float(v), 8) for k, v in sorted(variance.items())},
                         "held_out_median_abs_error_16bit": scores[form][0]}
    return out


def ratio(fitted: dict, quantity: str, backend: str, batch) -> np.ndarray:
    """measured / simulated for `quantity` at a running batch (array) on a framework."""
    entry = fitted[quantity]
    frame = pd.DataFrame({"backend": backend, "batch": np.atleast_1d(np.asarray(batch, float))})
    return np.exp(_design(frame, entry["form"]) @ np.asarray(entry["params"], float))


@lru_cache(maxsize=1)
def load_served_correction(path: str = CORRECTION_PATH) -> Optional[dict]:
    """The fitted served correction, or None where it was never fitted (points stay simulated)."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        raw = json.load(f)
    if raw.get("version") != VERSION:
        raise EfficiencyInputError(path, "version", f"is {raw.get('version')!r}; this version reads {VERSION}")
    return raw


def backend_of(stack: str) -> str:
    from helm_efficiency.sources.aiconfigurator import STACKS

    return STACKS[stack].backend if stack in STACKS else stack.rsplit("-", 1)[-1]


def correct_points(stack: str, model: str, points: List[dict]) -> List[dict]:
    """The stored `points` of `model` on `stack`, corrected (new dicts; the input is not changed)."""
    fitted = load_served_correction()
    out = [dict(q) for q in points]
    if fitted is None or not out:
        return out
    backend = backend_of(stack)
    batch = np.array([q["batch_size"] for q in out], float)
    r_gpu, r_tpot, r_ttft = (ratio(fitted["quantities"], k, backend, batch) for k in ("gpu", "tpot", "ttft"))
    for q, g, t, f in zip(out, r_gpu, r_tpot, r_ttft):
        q["prefill_tok_s_per_gpu"] /= g
        q["decode_tok_s_per_gpu"] /= g
        q["tpot_ms"] *= t
        q["ttft_ms"] *= f
        if "gpu_s_per_request" in q:
            q["gpu_s_per_request"] *= g
    return out


def interval_factors(stack: str) -> Tuple[float, float, str]:
    """(lo, hi, source): the two-sided 90% band on a corrected served GPU time (for a new source)."""
    fitted = load_served_correction()
    if fitted is None:
        return 1.0, 1.0, "served correction not fitted: point estimate only"
    lo, hi = fitted["quantities"]["gpu"]["interval_log"]
    return float(np.exp(lo)), float(np.exp(hi)), f"{os.path.basename(CORRECTION_PATH)}: leave-one-source-out variance components"


# -- power under load ---------------------------------------------------------------------------------
def fit_power(measured: pd.DataFrame) -> Dict[str, dict]:
    """{gpu: {batch: [...], watts: [...], spread: (lo, hi) relative, sources}} from rows with gpu_power_w."""
    from helm_efficiency.sources.measured import GPUS, _match

    power = pd.to_numeric(measured.get("gpu_power_w"), errors="coerce")
    rows = measured[power.notna()].assign(watts=power[power.notna()], batch=pd.to_numeric(measured["concurrency"], errors="coerce"))
    rows = rows[rows["batch"].notna()]
    rows["gpu_key"] = rows["gpu"].map(lambda g: _match(GPUS, g))
    out = {}
    for gpu, group in rows.groupby("gpu_key"):
        medians = group.groupby("batch")["watts"].median()
        relative = group["watts"] / group["batch"].map(medians) - 1
        spread = (float(np.quantile(relative, 0.05)) - POWER_SOURCE_SPREAD, float(np.quantile(relative, 0.95)) + POWER_SOURCE_SPREAD)
        out[gpu] = {"batch": [float(b) for b in medians.index], "watts": [round(float(w), 3) for w in medians],
                    "spread": [round(spread[0], 4), round(spread[1], 4)], "rows": int(len(group)),
                    "sources": sorted(group["source_id"].unique())}
    return out


def served_power_w(hardware: str, batch) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(mid, lo, hi, source) watts per GPU at running batch sizes `batch` on `hardware`."""
    from helm_efficiency.analytic.hardware import hardware_spec

    batch = np.atleast_1d(np.asarray(batch, float))
    spec = hardware_spec(hardware)
    fitted = load_served_correction()
    curves = (fitted or {}).get("power", {})
    if spec is None or spec.power_w is None:
        nan = np.full(len(batch), np.nan)
        return nan, nan, nan, f"no power known for {hardware}"
    key, scale, extra = spec.key, 1.0, 0.0
    if key not in curves:
        if not curves:
            limit = np.full(len(batch), float(spec.power_w))
            return limit, limit, limit, f"the {spec.power_w:g} W board limit (no power-under-load fit)"
        key = sorted(curves)[0]
        scale = float(spec.power_w) / float(hardware_spec(key).power_w)
        extra = POWER_TRANSFER_SPREAD
    curve = curves[key]
    mid = scale * np.interp(np.log2(np.maximum(batch, 1.0)), np.log2(curve["batch"]), curve["watts"])
    lo = mid * (1 + curve["spread"][0] - extra)
    hi = np.minimum(mid * (1 + curve["spread"][1] + extra), float(spec.power_w))
    mid = np.minimum(mid, float(spec.power_w))
    how = (f"measured power under load on {key} ({curve['rows']} rows: {', '.join(curve['sources'])}), interpolated in log2(batch)"
           + (f", scaled by the board-limit ratio {scale:.2f} (assumption)" if key != spec.key else ""))
    return mid, np.minimum(lo, mid), np.maximum(hi, mid), how


def main(argv: Optional[Sequence[str]] = None) -> None:
    from helm_efficiency.atomic import write_text_atomic
    from helm_efficiency.sources.measured_served import load_served_measured
    from helm_efficiency.sources.served_anchor import load_served_simulated

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", action="store_true", help=f"fit and write {os.path.relpath(CORRECTION_PATH)}")
    args = parser.parse_args(argv)
    if args.fit:
        rows = fit_rows(load_served_simulated())
        payload = {"version": VERSION, "formula": "log(measured / simulated) = a[framework] + b * log2(running batch), per quantity",
                   "rows": int(len(rows)), "sources": sorted(rows["source_id"].unique()),
                   "quantities": fit_served_correction(rows), "power": fit_power(load_served_measured()),
                   "command": "python -m helm_efficiency.sources.served_correction --fit"}
        write_text_atomic(CORRECTION_PATH, json.dumps(payload, indent=1) + "\n")
        for k, v in payload["quantities"].items():
            print(f"{k:5s} form {v['form']:16s} params {v['params']} interval x{np.exp(v['interval_log'][0]):.3f}..x{np.exp(v['interval_log'][1]):.3f} "
                  f"(held-out 16-bit median |err| {v['held_out_median_abs_error_16bit']:.1%})")
        print(f"power curves: {sorted(payload['power'])}; {len(rows)} rows from {len(payload['sources'])} sources -> {CORRECTION_PATH}")


if __name__ == "__main__":
    main()
