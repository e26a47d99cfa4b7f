"""The measured dataset, the correction fitted on it, and the anchored tables (issue #22)."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.anchor import load_correction
from helm_efficiency.sources.correction import comm_steps, fit_phase, interval_from, interval_from_held_out, variance_components
from helm_efficiency.sources.measured import COLUMNS, anchor_rows, load_measured, read_file
from helm_efficiency.builders.anchored import anchor_table_file
from helm_efficiency.util.data_paths import DATA_DIR

GOOD = {c: "" for c in COLUMNS} | {"source_id": "s", "source_ref": "repo @abc", "gpu": "H100 SXM", "gpu_count": "1", "tp": "1",
                                   "stack": "vLLM", "dtype": "BF16", "hf_id": "Qwen/Qwen3-8B", "prompt_tokens": "128",
                                   "output_tokens": "128", "batch": "1", "metric": "tpot_ms", "value": "7.3", "unit": "ms"}


def write_rows(tmp_path, rows, name="m.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_the_shipped_measured_files_load_and_meet_the_issue_counts():
    measured = load_measured()
    anchors = anchor_rows()
    assert len(measured) >= 150 and measured["source_ref"].str.len().gt(0).all()
    batch1 = pd.to_numeric(measured["batch"], errors="coerce") == 1
    assert batch1.sum() >= 150 and (pd.to_numeric(measured.loc[batch1, "tp"]) > 1).sum() >= 40
    decode16 = anchors[anchors["gpu"].isin(["h100", "h200"]) & anchors["precision16"] & (anchors["quantity"] == "tpot_s")]
    assert len(decode16) >= 20
    assert anchors["quantity"].isin(["power_w", "power_prefill_w", "power_decode_w"]).sum() >= 10


@pytest.mark.parametrize("change, field", [
    ({"value": "fast"}, "row 2: value"),
    ({"value": "-3"}, "row 2: value"),
    ({"unit": "s"}, "row 2: unit"),
    ({"source_ref": ""}, "row 2: source_ref"),
    ({"gpu": "B200 (as in the post's H100 runs)"}, "row 2: gpu"),  # two GPUs named: would read as H100
])
def test_the_loader_names_file_row_and_column(tmp_path, change, field):
    path = write_rows(tmp_path, [GOOD | change])
    with pytest.raises(EfficiencyInputError) as error:
        read_file(path)
    assert path in str(error.value) and field in str(error.value)


def test_the_loader_names_missing_columns_and_bad_files(tmp_path):
    path = write_rows(tmp_path, [{k: v for k, v in GOOD.items() if k != "unit"}])
    with pytest.raises(EfficiencyInputError, match="missing columns: unit"):
        read_file(path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(EfficiencyInputError, match="b.csv"):
        read_file(str(binary))


def test_the_correction_only_adds_time_and_grows_with_tp():
    correction = load_correction()
    for phases in correction.values():
        for c in phases.values():
            assert all(v >= 0 for v in c.coefficients.values())
            sim = np.full(4, 0.01)
            corrected = c.apply(sim, np.full(4, 80), np.array([1, 2, 4, 8]))
            assert (corrected >= sim).all() and (np.diff(corrected) >= 0).all()


def test_a_negative_term_is_dropped_not_fitted():
    rows = pd.DataFrame({"value": [0.009, 0.018, 0.036, 0.072], "sim": [0.01, 0.02, 0.04, 0.08], "num_layers": 32, "tp": 1,
                         "gpu": "h100", "source_id": ["a", "a", "b", "b"]})
    c = fit_phase(rows, "scale+step")  # measured 10% below the kernels: no negative correction
    assert all(v >= 0 for v in c.coefficients.values())


def test_anchored_tables_trace_to_sources_and_rebuild_byte_identically(tmp_path):
    path = tmp_path / "h100-vllm.json"
    raw = json.load(open(os.path.join(DATA_DIR, "h100-vllm.json")))
    raw["entries"] = raw["entries"][:3]
    path.write_text(json.dumps(raw))
    anchor_table_file(str(path))
    first = path.read_bytes()
    anchor_table_file(str(path))
    assert path.read_bytes() == first
    table = json.loads(first)
    refs = table["anchor"]["source_refs"]
    for entry in table["entries"]:
        assert set(entry["provenance"]["anchor"]["sources"]) <= set(refs) and all(refs.values())
        assert len(entry["provenance"]["simulated_runtime_s"]) == len(entry["measurements"]["runtime_s"])
        assert all(c >= s for c, s in zip(entry["measurements"]["runtime_s"], entry["provenance"]["simulated_runtime_s"]))


def test_an_anchored_entry_interval_spans_the_measured_spread():
    from helm_efficiency.pricing.estimate import load_tables

    entry = load_tables(["h100-trtllm"])[0].entries[0]
    out = entry.predict(np.array([512, 512]), np.array([1, 256]))
    (pre_lo, pre_hi), (_, dec_hi) = entry.measured_spread["prefill"], entry.measured_spread["decode"]
    ratio_lo, ratio_hi = out["runtime_lo_s"] / out["runtime_s"], out["runtime_hi_s"] / out["runtime_s"]
    assert ratio_lo.iloc[0] <= np.exp(pre_lo) + 1e-9 and ratio_hi.iloc[0] >= np.exp(pre_hi) - 1e-9
    assert ratio_hi.iloc[1] >= np.exp(min(pre_hi, dec_hi)) - 1e-9


def test_energy_interval_brackets_energy():
    from helm_efficiency.pricing.estimate import estimate_idealized, load_tables

    requests = pd.DataFrame({"model": ["meta/llama-3.1-8b"], "num_prompt_tokens": [512], "num_output_tokens": [128]})
    out = estimate_idealized(requests, load_tables(["h100-trtllm"]), name_columns=("model",)).iloc[0]
    assert out["idealized_energy_lo_j"] < out["idealized_energy_j"] < out["idealized_energy_hi_j"]


def test_the_interval_for_a_new_source_includes_the_spread_between_sources():
    """Sources that each shift all their rows (between-source sd 0.15, within 0.03): the interval
    from the variance components covers a new source's rows about 90% of the time, while the
    within-source spread alone would cover far fewer."""
    rng = np.random.default_rng(0)
    covered, covered_within = [], []
    for _ in range(40):
        shifts = rng.normal(0, 0.15, 13)
        sources = np.repeat([f"s{i}" for i in range(13)], 20)
        y = np.repeat(shifts, 20) + rng.normal(0, 0.03, len(sources))
        train = sources != "s12"
        v = variance_components(pd.Series(y[train]), pd.Series(sources[train]))
        lo, hi = interval_from(v)
        held = y[~train]
        covered.append(np.mean((held >= lo) & (held <= hi)))
        half = 1.645 * np.sqrt(v["within"])
        covered_within.append(np.mean(np.abs(held - v["mean"]) <= half))
    assert 0.8 <= np.mean(covered) <= 0.97
    assert np.mean(covered_within) < 0.5


def test_the_quantile_interval_weighs_each_source_once():
    """Sources whose own spreads differ tenfold (sd 0.02 for most, 0.4 for a few) around shifts
    between sources: the source-weighted quantiles of twelve other sources' errors cover a new
    source's rows about 0.9 · 12 / 13 ≈ 83% of the time (no finite-sample correction; 84% with
    this seed). A source with many rows does not set the quantiles, and with fewer than five
    sources the rule is the variance components' at the same level."""
    rng = np.random.default_rng(2)
    covered, covered_normal = [], []
    for _ in range(40):
        spreads = np.where(rng.random(13) < 0.2, 0.4, 0.02)
        sources = np.repeat([f"s{i}" for i in range(13)], 20)
        y = np.repeat(rng.normal(0, 0.1, 13), 20) + rng.normal(0, np.repeat(spreads, 20))
        train = sources != "s12"
        lo, hi = interval_from_held_out(pd.Series(y[train]), pd.Series(sources[train]))
        lo_n, hi_n = interval_from(variance_components(pd.Series(y[train]), pd.Series(sources[train])))
        held = y[~train]
        covered.append(np.mean((held >= lo) & (held <= hi)))
        covered_normal.append(np.mean((held >= lo_n) & (held <= hi_n)))
    assert 0.75 <= np.mean(covered) <= 0.9
    assert 0.8 <= np.mean(covered_normal) <= 0.97
    big = pd.Series(np.r_[np.zeros(1000), np.linspace(-1, 1, 9)])
    names = pd.Series(["big"] * 1000 + [f"s{i}" for i in range(9)])
    lo, hi = interval_from_held_out(big, names)
    assert lo <= -0.75 and hi >= 0.75  # row-weighted, the 1,000 zeros would give (0, 0)
    few = pd.Series(["a", "a", "b", "b", "c", "c"])
    values = pd.Series([0.1, 0.2, -0.1, 0.0, 0.3, 0.25])
    assert interval_from_held_out(values, few) == interval_from(variance_components(values, few))
    lo, hi = interval_from_held_out(values, few, level=0.5)
    lo90, hi90 = interval_from_held_out(values, few)
    assert (lo, hi) == interval_from(variance_components(values, few), 0.5) and hi - lo < hi90 - lo90


