"""How close are the simulated stacks to published batch-1 measurements, raw and corrected, and do the intervals hold?

Every batch-1 row of helm_efficiency/sources/measured/ (first-token latency, per-token decode,
and whole-request latencies of long generations turned into per-token decode), simulated at the
row's own model, GPU, framework, TP and precision (sources/anchor.py). The correction
(sources/correction.py) is judged leave-one-source-out with nested refits: for each source, the
whole procedure (form choice, shrinkage, version term, the interval's variance components, all
from an inner leave-one-source-out) runs on the other sources only, and the held-out source's
rows are predicted with their own version flag. No row is ever scored by anything fitted on its
own source, so the coverage printed is what a new source should see.

    python -m helm_efficiency.sources.anchor --simulate -j 2   # once, after the measured data changes
    python bench/measured_accuracy.py [--no-fp8]

Prints, on 16-bit rows: median |error| and signed median, raw simulator vs corrected, per stack,
TP 1 vs TP > 1, stack x TP band, phase and source; 90% interval coverage; the version term's
share of the held-out error (the same procedure with the version term switched off); FP8 rows
as lower bounds; and the implied batch-1 board power against measured power.
"""

import argparse
import warnings

import numpy as np
import pandas as pd

from helm_efficiency.sources import correction as C
from helm_efficiency.sources.anchor import load_simulated_anchors


