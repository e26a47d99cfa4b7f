"""The served correction: what real schedulers add to the simulator's batched operating points.

Fitted on published concurrency and request-rate sweeps (sources/measured_served/; a rate
row at the requests in flight Little's law gives, see measured_served.served_rows), each simulated at its own
model, GPU, framework, TP, precision, request shape and batch (sources/served_anchor.py). For
three quantities q — GPU-seconds per output token (`gpu`, what served cost prices), time per
output token (`tpot`) and time to first token (`ttft`, both for the latency target):

    log forms:      log(measured_q / simulated_q) = a_q[framework] + b_q · log2(running batch)
    physical forms: measured_q = sim · (1 + scale) + step + per_request · batch
                                 [+ comm · layers · (TP − 1)]  [+ sim · fp8 on FP8 rows]

statsmodels WLS with each source weighted equally; FP8 rows simulated in FP8 teach the batch
behaviour alongside the 16-bit rows (with the fp8 term, at a level of their own). The form
(pooled or per framework, with or without the batch, all-reduce and FP8 terms; every TPOT form
with the version term, a TTFT form with or without it) is chosen by
leave-one-source-out median |error| of the 16-bit rows. The 90% interval for a
new source comes from the held-out log-ratios' variance components (MixedLM, a random intercept
per source: sources/correction.variance_components), two-sided around the corrected value. The
source-weighted 5th–95th percentiles of the same log-ratios (correction.interval_from_held_out)
are stored beside it, not used: `bench/served_accuracy.py` compares the two rules' held-out coverage.

`correct_points(stack, model, points, layers=...)` applies it to a served table's stored points:
TTFT and TPOT multiplied by their ratios at the point's batch, so the latency target is checked
against what the stack measures, not what its kernels allow, and tokens/s per GPU divided by the
growth of the closed-loop latency (`latency_factor`), as `corrected_gpu` prices the measured rows.

Power under load (`served_power_w`): per-GPU board power as a function of the running batch,
interpolated in log2(batch) over the measured rows' medians per batch size (H100: silybench's vLLM
sweeps, ML.ENERGY v3's batch-8 rows and batch-1 power rows; B200: an 8-GPU vLLM node's batch-1
run and its sweep at 28 to 1,725 streams), with the 5th–95th percentile of
their relative spread widened for a new source. A GPU without its own curve scales another's
by the board limits (hardware.json): the curve of the GPU whose limit is nearest, a stated
assumption with a wider band.

    python -m helm_efficiency.sources.served_correction --fit   # writes tables/data/served/served_correction.json
"""

import argparse
import json
import math
import os
import warnings
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.correction import flags, source_weights
from helm_efficiency.util import data_paths

CORRECTION_PATH = data_paths.SERVED_CORRECTION_PATH
VERSION = 1
QUANTITIES = {"gpu": ("gpu_s_per_token", "sim_gpu_s_per_token"), "tpot": ("tpot_s", "sim_tpot_s"), "ttft": ("ttft_s", "sim_ttft_s")}
FRAMEWORKS = ("trtllm", "vllm", "sglang")
POWER_SOURCE_SPREAD = 0.10  # extra relative half-width for a new source's power (one measured source per GPU)
POWER_TRANSFER_SPREAD = 0.15  # extra relative half-width where a GPU's curve is scaled from another's board limit


def ring_steps(tp: ArrayLike) -> np.ndarray:
    """Steps of a ring all-reduce over `tp` GPUs (TP − 1). At a running batch each all-reduce
    carries batch × hidden values, enough to be bandwidth-bound, where a ring's TP − 1 steps
    apply (at batch 1 the messages are latency-bound: sources/correction.comm_steps). With log2(TP)
    here instead, the served correction's nested leave-one-source-out error went from 8.0% to
    12.2% (CHANGELOG 2026-12-07, third session)."""
    return cast(np.ndarray, np.maximum(np.asarray(tp, float), 1.0) - 1.0)


