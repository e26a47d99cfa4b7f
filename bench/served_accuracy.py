"""How close is served cost to what published serving measures, raw and corrected, and do the intervals hold?

    python -m helm_efficiency.sources.served_anchor --simulate -j 2   # once, after the served data change
    python bench/served_accuracy.py

Every concurrency-sweep row of helm_efficiency/sources/measured_served/ simulated at its own
model, GPU, framework, TP, precision, request shape and batch (sources/served_anchor.py). The
compared quantity is GPU-seconds per output token (GPUs / output tokens per second), what
`efficiency_served_gpu_s` prices per token. The correction (sources/served_correction.py) is
judged leave-one-source-out with nested refits: for each source, form choice and variance
components come from the other sources only. error = predicted / measured − 1.

Prints raw vs corrected median |error|, signed median and 90% coverage per stack, running-batch
band (≤ 16, 17–64, > 64), output-length band (< 1k, 1k–4k, > 4k), prompt tokens per output token
(≤ 0.5, 0.5–5, > 5: HELM's requests are mostly prompt-heavy), TP 1 vs TP > 1 and precision;
the coverage of a second interval rule (source-weighted quantiles of the held-out errors, not
shipped) beside the shipped one's; energy per output token where power was measured; FP8 rows as bounds; decode-window rows (pure
decode at a known number of streams) against the simulator's decode step; ML.ENERGY v3's
smallest-batch rows (the only rows of its sweeps we hold) against the corrected TPOT at batch 8; the shipped tables priced
at each measured row's own latency, and like for like at its own running batch (`Sla.max_batch`) (and at each throughput-only row's time per output token);
and the shipped tables at the default latency target against each measured sweep's cheapest
point that meets it.
"""

import argparse
import sys
import os
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helm_efficiency.sources import served_correction as S  # noqa: E402
from helm_efficiency.sources.anchor import routes_to_experts  # noqa: E402
from helm_efficiency.sources.served_anchor import load_served_simulated  # noqa: E402


def held_out_gpu(rows: pd.DataFrame, version_term: bool = S.VERSION_TERM) -> pd.DataFrame:
    """Rows with corrected GPU-s per output token and its 90% band, each source predicted by a
    correction fitted without it (a held-out row with its own version flag, as measured)."""
    out = []
    for source in sorted(rows["source_id"].unique()):
        train, held = rows[rows["source_id"] != source], rows[rows["source_id"] == source].copy()
        fitted = S.fit_served_correction(train, version_term=version_term)
        held["corrected"] = S.corrected_gpu(fitted, held)
        held["split"] = split_composition(fitted, held)
        for suffix, key in (("", "interval_log"), ("_quantiles", "interval_log_quantiles")):  # the second rule is not shipped
            lo, hi = fitted["gpu"][key]
            held["lo" + suffix], held["hi" + suffix] = held["corrected"] * np.exp(lo), held["corrected"] * np.exp(hi)
        out.append(held)
    return pd.concat(out)


def split_composition(fits, rows: pd.DataFrame) -> np.ndarray:
    """The composition not shipped, for comparison: the simulated GPU time's prefill share scaled
    by the TTFT ratio and the rest by the TPOT ratio (the tables did this before 2026-12-07)."""
    f, t = S.latency_ratios(fits, rows)
    share = rows["sim_prefill_share"].to_numpy(float)
    return rows["sim_gpu_s_per_token"].to_numpy(float) * (share * f + (1.0 - share) * t)


def composition_line(fitted: pd.DataFrame) -> str:
    """Held-out error of the shipped composition against the prefill-share split, by precision and release."""
    parts = []
    for name, rows in (("16-bit", fitted[fitted["dtype16"].astype(bool)]), ("FP8", fitted[~fitted["dtype16"].astype(bool)]),
                       ("current-release 16-bit", fitted[fitted["dtype16"].astype(bool) & ~fitted["legacy"].astype(bool)])):
        errors = [rows[c] / rows["gpu_s_per_token"] - 1 for c in ("corrected", "split")]
        parts.append(f"{name} ({len(rows)} rows) " + " vs ".join(f"{np.median(np.abs(e)):.1%} ({np.median(e):+.1%})" for e in errors))
    return ("GPU time composed by the closed-loop latency (shipped) vs split by the simulator's prefill share "
            "(prefill x TTFT ratio, decode x TPOT ratio), held out, median |error| (signed): " + "; ".join(parts))