def test_the_per_interconnect_communication_term_is_shrunk_toward_the_shared_one():
    rng = np.random.default_rng(1)
    frames = []
    for gpu, comm in (("a100", 2e-5), ("h100", 0.5e-5)):
        for source in ("x", "y"):
            tp = rng.choice([1, 2, 4, 8], 30)
            sim = rng.uniform(0.005, 0.02, 30)
            value = sim + comm * 80 * comm_steps(tp)
            frames.append(pd.DataFrame({"value": value, "sim": sim, "num_layers": 80, "tp": tp, "gpu": gpu, "source_id": f"{source}-{gpu}"}))
    rows = pd.concat(frames, ignore_index=True)
    shared = fit_phase(rows, "step+comm").comm("a100")
    free = fit_phase(rows, "step+comm/k=0.001")
    shrunk = fit_phase(rows, "step+comm/k=40")
    assert abs(free.comm("a100") - 2e-5) < 2e-6 and abs(free.comm("h100") - 0.5e-5) < 2e-6
    for gpu in ("a100", "h100"):  # strictly between the shared and the free value
        low, high = sorted([shared, free.comm(gpu)])
        assert low < shrunk.comm(gpu) < high


def _link_rows(comms, noise, seed, sources=("x", "y", "z")):
    rng = np.random.default_rng(seed)
    frames = []
    for gpu, comm in comms:
        for source in sources:
            tp = rng.choice([1, 2, 4, 8], 30)
            sim = rng.uniform(0.005, 0.02, 30)
            value = (sim + 0.001 + comm * 80 * comm_steps(tp)) * (1 + rng.normal(0, noise, 30))
            frames.append(pd.DataFrame({"value": value, "sim": sim, "num_layers": 80, "tp": tp, "gpu": gpu, "source_id": f"{source}-{gpu}"}))
    return pd.concat(frames, ignore_index=True)