def _design(rows: pd.DataFrame, form: str) -> np.ndarray:
    """Columns of a log-ratio form: an intercept (pooled or per framework), log2(batch), legacy."""
    batch = np.log2(np.maximum(rows["batch"].to_numpy(float), 1.0))
    columns = [np.ones(len(rows))] if "pooled" in form else [(rows["backend"].to_numpy() == f).astype(float) for f in FRAMEWORKS]
    if "+batch" in form:
        columns.append(batch)
    if "+legacy" in form:
        columns.append(flags(rows["legacy"]))
    if "+fp8" in form:
        columns.append(flags(rows["fp8"]))
    return np.column_stack(columns)


def _physical_design(rows: pd.DataFrame, form: str, sim: np.ndarray) -> Tuple[np.ndarray, List[str]]:
    """Columns of a physical TPOT form on measured/sim − 1: scale, a per-step overhead (s) and one
    growing with the running batch (s per request in flight), per framework or pooled; legacy."""
    names, columns = [], []
    groups = [("all", np.ones(len(rows)))] if "pooled" in form else [(f, (rows["backend"].to_numpy() == f).astype(float)) for f in FRAMEWORKS]
    batch = rows["batch"].to_numpy(float)
    for g, mask in groups:
        columns += [mask, mask / sim, mask * batch / sim]
        names += [f"scale@{g}", f"step@{g}", f"per_request@{g}"]
    if "+legacy" in form:
        columns.append(flags(rows["legacy"]))
        names.append("legacy")
    if "+fp8" in form:
        columns.append(flags(rows["fp8"]))
        names.append("fp8")
    if "+comm" in form:  # all-reduce per decode step: layers × ring steps (TP − 1), seconds each
        columns.append(rows["num_layers"].to_numpy(float) * ring_steps(rows["tp"]) / sim)
        names.append("comm")
    return np.column_stack(columns), names