def interval_rule_line(sixteen: pd.DataFrame) -> str:
    """Held-out 16-bit coverage and median width of the shipped interval rule (variance components,
    Student t) and of the rule not shipped (source-weighted quantiles of the held-out errors)."""
    def cover(lo: str, hi: str) -> str:
        inside = (sixteen[lo] <= sixteen["gpu_s_per_token"]) & (sixteen["gpu_s_per_token"] <= sixteen[hi])
        by_source = inside.groupby(sixteen["source_id"]).mean().mean()
        width = (sixteen[hi] / sixteen[lo]).median()
        return f"{inside.mean():.1%} of rows ({by_source:.1%} each source once), hi/lo x{width:.2f} (median over rows)"
    return (f"interval rule, held out (16-bit): variance components (MixedLM, Student t; shipped) {cover('lo', 'hi')}; "
            f"source-weighted quantiles of the held-out errors {cover('lo_quantiles', 'hi_quantiles')}")


def summarize(rows: pd.DataFrame, by) -> pd.DataFrame:
    raw = rows["sim_gpu_s_per_token"] / rows["gpu_s_per_token"] - 1
    corrected = rows["corrected"] / rows["gpu_s_per_token"] - 1
    covered = (rows["gpu_s_per_token"] >= rows["lo"]) & (rows["gpu_s_per_token"] <= rows["hi"])
    frame = rows.assign(raw=raw, corrected_err=corrected, covered=covered)
    table = frame.groupby(by).agg(rows=("raw", "size"), sources=("source_id", "nunique"),
                                  raw_median_abs=("raw", lambda e: np.median(np.abs(e))), raw_signed=("raw", "median"),
                                  corrected_median_abs=("corrected_err", lambda e: np.median(np.abs(e))),
                                  corrected_signed=("corrected_err", "median"), coverage90=("covered", "mean"))
    table["corrected_beats_raw"] = table["corrected_median_abs"] < table["raw_median_abs"]
    return table


FORMAT = {c: (lambda v: f"{v:.1%}") for c in ("raw_median_abs", "corrected_median_abs", "coverage90")}
FORMAT.update({c: (lambda v: f"{v:+.1%}") for c in ("raw_signed", "corrected_signed")})


def energy(rows: pd.DataFrame) -> None:
    """Energy per output token where power was measured: measured W × GPU-s per token against our
    power at the running batch (fitted without the row's source) × corrected GPU-s per token."""
    from helm_efficiency.sources.measured_served import load_served_measured

    with_power = rows[rows["power_w"] > 0]
    if with_power.empty:
        print("energy: no served row with measured power")
        return
    from helm_efficiency.sources.measured import load_measured

    power = S.power_rows(load_served_measured(), load_measured())
    out = []
    for source, held in with_power.groupby("source_id"):
        curves = S.fit_power(power[power["source_id"] != source])
        for gpu, g in held.groupby("gpu"):
            if gpu in curves:
                curve = curves[gpu]
                watts = np.interp(np.log2(g["batch"]), np.log2(curve["batch"]), curve["watts"])
            else:  # no other source measured this GPU's power at enough batch sizes: the board limit
                from helm_efficiency.analytic.hardware import hardware_spec

                watts = np.full(len(g), float(hardware_spec(gpu).power_w))
            out.append(g.assign(pred_j=watts * g["corrected"], meas_j=g["power_w"] * g["gpu_s_per_token"]))
    frame = pd.concat(out)
    err = frame["pred_j"] / frame["meas_j"] - 1
    print(f"energy per output token: {len(frame)} rows from {frame['source_id'].nunique()} source(s) with measured power; "
          f"median |error| {np.median(np.abs(err)):.1%}, signed {np.median(err):+.1%} (power fitted without the row's source; "
          "a GPU no other source measured gets its board limit)")
    in_sample = []
    for gpu, g in frame.groupby("gpu"):
        watts, _, _, _ = S.served_power_w(gpu, g["batch"])
        in_sample.append(watts * g["corrected"] / g["meas_j"] - 1)
    print(f"  with the shipped power curve (in-sample for its source): median |error| {np.median(np.abs(np.concatenate(in_sample))):.1%}")


def _registry_key(hf_id: str):
    from helm_efficiency.analytic.registry import registry_name
    from helm_efficiency.sources.anchor import SUFFIXES

    for candidate in [hf_id] + [hf_id[: -len(x)] for x in SUFFIXES if hf_id.endswith(x)]:
        for name in (candidate, candidate.replace("Meta-Llama-3", "Llama-3")):
            key = registry_name(name)
            if key:
                return key
    return None