def predict(correction, rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with `corrected`, `lo`, `hi` and `form` from a fitted correction."""
    rows = rows.copy()
    for (backend, quantity), group in rows.groupby(["backend", "quantity"]):
        c = correction[backend][C.PHASE_OF[quantity]]
        predicted = c.predict_rows(group)
        rows.loc[group.index, "corrected"] = predicted
        rows.loc[group.index, "lo"] = predicted * np.exp(c.interval[0])
        rows.loc[group.index, "hi"] = predicted * np.exp(c.interval[1])
        rows.loc[group.index, "form"] = c.form
    return rows


def held_out(rows: pd.DataFrame, legacy: bool = True) -> pd.DataFrame:
    """Rows of every source with `corrected`, `lo`, `hi` from a correction fitted without that source."""
    if not legacy:
        rows = rows.assign(legacy=False)
    out = [predict(C.fit_correction(rows[rows["source_id"] != source]), rows[rows["source_id"] == source])
           for source in sorted(rows["source_id"].unique())]
    return pd.concat(out, ignore_index=True)


def summarize(rows: pd.DataFrame, by) -> pd.DataFrame:
    raw = rows["sim"] / rows["value"] - 1
    corrected = rows["corrected"] / rows["value"] - 1
    frame = rows.assign(raw=raw, corrected_err=corrected, covered=(rows["value"] >= rows["lo"]) & (rows["value"] <= rows["hi"]))
    return frame.groupby(by).agg(
        rows=("raw", "size"), sources=("source_id", "nunique"),
        raw_median_abs=("raw", lambda e: np.median(np.abs(e))), raw_signed=("raw", "median"),
        corrected_median_abs=("corrected_err", lambda e: np.median(np.abs(e))), corrected_signed=("corrected_err", "median"),
        coverage90=("covered", "mean"))


FORMAT = {c: (lambda v: f"{v:.1%}") for c in ("raw_median_abs", "corrected_median_abs", "coverage90")}
FORMAT.update({c: (lambda v: f"{v:+.1%}") for c in ("raw_signed", "corrected_signed")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fp8", action="store_true", help="also fit FP8 rows simulated in FP8 (default: 16-bit rows only)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    simulated = load_simulated_anchors()
    rows = C.fit_rows(simulated, fp8=args.fp8)
    fitted = held_out(rows)
    scored = fitted[fitted["precision16"].astype(bool)].copy()
    scored["stack"] = scored["gpu"] + "-" + scored["backend"]
    scored["tp_group"] = np.where(scored["tp"] > 1, "TP>1", "TP1")
    scored["phase"] = scored["quantity"].map(C.PHASE_OF)
    print(f"{len(scored)} held-out 16-bit batch-1 rows from {scored['source_id'].nunique()} sources (fitted on {len(rows)} rows "
          f"of {rows['source_id'].nunique()} sources{', FP8 rows simulated in FP8 included' if args.fp8 else ''}; "
          "each predicted by a correction fitted without its source)\n")
    for title, by in (("overall", ["phase"]), ("by TP", ["tp_group"]), ("by stack", ["stack"]), ("by stack and TP", ["stack", "tp_group"]),
                      ("by stack and phase", ["stack", "phase"]), ("by source", ["source_id"])):
        print(f"== {title}")
        print(summarize(scored, by).to_string(formatters=FORMAT))
        print()
    everything = summarize(scored.assign(all="all"), ["all"])
    print(everything.to_string(formatters=FORMAT))
    per_source = summarize(scored, ["source_id"])
    print(f"each source once (the largest, {per_source['rows'].idxmax()}, has {int(per_source['rows'].max())} of {len(scored)} rows): "
          f"median over {len(per_source)} sources of their median |error| {per_source['corrected_median_abs'].median():.1%} "
          f"(raw {per_source['raw_median_abs'].median():.1%}), of their coverage {per_source['coverage90'].median():.0%}")
    unfitted = C.fit_rows(simulated, fp8=args.fp8, unfitted=True)
    unfitted = unfitted[unfitted["precision16"].astype(bool)]
    if len(unfitted):
        # Held out by construction: the correction is fitted on the other interconnects' rows.
        predicted = predict(C.fit_correction(rows), unfitted)
        predicted["stack"] = predicted["gpu"] + "-" + predicted["backend"]
        print(f"\n== not fitted (TP > 1 on an interconnect measured at TP > 1 by fewer than {C.MIN_LINK_SOURCES} sources), predicted by the correction of the others")
        print(summarize(predicted, ["stack", "source_id"]).to_string(formatters=FORMAT))
    # The version term's share: the same nested procedure with it offered to the form choice.
    shipped = C.VERSION_TERM
    C.VERSION_TERM = True
    with_term = held_out(rows)
    C.VERSION_TERM = shipped
    with_term = with_term[with_term["precision16"].astype(bool)]
    err_with = float(np.median(np.abs(with_term["corrected"] / with_term["value"] - 1)))
    err_without = float(np.median(np.abs(held_out(rows, legacy=False).pipe(lambda f: f[f["precision16"].astype(bool)]).eval("corrected / value - 1"))))
    print(f"\nversion term (older releases through `legacy`): held-out median |error| {err_with:.1%} with it, {err_without:.1%} without "
          f"(share of the held-out error it explains: {(err_without - err_with) / err_without:+.1%}; shipped: {'on' if shipped else 'off'})")
    # FP8 rows: a bf16 estimate should not be faster than an FP8 measurement of the same shape.
    fp8 = simulated[simulated.get("precision_fp8", False).fillna(False).astype(bool) & (simulated["sim_dtype"] == "bf16")
                    & simulated["quantity"].isin(list(C.PHASE_OF)) & simulated["sim"].notna()].copy()
    if len(fp8):
        correction = C.fit_correction(rows)
        fp8["legacy"] = False
        bound = [correction[b][C.PHASE_OF[q]].predict_rows(g.assign(link=[C.interconnect(x) for x in g["gpu"]])) >= g["value"]
                 for (b, q), g in fp8.groupby(["backend", "quantity"])]
        print(f"\nFP8 rows as lower bounds: corrected bf16 estimate (current release) >= FP8 measurement in "
              f"{np.mean(np.concatenate(bound)):.0%} of {len(fp8)} rows (raw simulator: {np.mean(fp8['sim'] >= fp8['value']):.0%})")
    implied_power()


def implied_power() -> None:
    """Average board power our energy model implies for each measured batch-1 power row
    (whole request, or per phase), with the phase powers fitted without the row's source."""
    from helm_efficiency.analytic.registry import registry_name
    from helm_efficiency.pricing.estimate import load_tables, resolve_entry
    from helm_efficiency.sources.anchor import config_for
    from helm_efficiency.sources.measured import anchor_rows
    from helm_efficiency.sources.power import phase_powers

    rows = anchor_rows()
    power = rows[rows["quantity"].isin(["power_w", "power_prefill_w", "power_decode_w"]) & rows["precision16"].astype(bool)]
    tables = {name: load_tables([name])[0] for name in ("h100-vllm", "h100-trtllm", "h200-trtllm")}
    results = []
    for _, row in power.iterrows():
        powers = phase_powers(rows[rows["source_id"] != row["source_id"]]).get(row["gpu"], {})
        if "decode" not in powers:
            continue
        prefill_w = powers.get("prefill", powers["decode"])["w"]
        if row["quantity"] != "power_w":
            implied = prefill_w if row["quantity"] == "power_prefill_w" else powers["decode"]["w"]
        else:
            name = registry_name(row["hf_id"]) or (config_for(row["hf_id"]) or (None, None))[1]
            table = tables["h100-vllm" if row["gpu"] == "h100" else "h200-trtllm"]
            entry = resolve_entry([table], [name, row["hf_id"]])
            if entry is None:
                continue
            p, o = np.array([row["p"]]), np.array([row["o"]])
            total = entry.predict(p, o)["runtime_s"].to_numpy()[0]
            first = entry.predict(p, np.ones(1))["runtime_s"].to_numpy()[0]
            implied = (first * prefill_w + (total - first) * powers["decode"]["w"]) / total
        results.append({"source_id": row["source_id"], "quantity": row["quantity"], "hf_id": row["hf_id"], "measured_w": row["value"],
                        "implied_w": implied, "error": implied / row["value"] - 1})
    if results:
        frame = pd.DataFrame(results)
        print("\nImplied batch-1 board power vs measured (phase powers fitted without the row's source):")
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"median |error| {np.median(np.abs(frame['error'])):.1%} over {len(frame)} rows")


if __name__ == "__main__":
    main()