def _wls(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(sm.WLS(y, x, weights=weights).fit().params, float)


SIGNED_TERMS = ("legacy", "fp8")  # with scale@<group>: relative terms, which may take either sign


def fit_physical(x: np.ndarray, names: Sequence[str], y: np.ndarray, weights: np.ndarray) -> Dict[str, float]:
    """WLS of y (measured / sim − 1) on a physical design's columns `names`; a time term is a cost,
    so a negative one is dropped and the rest refitted (scale@<group> and SIGNED_TERMS may take either sign)."""
    keep = [i for i in range(x.shape[1]) if x[:, i].any()]
    while True:
        params = _wls(x[:, keep], y, weights)
        negative = [k for k, v in zip(keep, params) if v < 0 and not (names[k].startswith("scale@") or names[k] in SIGNED_TERMS)]
        if not negative:
            return {names[k]: float(v) for k, v in zip(keep, params)}
        keep.remove(negative[0])


def fit_quantity(rows: pd.DataFrame, quantity: str, form: str) -> Dict[str, Any]:
    """One quantity's correction of `form`, fitted on `rows` (those with the quantity measured)."""
    measured, sim = QUANTITIES[quantity]
    rows = rows[(rows[measured] > 0) & (rows[sim] > 0)]
    if form.startswith("physical"):
        s = rows[sim].to_numpy(float)
        x, names = _physical_design(rows, form, s)
        y = (rows[measured] / rows[sim] - 1).to_numpy(float)
        return {"form": form, "coefficients": fit_physical(x, names, y, source_weights(rows["source_id"]))}
    y = np.log(rows[measured] / rows[sim]).to_numpy(float)
    return {"form": form, "params": [float(v) for v in _wls(_design(rows, form), y, source_weights(rows["source_id"]))]}


def predict_ratio(fit: Dict[str, Any], backend: ArrayLike, batch: ArrayLike, sim: ArrayLike, *, tp: ArrayLike = 1.0,
                  layers: ArrayLike = 0.0, legacy: ArrayLike = False) -> np.ndarray:
    """measured / simulated predicted by a fitted quantity (arrays). fp8 = 0: a 16-bit point, as
    every served table's is. `legacy`: the rows' version flags (a table stands for its
    simulator's current release: legacy = 0; a published row is judged with its own). `tp` and
    `layers` enter only a form with the all-reduce term."""
    batch = np.atleast_1d(np.asarray(batch, float))
    sim = np.broadcast_to(np.asarray(sim, float), batch.shape)
    backend = np.broadcast_to(np.asarray(backend, dtype=object), batch.shape)
    legacy = np.broadcast_to(np.asarray(legacy, dtype=object), batch.shape)
    if fit["form"].startswith("physical"):
        c = fit["coefficients"]
        group = np.array(["all"] * len(batch)) if "pooled" in fit["form"] else backend
        scale = np.array([c.get(f"scale@{g}", 0.0) for g in group])
        step = np.array([c.get(f"step@{g}", 0.0) for g in group])
        per_request = np.array([c.get(f"per_request@{g}", 0.0) for g in group])
        comm = c.get("comm", 0.0) * np.asarray(layers, float) * ring_steps(tp)
        old = c.get("legacy", 0.0) * flags(legacy)
        return cast(np.ndarray, np.maximum(1.0 + scale + old + (step + per_request * batch + comm) / sim, 1e-3))
    frame = pd.DataFrame({"backend": backend, "batch": batch, "legacy": legacy, "fp8": False})
    return cast(np.ndarray, np.exp(_design(frame, fit["form"]) @ np.asarray(fit["params"], float)))


def latency_factor(ttft: ArrayLike, tpot: ArrayLike, o: ArrayLike, ttft_ratio: ArrayLike, tpot_ratio: ArrayLike) -> np.ndarray:
    """How much a point's GPU time grows when its simulated TTFT and TPOT (one unit for both) are
    corrected: a closed-loop replica serves concurrency · o / (TTFT + (o − 1) · TPOT) tokens/s, so
    GPU time scales with that latency. The same factor applies to a point's prefill and decode GPU
    time, so the corrected point still obeys Little's law: GPUs × (TTFT + (o − 1) · TPOT) / batch.
    (`python bench/served_accuracy.py` prints, held out, the alternative that scales the
    simulator's prefill share by the TTFT ratio and the rest by the TPOT ratio.)"""
    ttft, tpot, o = (np.asarray(v, float) for v in (ttft, tpot, o))
    steps = np.maximum(o - 1.0, 0.0) * tpot
    return cast(np.ndarray, (ttft * np.asarray(ttft_ratio, float) + steps * np.asarray(tpot_ratio, float)) / (ttft + steps))


def latency_ratios(fits: Dict[str, Any], rows: pd.DataFrame) -> Tuple[np.ndarray, np.ndarray]:
    """(TTFT ratio, TPOT ratio) of the fitted correction at each simulated row, with its own version flag."""
    shape = {"tp": rows["tp"].to_numpy(float), "layers": rows["num_layers"].to_numpy(float), "legacy": rows["legacy"].to_numpy(object)}
    return (predict_ratio(fits["ttft"], rows["backend"].to_numpy(), rows["batch"], rows["sim_ttft_s"].to_numpy(float), **shape),
            predict_ratio(fits["tpot"], rows["backend"].to_numpy(), rows["batch"], rows["sim_tpot_s"].to_numpy(float), **shape))


def corrected_gpu(fits: Dict[str, Any], rows: pd.DataFrame) -> np.ndarray:
    """GPU-s per output token with TTFT and TPOT corrected (`latency_factor`), as the served tables
    correct their points (`correct_points`)."""
    f, t = latency_ratios(fits, rows)
    factor = latency_factor(rows["sim_ttft_s"], rows["sim_tpot_s"], rows["o"], f, t)
    return cast(np.ndarray, rows["sim_gpu_s_per_token"].to_numpy(float) * factor)


def fit_rows(simulated: pd.DataFrame) -> pd.DataFrame:
    """Rows simulated at their own configuration and precision with GPU-s per token measured; `batch` = concurrency."""
    own = np.where(simulated["dtype16"].astype(bool), "bf16", "fp8")
    rows = simulated[(simulated["sim_dtype"] == own) & (simulated["sim_gpu_s_per_token"] > 0) & (simulated["gpu_s_per_token"] > 0)
                     & (simulated["sim_tpot_s"] > 0) & (simulated["sim_ttft_s"] > 0)].copy()
    rows["batch"] = rows["concurrency"].astype(float)
    if "legacy" not in rows:
        rows["legacy"] = False
    return rows.reset_index(drop=True)


def _fit_all(rows: pd.DataFrame, ttft_form: str, tpot_form: str) -> Dict[str, Any]:
    return {"ttft": fit_quantity(rows, "ttft", ttft_form), "tpot": fit_quantity(rows, "tpot", tpot_form)}


def held_out_gpu_error(rows: pd.DataFrame, ttft_form: str, tpot_form: str,
                       tpot_ratio: Optional[Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]] = None) -> pd.Series:
    """log(corrected / measured GPU-s per token) of each row, fitted without the row's source.
    `tpot_ratio(train, held)`, where given, replaces the TPOT form's prediction: it gets the fold's
    training rows unfiltered (rows without a measured TPOT included) and returns measured / sim TPOT
    of the held-out rows (bench/served_terms.py judges candidate terms through it)."""
    out = pd.Series(np.nan, index=rows.index)
    for source in rows["source_id"].unique():
        held = (rows["source_id"] == source).to_numpy()
        if held.all():
            continue
        fits = _fit_all(rows[~held], ttft_form, tpot_form)
        if tpot_ratio is None:
            corrected = corrected_gpu(fits, rows[held])
        else:
            f, _ = latency_ratios(fits, rows[held])
            t = tpot_ratio(rows[~held], rows[held])
            corrected = rows.loc[held, "sim_gpu_s_per_token"].to_numpy(float) * latency_factor(
                rows.loc[held, "sim_ttft_s"], rows.loc[held, "sim_tpot_s"], rows.loc[held, "o"], f, t)
        out[held] = np.log(corrected / rows.loc[held, "gpu_s_per_token"].to_numpy(float))
    return out