def fp8_bound(simulated: pd.DataFrame) -> None:
    """FP8 measurements bound a 16-bit estimate from below: the corrected bf16 simulation of each FP8 row
    (same model, GPU, framework, TP, shape and batch) should not be cheaper than what FP8 measured."""
    rows = simulated[~simulated["dtype16"].astype(bool) & (simulated["sim_dtype"] == "bf16") & (simulated["sim_gpu_s_per_token"] > 0)
                     & (simulated["sim_tpot_s"] > 0) & (simulated["sim_ttft_s"] > 0)].assign(batch=lambda f: f["concurrency"].astype(float))
    if rows.empty:
        print("FP8 bound: no FP8 row simulated in bf16")
        return
    fitted = S.load_served_correction()["quantities"]
    corrected = S.corrected_gpu(fitted, rows)
    print(f"FP8 rows as lower bounds: corrected bf16 GPU-s per output token >= the FP8 measurement in "
          f"{np.mean(corrected >= rows['gpu_s_per_token']):.0%} of {len(rows)} rows (raw simulator: {np.mean(rows['sim_gpu_s_per_token'] >= rows['gpu_s_per_token']):.0%})")
    held = corrected >= rows["gpu_s_per_token"]
    moe = rows["hf_id"].map(routes_to_experts)
    for label, mask in (("dense models", ~moe), ("mixture-of-experts models (the correction has no MoE term)", moe)):
        by = rows[mask].assign(held=held[mask]).groupby(["gpu", "backend"])["held"].agg(["size", "mean"])
        print(f"  {label}: {held[mask].mean():.0%} of {int(mask.sum())} rows; "
              + ", ".join(f"{g}-{b} {m:.0%} of {int(n)}" for (g, b), (n, m) in by.iterrows()))


def own_placement_gpu_s(stack: str, model: str, tp: int, sla, p: float, o: float) -> float:
    """The served GPU-s of one request with the table held to the measured row's own TP (the
    stored, corrected points of that TP only; NaN where none of them meets the latency)."""
    from helm_efficiency.tables.served import ServedTable, _ModelPoints, _priced_by_shape, load_served_table

    table = load_served_table(stack)
    entry = dict(table.entries[model])
    entry["points"] = {shape: [row for row in rows if int(row[0]) == tp] for shape, rows in entry["points"].items()}
    own = ServedTable(table.name, dict(table.raw, entries={model: entry}))
    return float(_priced_by_shape(_ModelPoints(own, model, sla), np.array([float(p)]), np.array([float(o)]))[0][0])