def test_the_empirical_bayes_weight_keeps_distinct_interconnects_apart_and_pools_alike_ones():
    distinct = _link_rows((("a100", 2e-5), ("h100", 0.5e-5)), 0.01, 2)
    eb = fit_phase(distinct, "step+comm/k=eb")
    assert abs(eb.comm("a100") - 2e-5) < 2e-6 and abs(eb.comm("h100") - 0.5e-5) < 2e-6
    alike = _link_rows((("a100", 1e-5), ("h100", 1e-5)), 0.05, 3)
    shared = fit_phase(alike, "step+comm").comm("a100")
    pooled = fit_phase(alike, "step+comm/k=eb")
    free = fit_phase(alike, "step+comm/k=0.001")
    for gpu in ("a100", "h100"):  # no spread beyond the noise: at least as close to the shared value as the free one is
        assert abs(pooled.comm(gpu) - shared) <= abs(free.comm(gpu) - shared) + 1e-12


def test_an_interconnect_outside_the_fitted_ones_scales_the_nearest_by_bandwidth():
    """B200 (900 GB/s) and V100 (150 GB/s) lie outside A100's 300 and H100's 450 GB/s: their term
    is the nearest fitted link's times the bandwidth ratio; H200 shares H100's link; a shared
    form scales its one term the same way beyond the links it was fitted on."""
    eb = fit_phase(_link_rows((("a100", 2e-5), ("h100", 1e-5)), 0.01, 2), "step+comm/k=eb")
    assert eb.fitted_links == ("300GB/s", "450GB/s")
    assert eb.comm("h200") == eb.comm("h100")
    assert eb.comm("b200") == pytest.approx(eb.comm("h100") * 450 / 900)
    assert eb.comm("v100") == pytest.approx(eb.comm("a100") * 300 / 150)
    shared = fit_phase(_link_rows((("h100", 1e-5),), 0.01, 3), "step+comm")
    assert shared.fitted_links == ("450GB/s",) and shared.comm("b200") == pytest.approx(shared.comm("h100") / 2)
    assert shared.comm("cpu") == shared.comm("h100")  # no link bandwidth: the shared term
    assert fit_phase(_link_rows((("h100", 1e-5),), 0.01, 3).assign(tp=1), "step+comm").fitted_links == ()  # no all-reduce fitted