TTFT_FORMS = ("log-pooled", "log-framework", "log-pooled+batch")
TPOT_FORMS = ("log-pooled", "log-framework+batch", "physical-pooled", "physical-framework", "physical-pooled+comm",
              "physical-framework+comm", "physical-pooled+comm+fp8")


def _latency_form(rows: pd.DataFrame, quantity: str, forms: Sequence[str]) -> Tuple[str, Dict[str, float]]:
    """The form of TTFT or TPOT with the best leave-one-source-out median |error| on 16-bit rows."""
    measured, sim = QUANTITIES[quantity]
    rows = rows[(rows[measured] > 0) & (rows[sim] > 0)]
    scores = {}
    for form in forms:
        held = pd.Series(np.nan, index=rows.index)
        for source in rows["source_id"].unique():
            mask = (rows["source_id"] == source).to_numpy()
            if mask.all():
                continue
            fit = fit_quantity(rows[~mask], quantity, form)
            held[mask] = rows.loc[mask, sim] * predict_ratio(fit, rows.loc[mask, "backend"].to_numpy(), rows.loc[mask, "batch"], rows.loc[mask, sim],
                                                             tp=rows.loc[mask, "tp"].to_numpy(float), layers=rows.loc[mask, "num_layers"].to_numpy(float),
                                                             legacy=rows.loc[mask, "legacy"].to_numpy(object))
        err = np.abs(held / rows[measured] - 1)[rows["dtype16"].astype(bool)].dropna()
        scores[form] = round(float(err.median()), 4) if len(err) else math.inf
    return min(scores, key=lambda f: (scores[f], len(f))), scores