def table_view(rows: pd.DataFrame) -> None:
    """The shipped served tables as a user meets them: each 16-bit measured row on a shipped stack
    priced by `served_estimates` with the row's own latency as the target (TPOT ≤ measured TPOT,
    TTFT ≤ measured TTFT), against the measured GPU-s per output token."""
    from helm_efficiency.tables.served import Sla, has_served_table, served_estimates

    sixteen = rows[rows["dtype16"].astype(bool) & (rows["tpot_s"] > 0) & (rows["ttft_s"] > 0)].copy()
    # the shipped correction at each row's own placement and batch, for the current release (what the tables stand for)
    sixteen["current"] = S.corrected_gpu(S.load_served_correction()["quantities"], sixteen.assign(legacy=False))
    out = []
    for (hf_id, gpu, backend), g in sixteen.groupby(["hf_id", "gpu", "backend"]):
        stack, key = f"{gpu}-{backend}", _registry_key(hf_id)
        if not has_served_table(stack) or key is None:
            continue
        for r in g.itertuples():
            sla = Sla(tpot_ms=r.tpot_s * 1e3, ttft_s=max(r.ttft_s, 0.05))
            est = served_estimates([key], [r.p], [r.o], stack=stack, sla=sla).iloc[0]
            if est["served_method"] != "simulated":  # the table view judges the simulated tables, not a transfer
                continue
            # like for like: at most the row's own running batch, TPOT <= measured, TTFT not limited (a sweep's TTFT holds queueing)
            capped = served_estimates([key], [r.p], [r.o], stack=stack,
                                      sla=Sla(tpot_ms=r.tpot_s * 1e3, ttft_s=600.0, max_batch=max(1, round(r.batch)))).iloc[0]
            own = own_placement_gpu_s(stack, key, int(r.tp), sla, r.p, r.o)
            if np.isfinite(est["served_gpu_s"]):
                out.append({"stack": stack, "model": key, "batch": r.batch, "err": est["served_gpu_s"] / r.o / r.gpu_s_per_token - 1,
                            "covered": est["served_gpu_s_lo"] <= r.gpu_s_per_token * r.o <= est["served_gpu_s_hi"],
                            "same_tp": est["served_placement"].split(" ")[0] == f"tp{int(r.tp)}",
                            "hi_factor": est["served_gpu_s_hi"] / est["served_gpu_s"],
                            "own_err": own / r.o / r.gpu_s_per_token - 1, "older_release": bool(r.legacy == True),  # noqa: E712
                            "batch_err": capped["served_gpu_s"] / r.o / r.gpu_s_per_token - 1,
                            "batch_covered": capped["served_gpu_s_lo"] <= r.gpu_s_per_token * r.o <= capped["served_gpu_s_hi"],
                            "table_over_current": capped["served_gpu_s"] / r.o / r.current, "current_over_measured": r.current / r.gpu_s_per_token,
                            "capped_same_tp": capped["served_placement"].split(" ")[0] == f"tp{int(r.tp)}", "p": r.p, "o": r.o,
                            "table_ms": capped["served_gpu_s"] / r.o * 1e3, "current_ms": r.current * 1e3})
    if not out:
        print("table view: no 16-bit row on a shipped stack")
        return
    frame = pd.DataFrame(out)
    frame["batch_band"] = pd.cut(frame["batch"], [0, 16, 64, np.inf], labels=["<=16", "17-64", ">64"])
    print(f"shipped tables at each row's own latency (served_estimates, TPOT and TTFT <= measured) vs measured: {len(frame)} 16-bit rows, "
          f"median |error| {np.median(np.abs(frame['err'])):.1%}, signed {np.median(frame['err']):+.1%}, coverage {frame['covered'].mean():.0%}")
    bands = frame.groupby(["stack", "batch_band"], observed=True).agg(
        rows=("err", "size"), median=("err", "median"), median_abs=("err", lambda e: np.median(np.abs(e))), coverage=("covered", "mean"),
        same_placement=("same_tp", "mean"), own_tp_median=("own_err", "median"), own_tp_rows=("own_err", "count"))
    for column in ("median", "median_abs", "coverage", "same_placement", "own_tp_median"):
        bands[column] = bands[column].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:+.1%}" if column in ("median", "own_tp_median") else f"{v:.1%}")
    print(bands.to_string())
    print("same_placement: share of rows whose priced point has the measured row's own TP (else the table serves that "
          "latency on another placement, usually more GPUs at a larger batch); own_tp_median: the signed error with the "
          "table held to the row's own TP (own_tp_rows: rows where a stored point of that TP meets the latency)")
    capped = frame[np.isfinite(frame["batch_err"])]
    print(f"the same rows priced like for like, at most the row's own running batch (`--sla tpot=<measured>,ttft=600s,batch=<concurrency>`): "
          f"{len(capped)} rows priced, median |error| {np.median(np.abs(capped['batch_err'])):.1%}, signed {np.median(capped['batch_err']):+.1%}, "
          f"coverage {capped['batch_covered'].mean():.0%}")
    print(capped.groupby(["stack", "batch_band"], observed=True).agg(
        rows=("batch_err", "size"), median=("batch_err", "median"), median_abs=("batch_err", lambda e: np.median(np.abs(e))),
        coverage=("batch_covered", "mean")).to_string(formatters={"median": "{:+.1%}".format, "median_abs": "{:.1%}".format, "coverage": "{:.0%}".format}))
    ratio = capped["table_over_current"]
    print(f"  where that error comes from: the shipped correction at each row's own placement and batch, for the current release, "
          f"over measured: median x{capped['current_over_measured'].median():.3f} (the rows' releases); the capped table over it: "
          f"median x{ratio.median():.3f}, 10th-90th percentile x{ratio.quantile(0.1):.2f}-x{ratio.quantile(0.9):.2f} (the stored points: "
          f"thinned per placement and batch, interpolated in batch and shape, another placement where cheaper)")
    same = (capped[capped["capped_same_tp"]].assign(p=lambda f: f["p"].round(), o=lambda f: f["o"].round())
            .drop_duplicates(["model", "stack", "p", "o", "batch"]).sort_values("table_over_current", ascending=False).head(4))
    print("  largest of those ratios on the row's own TP (GPU-ms per output token, table vs the correction at that batch): " + "; ".join(
        f"{r.model} on {r.stack}, p {r.p:.0f}, o {r.o:.0f}, batch {r.batch:g}: {r.table_ms:.1f} vs {r.current_ms:.1f}" for r in same.itertuples()))
    by_release = frame.groupby("older_release")["err"].agg(["size", "median", lambda e: np.median(np.abs(e))])
    print("by release (the tables stand for the current one): " + "; ".join(
        f"{'older' if older else 'current'} releases: {int(row.iloc[0])} rows, signed {row.iloc[1]:+.1%}, median |error| {row.iloc[2]:.1%}"
        for older, row in by_release.iterrows()))
    width = frame.groupby("batch_band", observed=True)["hi_factor"].quantile([0.5, 0.9]).unstack()
    print("the band's upper factor (served_gpu_s_hi / served_gpu_s) at each row's latency, by running batch: "
          + "; ".join(f"{band}: median x{row[0.5]:.2f}, 90th percentile x{row[0.9]:.2f}" for band, row in width.iterrows()))