def test_tp1_rows_are_fitted_on_every_gpu_and_tp_above_1_needs_two_sources_on_the_interconnect():
    """B200 has TP 1 rows (vLLM's 2026 line) and one source at TP > 1 (SGLang, TP 8): the TP 1
    rows run no all-reduce and are fitted; the TP 8 row is reported, not fitted."""
    from helm_efficiency.sources.anchor import load_simulated_anchors
    from helm_efficiency.sources.correction import MIN_LINK_SOURCES, fit_rows

    simulated = load_simulated_anchors()
    fitted, unfitted = fit_rows(simulated), fit_rows(simulated, unfitted=True)
    b200 = fitted[fitted["gpu"] == "b200"]
    assert len(b200) and (b200["tp"] == 1).all()
    assert len(unfitted) and (unfitted["tp"] > 1).all()
    assert unfitted.groupby("link")["source_id"].nunique().lt(MIN_LINK_SOURCES).all()
    sharded = fitted[fitted["tp"] > 1]
    assert sharded.groupby("link")["source_id"].nunique().ge(MIN_LINK_SOURCES).all()


def test_the_shipped_correction_keeps_its_fitted_interconnects_and_halves_h100s_term_on_b200():
    from helm_efficiency.sources.anchor import correction_to_json, phases_from_json

    shipped = load_correction()
    assert phases_from_json(correction_to_json(shipped)["frameworks"]) == shipped  # the fitted links survive the file
    decode = shipped["sglang"]["decode"]
    assert decode.fitted_links == ("300GB/s", "450GB/s") and "900GB/s" not in decode.comm_by_link
    assert decode.comm("b200") == pytest.approx(decode.comm("h100") * 450 / 900) and decode.comm("b200") < decode.coefficients["comm"]


def test_the_fit_is_a_median_regression_that_one_slow_source_does_not_drag():
    from helm_efficiency.sources import correction as C

    rows = _link_rows((("h100", 1e-5),), 0.01, 4, sources=("a", "b", "c", "d", "e"))
    outlier = rows[rows["source_id"] == "e-h100"].index
    rows.loc[outlier, "value"] *= 3  # one source's harness triples every first token
    assert C.ESTIMATOR == "lad"
    lad = fit_phase(rows, "scale+step+comm")
    clean = rows.drop(outlier)
    predicted = lad.predict_rows(clean.assign(legacy=False))
    assert np.median(np.abs(predicted / clean["value"] - 1)) < 0.03
    try:
        C.ESTIMATOR = "wls"
        wls = fit_phase(rows, "scale+step+comm").predict_rows(clean.assign(legacy=False))
    finally:
        C.ESTIMATOR = "lad"
    assert np.median(np.abs(wls / clean["value"] - 1)) > 0.2  # least squares follows the slow source


def test_rows_with_tensor_parallelism_are_corrected_with_the_all_reduce_or_not_at_all():
    from helm_efficiency.sources.correction import BASE_FORMS, candidate_forms

    with_tp = candidate_forms(_link_rows((("h100", 1e-5),), 0.01, 5))
    assert "none" in with_tp and all(f == "none" or "comm" in BASE_FORMS[f.partition("/")[0]] for f in with_tp)
    single = _link_rows((("h100", 1e-5),), 0.01, 5).assign(tp=1)
    assert {"scale", "scale+step"} <= set(candidate_forms(single))  # without TP > 1 nothing asks for the all-reduce