# The version term: rows of releases older than the framework's current era carry it
# (sources/measured.legacy_version); a table stands for its simulator's current release (legacy =
# 0). Leave-one-source-out it pays for itself once two older-release sources can predict each
# other (NIM 2024 and TensorRT-LLM v0.14's Triton tables: 16-bit error 13.9% -> 8.5%).
VERSION_TERM = True


def fit_served_correction(rows: pd.DataFrame, version_term: bool = VERSION_TERM) -> Dict[str, Any]:
    """{ttft, tpot: fitted form, gpu: interval}: each latency's form chosen by its own
    leave-one-source-out error on 16-bit rows (the latency decides which batch meets a target),
    every TPOT form with the version term when `version_term` (TTFT forms with and without it);
    the interval on GPU-s per output token from the held-out errors' variance components, and the
    source-weighted quantile interval beside it for inspection."""
    from helm_efficiency.sources.correction import interval_from, interval_from_held_out, variance_components

    def with_version_term(forms: Sequence[str], required: bool = False) -> List[str]:
        if not version_term:
            return list(forms)
        return [f + "+legacy" for f in forms] if required else [g for f in forms for g in (f, f + "+legacy")]

    ttft_form, ttft_scores = _latency_form(rows, "ttft", with_version_term(TTFT_FORMS))
    # With the version term every TPOT form carries it: the release is a stated fact of each row
    # (sources/measured.legacy_version), and a form without it would price an older release's
    # rows as the current one. With only two older-release sources, the inner leave-one-source-out
    # otherwise dropped the term in the fold that holds out NIM 2024 (CHANGELOG 2026-12-08, twelfth session).
    tpot_form, tpot_scores = _latency_form(rows, "tpot", with_version_term(TPOT_FORMS, required=True))
    fits = _fit_all(rows, ttft_form, tpot_form)
    sixteen = rows["dtype16"].astype(bool).to_numpy()
    held = held_out_gpu_error(rows, ttft_form, tpot_form)
    variance = variance_components(-held[sixteen], rows["source_id"][sixteen])  # log(measured / corrected)
    lo, hi = interval_from(variance)
    q_lo, q_hi = interval_from_held_out(-held[sixteen], rows["source_id"][sixteen])
    fits["gpu"] = {"interval_log": [round(lo, 6), round(hi, 6)], "interval_log_quantiles": [round(q_lo, 6), round(q_hi, 6)],
                   "variance_components": {k: round(float(v), 8) for k, v in sorted(variance.items())},
                   "held_out_median_abs_error_16bit": round(float(np.median(np.abs(np.exp(held[sixteen].dropna()) - 1))), 4),
                   "ttft_scores": ttft_scores, "tpot_scores": tpot_scores}
    return fits


def ratio(fitted: Dict[str, Any], quantity: str, backend: str, batch: ArrayLike, sim: Optional[ArrayLike] = None, *, tp: ArrayLike = 1.0,
          layers: ArrayLike = 0.0) -> np.ndarray:
    """measured / simulated for TTFT or TPOT at running batches (array) on a framework."""
    return predict_ratio(fitted[quantity], backend, batch, 1.0 if sim is None else sim, tp=tp, layers=layers)