def table_view_from_throughput(rows: pd.DataFrame) -> None:
    """The shipped tables against 16-bit sweeps that measured throughput but no TPOT (silybench's
    vLLM H100 runs): each row priced by `served_estimates` with the row's own time per output
    token (concurrency · GPU-s per output token / GPUs, prefill included, so an upper bound on its
    TPOT: the table gets a target at least as loose as the row's) and no TTFT limit."""
    from helm_efficiency.tables.served import Sla, has_served_table, served_estimates

    sixteen = rows[rows["dtype16"].astype(bool) & ~(rows["tpot_s"] > 0) & (rows["num_gpus"] == rows["tp"])]
    out = []
    for r in sixteen.itertuples():
        stack, key = f"{r.gpu}-{r.backend}", _registry_key(r.hf_id)
        if not has_served_table(stack) or key is None:
            continue
        per_token_ms = r.batch * r.gpu_s_per_token / r.num_gpus * 1e3
        est = served_estimates([key], [r.p], [r.o], stack=stack, sla=Sla(tpot_ms=per_token_ms, ttft_s=600.0)).iloc[0]
        if est["served_method"] != "simulated":
            continue
        if np.isfinite(est["served_gpu_s"]):
            measured = r.gpu_s_per_token * r.o
            out.append({"stack": stack, "batch": r.batch, "err": est["served_gpu_s"] / measured - 1,
                        "covered": est["served_gpu_s_lo"] <= measured <= est["served_gpu_s_hi"]})
    if not out:
        print("table view from throughput: no 16-bit row without TPOT on a shipped stack")
        return
    frame = pd.DataFrame(out)
    frame["batch_band"] = pd.cut(frame["batch"], [0, 16, 64, np.inf], labels=["<=16", "17-64", ">64"])
    bands = frame.groupby(["stack", "batch_band"], observed=True).agg(
        rows=("err", "size"), median=("err", "median"), median_abs=("err", lambda e: np.median(np.abs(e))), coverage=("covered", "mean"))
    print(f"shipped tables at each throughput-only row's own time per output token (no TPOT measured; target = concurrency x "
          f"GPU-s per token / GPUs, an upper bound on TPOT): {len(frame)} 16-bit rows, median |error| {np.median(np.abs(frame['err'])):.1%}, "
          f"signed {np.median(frame['err']):+.1%}, coverage {frame['covered'].mean():.0%}")
    print(bands.to_string(formatters={"median": "{:+.1%}".format, "median_abs": "{:.1%}".format, "coverage": "{:.0%}".format}))


def decode_window_view() -> None:
    """Decode-window rows (all streams decoding at once, no prefill; never fitted): the measured
    time per output token, streams / decode tokens/s, against the simulator's pure-decode step
    (static generation at the same streams, prompt and output) raw and through the served
    correction's TPOT ratio at that batch (the current release: what the tables stand for)."""
    from helm_efficiency.analytic.registry import load_registry
    from helm_efficiency.sources.aiconfigurator import STACKS
    from helm_efficiency.sources.measured import GPUS, BACKENDS, _match
    from helm_efficiency.sources.measured_served import load_served_measured
    from helm_efficiency.sources.served import ServedSimulator

    data = load_served_measured()
    windows = data[data["kind"] == "decode_window"]
    rows = windows[(windows["prompt_tokens"] != "") & (windows["output_tokens"] != "")]
    fitted = S.load_served_correction()["quantities"]
    out, skipped = [], len(windows) - len(rows)
    for r in rows.itertuples():
        stack, key = f"{_match(GPUS, r.gpu)}-{_match(BACKENDS, r.stack)}", _registry_key(r.hf_id)
        if stack not in STACKS or key is None:
            skipped += 1
            continue
        entry = load_registry()[key]
        p, o, n, tp = int(float(r.prompt_tokens)), int(float(r.output_tokens)), int(float(r.concurrency)), int(float(r.tp))
        sim = ServedSimulator(entry["config"], entry.get("hf_id"), STACKS[stack], tp, f"registry {key}", moe=routes_to_experts(r.hf_id))
        try:
            sim_ms = sim.decode_step_ms(p, o, n)
        finally:
            sim.close()
        if sim_ms is None or not sim_ms > 0:
            skipped += 1
            continue
        ratio = S.ratio(fitted, "tpot", STACKS[stack].backend, [n], sim_ms / 1e3, tp=tp, layers=entry["config"]["num_hidden_layers"])[0]
        measured_ms = n / float(r.output_tok_s) * 1e3
        out.append({"source": r.source_id, "stack": stack, "model": key, "streams": n, "p": p, "o": o, "trust": r.trust, "measured_ms": measured_ms,
                    "raw": sim_ms / measured_ms - 1, "corrected": sim_ms * ratio / measured_ms - 1})
    if not out:
        print("decode windows: none on a simulated stack")
        return
    frame = pd.DataFrame(out)
    print(f"decode windows (streams decoding together, no prefill; not fitted): {len(frame)} rows ({skipped} skipped: no lengths, model, "
          f"stack or fit in memory), time per output token, raw simulator signed median {frame['raw'].median():+.1%}, through the served "
          "correction's TPOT ratio " f"{frame['corrected'].median():+.1%} (prompt lengths assumed, see each row's caveat; trust is low where the output length was assumed too)")
    print(frame.to_string(index=False, formatters={"measured_ms": "{:.2f}".format, "raw": "{:+.1%}".format, "corrected": "{:+.1%}".format}))


