"""How close are the simulated stacks to published batch-1 measurements, raw and corrected?

Every 16-bit batch-1 row of helm_efficiency/sources/measured/ (first-token latency, per-token
decode, and whole-request latencies of long generations turned into per-token decode) against
the simulator run at the row's own model, GPU, framework and TP (sources/anchor.py). The
correction is judged leave-one-source-out: for each source, the whole fitting procedure (form
choice included) runs on the other sources only, and the held-out source's rows are predicted.
No row is ever scored by a correction fitted on its own source.

    python -m helm_efficiency.sources.anchor --simulate -j 2   # once, after the measured data changes
    python bench/measured_accuracy.py

Prints median |error| and signed median error, raw simulator vs corrected, per stack, for
TP 1 vs TP > 1 and first token vs decode; interval coverage of the corrected 90% interval; FP8
rows as lower bounds; and the implied batch-1 board power against measured power.
"""

import argparse
import warnings

import numpy as np
import pandas as pd

from helm_efficiency.sources.anchor import PHASE_OF, fit_correction, fit_rows, load_simulated_anchors


def held_out(simulated: pd.DataFrame) -> pd.DataFrame:
    """Fit rows with `corrected` (and its 90% interval) predicted by a correction fitted without their source."""
    rows = fit_rows(simulated)
    out = []
    for source in sorted(rows["source_id"].unique()):
        correction = fit_correction(simulated[simulated["source_id"] != source])
        held = rows[rows["source_id"] == source].copy()
        for (backend, quantity), group in held.groupby(["backend", "quantity"]):
            c = correction[backend][PHASE_OF[quantity]]
            predicted = c.apply(group["sim"], group["num_layers"], group["tp"])
            held.loc[group.index, "corrected"] = predicted
            held.loc[group.index, "lo"] = predicted * np.exp(c.spread[0])
            held.loc[group.index, "hi"] = predicted * np.exp(c.spread[1])
        out.append(held)
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


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    warnings.simplefilter("ignore")
    simulated = load_simulated_anchors()
    rows = held_out(simulated)
    rows["stack"] = rows["gpu"] + "-" + rows["backend"]
    rows["tp_group"] = np.where(rows["tp"] > 1, "TP>1", "TP1")
    rows["phase"] = rows["quantity"].map(PHASE_OF)
    pct = lambda v: f"{v:+.1%}" if isinstance(v, float) else v  # noqa: E731
    fmt = {c: (lambda v: f"{v:.1%}") for c in ("raw_median_abs", "corrected_median_abs", "coverage90")}
    fmt.update({c: (lambda v: f"{v:+.1%}") for c in ("raw_signed", "corrected_signed")})
    print(f"{len(rows)} held-out 16-bit batch-1 rows from {rows['source_id'].nunique()} sources "
          f"(each predicted by a correction fitted without its source)\n")
    for title, by in (("overall", ["phase"]), ("by TP", ["tp_group"]), ("by stack", ["stack"]), ("by stack and TP", ["stack", "tp_group"]),
                      ("by stack and phase", ["stack", "phase"]), ("by source", ["source_id"])):
        table = summarize(rows, by)
        print(f"== {title}")
        print(table.to_string(formatters=fmt))
        print()
    everything = summarize(rows.assign(all="all"), ["all"])
    print(everything.to_string(formatters=fmt))
    # FP8 rows: a bf16 estimate should not be faster than an FP8 measurement of the same shape.
    fp8 = simulated[~simulated["precision16"].astype(bool) & simulated["quantity"].isin(list(PHASE_OF)) & simulated["sim"].notna()]
    if len(fp8):
        correction = fit_correction(simulated)
        bound = []
        for (backend, quantity), group in fp8.groupby(["backend", "quantity"]):
            c = correction[backend][PHASE_OF[quantity]]
            bound.append(c.apply(group["sim"], group["num_layers"], group["tp"]) >= group["value"])
        print(f"\nFP8 rows as lower bounds: corrected bf16 estimate >= FP8 measurement in {np.mean(np.concatenate(bound)):.0%} "
              f"of {len(fp8)} rows (raw simulator: {np.mean(fp8['sim'] >= fp8['value']):.0%})")
    _ = pct
    implied_power()


def implied_power() -> None:
    """Average board power our energy model implies for each measured batch-1 power row
    (whole request, or per phase), with the phase powers fitted without the row's source."""
    from helm_efficiency.analytic.registry import registry_name
    from helm_efficiency.estimate import load_tables, resolve_entry
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