@lru_cache(maxsize=1)
def load_served_correction(path: str = CORRECTION_PATH) -> Optional[Dict[str, Any]]:
    """The fitted served correction, or None where it was never fitted (points stay simulated)."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        raw: Dict[str, Any] = json.load(f)
    if raw.get("version") != VERSION:
        raise EfficiencyInputError(path, "version", f"is {raw.get('version')!r}; this version reads {VERSION}")
    return raw


def backend_of(stack: str) -> str:
    from helm_efficiency.sources.aiconfigurator import STACKS

    return STACKS[stack].backend if stack in STACKS else stack.rsplit("-", 1)[-1]


def correct_points(stack: str, model: str, points: List[Dict[str, Any]], *, layers: int = 0) -> List[Dict[str, Any]]:
    """The stored `points` of `model` on `stack`, corrected (new dicts; the input is not changed):
    TTFT and TPOT by their fitted ratios at the point's batch (and, where the form has one, the
    all-reduce term of the model's `layers` at the point's TP), and prefill and decode tokens/s per
    GPU divided by `latency_factor` at the point's shape (num_output_tokens), so GPU time and the
    latency target both see the correction, as `corrected_gpu` prices the measured rows the
    correction is judged on."""
    fitted = load_served_correction()
    out = [dict(q) for q in points]
    if fitted is None or not out:
        return out
    backend = backend_of(stack)
    batch = np.array([q["batch_size"] for q in out], float)
    shape: Dict[str, ArrayLike] = {"tp": np.array([q["tp"] for q in out], float), "layers": float(layers)}
    ttft_ms, tpot_ms = (np.array([q[k] for q in out], float) for k in ("ttft_ms", "tpot_ms"))
    r_ttft = ratio(fitted["quantities"], "ttft", backend, batch, ttft_ms / 1e3, **shape)
    r_tpot = ratio(fitted["quantities"], "tpot", backend, batch, tpot_ms / 1e3, **shape)
    factor = latency_factor(ttft_ms, tpot_ms, [q["num_output_tokens"] for q in out], r_ttft, r_tpot)
    for q, f, t, k in zip(out, r_ttft, r_tpot, factor):
        q["prefill_tok_s_per_gpu"] /= k
        q["decode_tok_s_per_gpu"] /= k
        q["tpot_ms"] *= t
        q["ttft_ms"] *= f
        q.pop("gpu_s_per_request", None)
    return out


def interval_factors(stack: str) -> Tuple[float, float, str]:
    """(lo, hi, source): the two-sided 90% band on a corrected served GPU time (for a new source)."""
    fitted = load_served_correction()
    if fitted is None:
        return 1.0, 1.0, "served correction not fitted: point estimate only"
    lo, hi = fitted["quantities"]["gpu"]["interval_log"]
    return float(np.exp(lo)), float(np.exp(hi)), f"{os.path.basename(CORRECTION_PATH)}: leave-one-source-out variance components"


# -- power under load ---------------------------------------------------------------------------------
MIN_POWER_BATCHES = 2  # a GPU's own power curve needs this many measured batch sizes


def power_rows(measured: pd.DataFrame, batch1: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """(source_id, gpu_key, batch, watts) per GPU from served rows with `gpu_power_w`, plus the
    batch-1 folder's under-load rows: ML.ENERGY v3's smallest batch (max_num_seqs 8) and whole-
    request or decode power at batch 1."""
    from helm_efficiency.sources.measured import GPUS, _match

    power = pd.to_numeric(measured.get("gpu_power_w"), errors="coerce")
    served = measured[power.notna()]
    frames = [pd.DataFrame({"source_id": served["source_id"], "gpu_key": served["gpu"].map(lambda g: _match(GPUS, g)),
                            "batch": pd.to_numeric(served["concurrency"], errors="coerce"), "watts": power[power.notna()]})]
    if batch1 is not None:
        eight = batch1[(batch1["metric"] == "avg_power_w_per_gpu") & batch1["batch"].str.contains("max_num_seqs=8")]
        one = batch1[batch1["metric"].isin(["avg_gpu_power_w", "avg_gpu_power_decode_w"]) & (batch1["batch"] == "1")]
        for rows, batch in ((eight, 8.0), (one, 1.0)):
            frames.append(pd.DataFrame({"source_id": rows["source_id"], "gpu_key": rows["gpu"].map(lambda g: _match(GPUS, g)),
                                        "batch": batch, "watts": pd.to_numeric(rows["value"], errors="coerce")}))
    out = pd.concat(frames, ignore_index=True)
    return out[out["gpu_key"].notna() & (out["batch"] > 0) & (out["watts"] > 0)]


def fit_power(rows: pd.DataFrame) -> Dict[str, Dict[str, Any]]:
    """{gpu: {batch: [...], watts: [...], spread: (lo, hi) relative, sources}}: per GPU with at least
    MIN_POWER_BATCHES measured batch sizes, the median watts per batch size made non-decreasing in
    batch by isotonic regression weighted by each batch size's rows (scipy: adjacent medians that
    fall are pooled, so one high row does not lift every larger batch), and the 5th–95th
    percentile of the rows' relative spread around it, widened by POWER_SOURCE_SPREAD for a new source."""
    from scipy.optimize import isotonic_regression

    out = {}
    for gpu, group in rows.groupby("gpu_key"):
        per_batch = group.groupby("batch")["watts"].agg(["median", "size"])
        if len(per_batch) < MIN_POWER_BATCHES:
            continue
        medians = per_batch["median"]
        curve = isotonic_regression(medians.to_numpy(float), weights=per_batch["size"].to_numpy(float)).x
        relative = group["watts"] / group["batch"].map(dict(zip(medians.index, curve))) - 1
        spread = (float(np.quantile(relative, 0.05)) - POWER_SOURCE_SPREAD, float(np.quantile(relative, 0.95)) + POWER_SOURCE_SPREAD)
        out[gpu] = {"batch": [float(b) for b in medians.index], "watts": [round(float(w), 3) for w in curve],
                    "spread": [round(spread[0], 4), round(spread[1], 4)], "rows": int(len(group)),
                    "sources": sorted(group["source_id"].unique())}
    return out