MIN_BATCH_PROMPTS = (200, 1000)  # the text tasks' prompt lengths are not published: two brackets


def min_batch_itl_view() -> None:
    """ML.ENERGY v3's smallest-batch rows (vLLM on H100, max_num_seqs 8; the only rows of its sweeps
    we hold, in sources/measured/, fitted by no correction): their median inter-token latency
    against the simulator's TPOT at a running batch of 8, raw and through the served correction
    (current release), for the text tasks. The prompt length is not published: two brackets.
    Our TPOT is a mean, theirs a median (which leaves out the steps that a prefill chunk slows)."""
    from helm_efficiency.sources.measured import load_measured
    from helm_efficiency.sources.served_anchor import simulate_served

    data = load_measured()
    rows = data[(data["source_id"] == "mlenergy_v3_minbatch") & (data["metric"] == "median_itl_ms")
                & data["prompt_tokens"].isin(["task gpqa", "task lm-arena-chat"])]
    if rows.empty:
        print("ML.ENERGY v3 smallest-batch rows: none")
        return
    shapes = pd.DataFrame([{"hf_id": r.hf_id, "gpu": "h100", "backend": "vllm", "tp": int(r.tp), "dtype16": True, "p": float(p),
                            "o": float(r.output_tokens), "concurrency": 8.0, "task": r.prompt_tokens[5:], "itl_ms": float(r.value)}
                           for r in rows.itertuples() for p in MIN_BATCH_PROMPTS])
    simulated = simulate_served(shapes, progress=False)
    simulated = simulated[simulated["sim_tpot_s"] > 0]
    fitted = S.load_served_correction()["quantities"]
    ratio = S.ratio(fitted, "tpot", "vllm", simulated["concurrency"], simulated["sim_tpot_s"], tp=simulated["tp"], layers=simulated["num_layers"])
    simulated = simulated.assign(raw=simulated["sim_tpot_s"] * 1e3 / simulated["itl_ms"] - 1,
                                 corrected=simulated["sim_tpot_s"] * ratio * 1e3 / simulated["itl_ms"] - 1)
    models = simulated["hf_id"].nunique()
    print(f"ML.ENERGY v3's smallest-batch rows (vLLM, H100, 8 running; in no fit): {len(rows)} text-task rows, {models} models simulated "
          f"({rows['hf_id'].nunique() - models} without a config); simulated TPOT at batch 8 / their median ITL - 1, by task and assumed prompt length:")
    print(simulated.groupby(["task", "p"])[["raw", "corrected"]].agg(["median", lambda e: np.median(np.abs(e))])
          .set_axis(["raw signed", "raw median |error|", "corrected signed", "corrected median |error|"], axis=1)
          .to_string(formatters={"raw signed": "{:+.1%}".format, "raw median |error|": "{:.1%}".format,
                                 "corrected signed": "{:+.1%}".format, "corrected median |error|": "{:.1%}".format}))


FP8_GPUS = ("h100", "h200", "b200")  # GPUs with FP8 tensor cores (on A100, "FP8" is weight-only)


def max_throughput_view() -> None:
    """The shipped tables at their loosest stored target (TPOT ≤ 200 ms, TTFT ≤ 30 s, no cap:
    the cheapest point they hold) against published max-throughput runs (all requests queued,
    e.g. trtllm-bench, `vllm bench serve` at request rate inf), which enter no fit. A 16-bit row
    judges the table; an FP8 row bounds it from below (a bf16 table cheaper than FP8's best fails)."""
    from helm_efficiency.sources.measured_served import served_rows
    from helm_efficiency.sources.served import MAX_STORED_TPOT_MS, MAX_STORED_TTFT_MS
    from helm_efficiency.tables.served import Sla, has_served_table, served_estimates

    loosest = Sla(tpot_ms=MAX_STORED_TPOT_MS, ttft_s=MAX_STORED_TTFT_MS / 1e3)
    out = []
    for r in served_rows(kinds=("max_throughput",)).itertuples():
        stack, key = f"{r.gpu}-{r.backend}", _registry_key(r.hf_id)
        if not has_served_table(stack) or key is None:
            continue
        est = served_estimates([key], [r.p], [r.o], stack=stack, sla=loosest).iloc[0]
        if np.isfinite(est["served_gpu_s"]):
            measured = r.gpu_s_per_token * r.o
            bound = (not r.dtype16) and r.gpu in FP8_GPUS  # an FP8 row bounds bf16 only where the GPU computes in FP8
            out.append({"source": r.source_id, "stack": stack, "precision": "16-bit" if r.dtype16 else "FP8", "bound": bound,
                        "release": "older" if r.legacy == True else "current", "err": est["served_gpu_s"] / measured - 1,  # noqa: E712
                        "covered": est["served_gpu_s_lo"] <= measured <= est["served_gpu_s_hi"],
                        "method": str(est["served_method"]).split(" from ")[0]})  # simulated, or a transfer / size_only price
    if not out:
        print("max-throughput view: no row on a shipped stack")
        return
    frame = pd.DataFrame(out)
    print("shipped tables at their loosest stored target (no cap) vs published max-throughput runs (all requests queued; in no fit): "
          "error = table / measured - 1; an FP8 row on an FP8 GPU (H100, H200, B200) is a lower bound (`bound_held`: bf16 table >= FP8 measured)")
    by = ["precision", "method", "source", "stack", "release"]
    print(frame.groupby(by).agg(
        rows=("err", "size"), median=("err", "median"), median_abs=("err", lambda e: np.median(np.abs(e))),
        coverage=("covered", "mean")).join(frame[frame["bound"]].groupby(by)["err"].agg(
            bound_held=lambda e: np.mean(e >= 0))).to_string(
        formatters={"median": "{:+.1%}".format, "median_abs": "{:.1%}".format, "coverage": "{:.0%}".format,
                    "bound_held": lambda v: "" if not np.isfinite(v) else f"{v:.0%}"}, na_rep=""))
    for method, sixteen in frame[frame["precision"] == "16-bit"].groupby("method"):
        print(f"  16-bit, {method}: {len(sixteen)} rows, median |error| {np.median(np.abs(sixteen['err'])):.1%}, signed {np.median(sixteen['err']):+.1%}, "
              f"coverage {sixteen['covered'].mean():.0%}")