def served_power_w(hardware: str, batch: ArrayLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str]:
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
        # the measured curve of the GPU whose board limit is nearest (H200 and A100: H100's)
        key = min(curves, key=lambda k: (abs(math.log(float(spec.power_w) / float(hardware_spec(k).power_w))), k))
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
    from helm_efficiency.util.atomic import write_text_atomic
    from helm_efficiency.sources.measured import load_measured
    from helm_efficiency.sources.measured_served import load_served_measured
    from helm_efficiency.sources.served_anchor import load_served_simulated

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", action="store_true", help=f"fit and write {os.path.relpath(CORRECTION_PATH)}")
    args = parser.parse_args(argv)
    if args.fit:
        rows = fit_rows(load_served_simulated())
        payload: Dict[str, Any] = {"version": VERSION, "formula": "per quantity, the form chosen leave-one-source-out (see the module docstring and each quantity's form)",
                   "rows": int(len(rows)), "sources": sorted(rows["source_id"].unique()),
                   "quantities": fit_served_correction(rows), "power": fit_power(power_rows(load_served_measured(), load_measured())),
                   "command": "python -m helm_efficiency.sources.served_correction --fit"}
        write_text_atomic(CORRECTION_PATH, json.dumps(payload, indent=1) + "\n")
        q = payload["quantities"]
        for k in ("ttft", "tpot"):
            print(f"{k:5s} form {q[k]['form']:22s} {q[k].get('coefficients') or q[k].get('params')}")
        g = q["gpu"]
        print(f"GPU-s per output token: held-out 16-bit median |err| {g['held_out_median_abs_error_16bit']:.1%}, interval "
              f"x{np.exp(g['interval_log'][0]):.3f}..x{np.exp(g['interval_log'][1]):.3f}; TPOT forms {g['tpot_scores']}; TTFT forms {g['ttft_scores']}")
        print(f"power curves: {sorted(payload['power'])}; {len(rows)} rows from {len(payload['sources'])} sources -> {CORRECTION_PATH}")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