def sweep_best_view(rows: pd.DataFrame) -> None:
    """The shipped tables at the default latency target against each measured 16-bit sweep's
    cheapest operating point that meets it (TPOT and TTFT as published): what a deployment that
    ran that sweep would have chosen. A sweep whose cheapest feasible point is its largest
    concurrency might have gone cheaper still (`at_sweep_end`)."""
    from helm_efficiency.tables.served import DEFAULT_SLA, has_served_table, served_estimates

    measured = rows[rows["dtype16"].astype(bool) & (rows["tpot_s"] > 0) & (rows["ttft_s"] > 0)]
    out = []
    keys = ["source_id", "hf_id", "gpu", "backend", "tp", "p", "o"]
    for (source, hf_id, gpu, backend, tp, p, o), sweep in measured.groupby(keys):
        stack, key = f"{gpu}-{backend}", _registry_key(hf_id)
        ok = sweep[(sweep["tpot_s"] * 1e3 <= DEFAULT_SLA.tpot_ms) & (sweep["ttft_s"] <= DEFAULT_SLA.ttft_s)]
        if not has_served_table(stack) or key is None or ok.empty:
            continue
        best = ok.iloc[int(np.argmin(ok["gpu_s_per_token"].to_numpy()))]
        est = served_estimates([key], [p], [o], stack=stack).iloc[0]
        if not np.isfinite(est["served_gpu_s"]) or est["served_method"] != "simulated":
            continue
        measured_gpu_s = best["gpu_s_per_token"] * o
        out.append({"stack": stack, "source": source, "err": est["served_gpu_s"] / measured_gpu_s - 1,
                    "covered": est["served_gpu_s_lo"] <= measured_gpu_s <= est["served_gpu_s_hi"],
                    "at_sweep_end": best["batch"] >= sweep["batch"].max(), "older_release": bool(best["legacy"] == True)})  # noqa: E712
    if not out:
        print("sweep-best view: no 16-bit sweep on a shipped stack meets the default target")
        return
    frame = pd.DataFrame(out)

    def line(f: pd.DataFrame) -> str:
        return (f"{len(f)} sweeps, median |error| {np.median(np.abs(f['err'])):.1%}, signed {np.median(f['err']):+.1%}, "
                f"coverage {f['covered'].mean():.0%}")

    inside = frame[~frame["at_sweep_end"]]
    print(f"shipped tables at the default target ({DEFAULT_SLA}) vs each 16-bit sweep's cheapest point meeting it, where that "
          f"point is not the sweep's largest concurrency: {line(inside) if len(inside) else 'none'}")
    print(f"  not judged: {int(frame['at_sweep_end'].sum())} sweeps whose cheapest feasible point is their largest concurrency "
          f"(they may have stopped before the target bound; the table there: {line(frame[frame['at_sweep_end']])})")
    for label, part in (("current releases", inside[~inside["older_release"]]), ("older releases", inside[inside["older_release"]])):
        if len(part):
            print(f"  {label}: {line(part)}")
    print(inside.groupby("stack").agg(sweeps=("err", "size"), median=("err", "median"), median_abs=("err", lambda e: np.median(np.abs(e))),
                                     coverage=("covered", "mean")).to_string(
        formatters={"median": "{:+.1%}".format, "median_abs": "{:.1%}".format, "coverage": "{:.0%}".format}))


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    warnings.simplefilter("ignore")
    rows = S.fit_rows(load_served_simulated())
    fitted = held_out_gpu(rows)
    fitted["stack"] = fitted["gpu"] + "-" + fitted["backend"]
    fitted["batch_band"] = pd.cut(fitted["batch"], [0, 16, 64, np.inf], labels=["<=16", "17-64", ">64"])
    fitted["output_band"] = pd.cut(fitted["o"], [0, 999, 4000, np.inf], labels=["<1k", "1k-4k", ">4k"])
    fitted["tp_band"] = np.where(fitted["tp"] > 1, "TP>1", "TP1")
    # Prompt tokens per output token: HELM's requests are mostly prompt-heavy (long prompts, short answers).
    fitted["prompt_band"] = pd.cut(fitted["p"] / fitted["o"], [0, 0.5, 5, np.inf], labels=["p/o<=0.5", "0.5-5", ">5"])
    fitted["precision"] = np.where(fitted["dtype16"].astype(bool), "16-bit", "FP8")
    print(f"{len(fitted)} served rows from {fitted['source_id'].nunique()} sources, each predicted by a correction fitted without its "
          "source (GPU-seconds per output token)\n")
    for title, by in (("by precision", ["precision"]), ("by stack (16-bit)", ["stack"]), ("by running batch (16-bit)", ["batch_band"]),
                      ("by output length (16-bit)", ["output_band"]), ("by TP (16-bit)", ["tp_band"]),
                      ("by prompt tokens per output token (16-bit)", ["prompt_band"]), ("by stack, all precisions", ["stack", "precision"]),
                      ("by source", ["source_id"])):
        subset = fitted if "precision" in by or by == ["source_id"] else fitted[fitted["precision"] == "16-bit"]
        print(f"== {title}")
        print(summarize(subset, by).to_string(formatters=FORMAT))
        print()
    sixteen = fitted[fitted["precision"] == "16-bit"]
    throughput_only = sixteen[~(sixteen["tpot_s"] > 0)]
    if len(throughput_only):
        print("== 16-bit rows that measured throughput only (no TPOT), by running batch and prompt tokens")
        print(summarize(throughput_only, ["batch_band", "p"]).to_string(formatters=FORMAT))
        print()
    print(summarize(sixteen.assign(all="all 16-bit"), ["all"]).to_string(formatters=FORMAT))
    per_source = summarize(sixteen, ["source_id"])
    print(f"each 16-bit source once (the largest, {per_source['rows'].idxmax()}, has {int(per_source['rows'].max())} of {len(sixteen)} rows): "
          f"median over {len(per_source)} sources of their median |error| {per_source['corrected_median_abs'].median():.1%} "
          f"(raw {per_source['raw_median_abs'].median():.1%}), of their coverage {per_source['coverage90'].median():.0%}")
    without = held_out_gpu(rows, version_term=False)
    six = without["dtype16"].astype(bool)
    err_without = float(np.median(np.abs(without.loc[six, "corrected"] / without.loc[six, "gpu_s_per_token"] - 1)))
    err_with = float(np.median(np.abs(sixteen["corrected"] / sixteen["gpu_s_per_token"] - 1)))
    print(f"\nversion term (older releases through `legacy`): 16-bit held-out median |error| {err_with:.1%} with it, "
          f"{err_without:.1%} without (share of the held-out error it explains: {1 - err_with / err_without:+.1%}; "
          f"shipped: {'on' if S.VERSION_TERM else 'off'})")
    print(composition_line(fitted))
    print(interval_rule_line(sixteen))
    shipped = S.load_served_correction()
    if shipped is not None:
        lo, hi = shipped["quantities"]["gpu"]["interval_log"]
        print(f"\nshipped interval on served GPU-s: x{np.exp(lo):.3f} .. x{np.exp(hi):.3f} (two-sided 90%, for a new source)")
    print()
    energy(fitted)
    print()
    fp8_bound(load_served_simulated())
    print()
    decode_window_view()
    print()
    min_batch_itl_view()
    print()
    table_view(fitted)
    print()
    table_view_from_throughput(fitted)
    print()
    sweep_best_view(fitted)
    print()
    max_throughput_view()


if __name__ == "__main__":
    main()
