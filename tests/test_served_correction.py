"""The served correction: its data loader, its shape, and a byte-identical refit."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources import served_correction as S
from helm_efficiency.sources.measured_served import SERVED_DIR, load_served_measured, read_served_file, served_rows


def test_the_shipped_served_data_load_and_meet_the_issue_counts():
    data = load_served_measured()
    assert data["source_id"].nunique() >= 6 and len(data) >= 300
    stacks = data["stack"].str.extract(r"(vLLM|SGLang|TensorRT-LLM)")[0].dropna().unique()
    assert set(stacks) == {"vLLM", "SGLang", "TensorRT-LLM"}
    assert (pd.to_numeric(data["tp"], errors="coerce") > 1).sum() >= 60
    assert (pd.to_numeric(data["output_tokens"], errors="coerce") >= 2000).sum() >= 50
    rows = served_rows(data)
    assert rows["gpu"].nunique() >= 3 and (rows["gpu_s_per_token"] > 0).all()


@pytest.mark.parametrize("column, value, field", [("tp", "two", "row 2: tp"), ("concurrency", "-4", "row 2: concurrency"),
                                                  ("kind", "guess", "row 2: kind"), ("source_ref", "", "row 2: source_ref"),
                                                  ("gpu", "B200, like the H100 row", "row 2: gpu")])
def test_the_loader_names_file_row_and_column(tmp_path, column, value, field):
    original = os.path.join(SERVED_DIR, "nim_dli_genaiperf_sweep.csv")
    table = pd.read_csv(original, dtype=str, keep_default_na=False).head(3)
    table.loc[0, column] = value
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(EfficiencyInputError) as e:
        read_served_file(str(path))
    assert str(path) in str(e.value) and field in str(e.value)


def test_the_loader_names_missing_columns(tmp_path):
    path = tmp_path / "short.csv"
    pd.read_csv(os.path.join(SERVED_DIR, "nim_dli_genaiperf_sweep.csv")).drop(columns=["tpot_ms"]).head(2).to_csv(path, index=False)
    with pytest.raises(EfficiencyInputError, match="tpot_ms"):
        read_served_file(str(path))


def test_corrected_latency_grows_with_the_batch_and_with_the_kernels():
    fitted = S.load_served_correction()["quantities"]
    for backend in ("trtllm", "vllm", "sglang"):
        batch = np.array([1, 8, 64, 256, 512], float)
        tpot = 0.01 * S.ratio(fitted, "tpot", backend, batch, 0.01)
        assert (np.diff(tpot) >= 0).all(), backend
        slower = S.ratio(fitted, "tpot", backend, batch, 0.02) * 0.02
        assert (slower > tpot).all()
        assert (S.ratio(fitted, "ttft", backend, batch, 0.1) > 0).all()


def _as_simulated_rows(points, o: int, layers: int, backend: str) -> pd.DataFrame:
    """Uncorrected point dicts (with gpu_s_per_request) as the simulated rows `corrected_gpu` prices."""
    return pd.DataFrame({"sim_gpu_s_per_token": [q["gpu_s_per_request"] / o for q in points], "sim_ttft_s": [q["ttft_ms"] / 1e3 for q in points],
                         "sim_tpot_s": [q["tpot_ms"] / 1e3 for q in points], "o": o, "tp": [q["tp"] for q in points], "num_layers": layers,
                         "legacy": False, "backend": backend, "batch": [q["batch_size"] for q in points]})


def test_corrected_points_keep_the_gpu_time_identity_the_bench_judges():
    """A stored point's GPU time grows by the closed-loop latency factor, the one `corrected_gpu`
    applies to the measured rows the correction is judged on: the tables ship what the bench scores."""
    from helm_efficiency.sources.served import point_from_row, STORED_FIELDS

    points = [{"tp": 1, "pp": 1, "ep": 1, "batch_size": b, "ctx_tokens": 512, "ttft_ms": 200.0, "tpot_ms": 20.0,
               "prefill_tok_s_per_gpu": 10000.0, "decode_tok_s_per_gpu": 100.0 * b, "num_output_tokens": o} for b in (8, 64) for o in (16, 1024)]
    out = S.correct_points("h100-vllm", "m", points)
    assert points[0]["tpot_ms"] == 20.0  # the input is not changed
    fitted = S.load_served_correction()["quantities"]
    for q, c in zip(points, out):
        r = S.ratio(fitted, "tpot", "vllm", [q["batch_size"]], q["tpot_ms"] / 1e3)[0]
        f = S.ratio(fitted, "ttft", "vllm", [q["batch_size"]], q["ttft_ms"] / 1e3)[0]
        assert c["tpot_ms"] == pytest.approx(q["tpot_ms"] * r) and c["ttft_ms"] == pytest.approx(q["ttft_ms"] * f)
        raw, corrected = (point_from_row([x[k] for k in STORED_FIELDS], 512, q["num_output_tokens"]) for x in (q, c))
        gpu_s = [raw["gpu_s_per_request"], corrected["gpu_s_per_request"]]
        row = _as_simulated_rows([raw], q["num_output_tokens"], 0, "vllm")
        assert gpu_s[1] / q["num_output_tokens"] == pytest.approx(S.corrected_gpu(fitted, row)[0])
        assert min(f, r) <= gpu_s[1] / gpu_s[0] <= max(f, r)
    assert out[0]["decode_tok_s_per_gpu"] / points[0]["decode_tok_s_per_gpu"] != pytest.approx(
        out[1]["decode_tok_s_per_gpu"] / points[1]["decode_tok_s_per_gpu"])  # short outputs weigh the TTFT more


def test_the_latency_factor_weighs_ttft_and_tpot_by_their_share_of_the_request():
    f, t = np.array([3.0, 3.0, 3.0]), np.array([1.5, 1.5, 1.5])
    k = S.latency_factor([0.2, 0.2, 0.2], [0.02, 0.02, 0.02], [1, 11, 100001], f, t)
    assert k[0] == pytest.approx(3.0)  # one output token: the first token alone
    assert k[1] == pytest.approx((0.2 * 3.0 + 10 * 0.02 * 1.5) / (0.2 + 10 * 0.02))
    assert k[2] == pytest.approx(1.5, rel=1e-3)  # a long generation: its decode steps


def test_a_table_point_is_priced_as_the_bench_prices_a_measured_row():
    """Through the real path: a stored point of a shipped table, read by `ServedTable.points`,
    costs its simulated GPU time × the latency factor, which is `corrected_gpu` on the same
    simulated values."""
    from helm_efficiency.sources.served import point_from_row, shape_key
    from helm_efficiency.tables.served import load_served_table, num_layers

    stack, model, p, o = "h100-vllm", "meta/llama-3.1-8b", 512, 256
    table = load_served_table(stack)
    raw = [point_from_row(row, p, o) for row in table.entries[model]["points"][shape_key(p, o)]]
    read = table.points(model, p, o)
    assert len(raw) == len(read) > 1
    expected = S.corrected_gpu(S.load_served_correction()["quantities"], _as_simulated_rows(raw, o, num_layers(model), "vllm"))
    assert np.allclose([q["gpu_s_per_request"] / o for q in read], expected, rtol=1e-9)


def test_request_rate_rows_enter_by_littles_law_only_where_the_server_kept_up():
    data = load_served_measured()
    rate = data[(data["kind"] == "rate_sweep") & (data["source_id"] == "trtllm_perf_overview_v0_14_online")]
    rows = served_rows(rate)
    assert len(rows) and (rows["kind"] == "rate_sweep").all()
    number = lambda c: pd.to_numeric(rate[c])  # noqa: E731
    kept_up = number("request_s") >= 0.9 * number("request_rate")
    assert len(rows) == kept_up.sum() < len(rate)  # the saturated QPS 32 rows stay out
    r = rows.iloc[0]
    assert r["concurrency"] == max(round(r["request_s"] * (r["ttft_s"] + (r["o"] - 1) * r["tpot_s"]) / (r["num_gpus"] / r["tp"])), 1)


def test_the_all_reduce_term_makes_tensor_parallel_steps_slower():
    fitted = S.load_served_correction()["quantities"]
    if "comm" not in fitted["tpot"].get("coefficients", {}):
        pytest.skip("the shipped TPOT form has no all-reduce term")
    batch = np.array([1, 16, 128], float)
    one, four = (S.ratio(fitted, "tpot", "vllm", batch, 0.01, tp=tp, layers=80) for tp in (1, 4))
    assert (four > one).all()
    assert np.allclose(S.ratio(fitted, "tpot", "vllm", batch, 0.01, tp=4, layers=0), one)  # no layers known: no term
    points = [{"tp": tp, "ep": 1, "batch_size": 8, "ctx_tokens": 512, "ttft_ms": 200.0, "tpot_ms": 20.0,
               "prefill_tok_s_per_gpu": 10000.0, "decode_tok_s_per_gpu": 800.0, "num_output_tokens": 256} for tp in (1, 8)]
    tp1, tp8 = S.correct_points("h100-vllm", "m", points, layers=80)
    assert tp8["tpot_ms"] > tp1["tpot_ms"] and tp8["decode_tok_s_per_gpu"] < tp1["decode_tok_s_per_gpu"]


def test_older_releases_are_judged_with_their_version_and_tables_priced_as_current():
    fitted = S.load_served_correction()["quantities"]
    tpot = fitted["tpot"]
    if "legacy" not in tpot.get("coefficients", {}) and "legacy" not in tpot["form"]:
        pytest.skip("the shipped TPOT form has no version term")
    batch = np.array([1, 16, 128], float)
    old = S.predict_ratio(tpot, "trtllm", batch, 0.01, legacy=True)
    current = S.predict_ratio(tpot, "trtllm", batch, 0.01)
    assert (old > current).all()  # older releases measured slower than the simulator's current one
    points = [{"tp": 1, "ep": 1, "batch_size": 8, "ctx_tokens": 512, "ttft_ms": 200.0, "tpot_ms": 20.0,
               "prefill_tok_s_per_gpu": 10000.0, "decode_tok_s_per_gpu": 800.0, "num_output_tokens": 256}]
    at_point = S.predict_ratio(tpot, "trtllm", [8], 0.02)[0]
    assert S.correct_points("h100-trtllm", "m", points)[0]["tpot_ms"] == pytest.approx(20.0 * at_point)  # tables: current


def test_the_interval_is_two_sided_and_power_follows_the_load():
    lo, hi, _ = S.interval_factors("h100-trtllm")
    assert lo < 1.0 < hi
    mid, low, high, how = S.served_power_w("h100", [1, 8, 64, 512])
    assert (np.diff(mid) >= 0).all() and (low <= mid).all() and (mid <= high).all() and (high <= 700).all()
    assert "measured" in how
    a100 = S.served_power_w("a100", [64])
    assert "assumption" in a100[3]


def test_each_gpu_draws_its_own_measured_power_or_the_nearest_boards():
    """B200 has measured rows of its own (power only: they never enter the GPU-time fit); H200 and
    A100 have none and scale the curve of the GPU whose board limit is nearest (H100's, 700 W),
    not B200's 1,000 W one."""
    fitted = S.fit_power(S.power_rows(load_served_measured()))
    assert {"h100", "b200"} <= set(fitted)
    power_only = load_served_measured().query("source_id == 'semantic_router_b200_power'")
    assert len(power_only) and not served_rows()["source_id"].eq("semantic_router_b200_power").any()
    with pytest.raises(ValueError, match="decode_window"):
        served_rows(kinds=("concurrency_sweep", "decode_window"))
    mid, _, _, how = S.served_power_w("b200", [1, 64, 1725])
    assert "on b200" in how and "assumption" not in how
    assert mid[0] == pytest.approx(512.91) and mid[2] == pytest.approx(794.99) and (np.diff(mid) >= 0).all()
    for gpu, limit in (("h200", 700.0), ("a100", 400.0)):
        scaled, _, _, how = S.served_power_w(gpu, [64])
        assert "on h100" in how and scaled[0] == pytest.approx(S.served_power_w("h100", [64])[0][0] * limit / 700.0)


@pytest.mark.slow
def test_refitting_the_served_correction_is_byte_identical(tmp_path, monkeypatch):
    target = tmp_path / "served_correction.json"
    shutil.copy(S.CORRECTION_PATH, target)
    monkeypatch.setattr(S, "CORRECTION_PATH", str(target))
    S.main(["--fit"])
    with open(target, "rb") as a, open(os.path.join(os.path.dirname(S.__file__), "..", "tables", "data", "served", "served_correction.json"), "rb") as b:
        assert a.read() == b.read()


def test_a_tpot_fit_given_to_the_held_out_loop_is_composed_as_the_shipped_one():
    """`held_out_gpu_error(tpot_ratio=...)` (how bench/served_terms.py judges candidate terms):
    handed the shipped form's own fit and prediction, it gives the shipped held-out errors; handed
    a TPOT twice as slow, every row's GPU time grows, by less than 2× where TTFT is part of it."""
    from helm_efficiency.sources.served_anchor import load_served_simulated

    rows = S.fit_rows(load_served_simulated())
    rows = rows[rows["source_id"].isin(rows["source_id"].unique()[:4])].reset_index(drop=True)
    shipped = S.load_served_correction()["quantities"]
    ttft_form, tpot_form = shipped["ttft"]["form"], shipped["tpot"]["form"]

    def same(train, held):
        fit = S.fit_quantity(train, "tpot", tpot_form)
        return S.predict_ratio(fit, held["backend"].to_numpy(), held["batch"], held["sim_tpot_s"].to_numpy(float), tp=held["tp"].to_numpy(float),
                               layers=held["num_layers"].to_numpy(float), legacy=held["legacy"].to_numpy(object))

    default = S.held_out_gpu_error(rows, ttft_form, tpot_form)
    assert default.notna().sum() > 100
    assert np.allclose(S.held_out_gpu_error(rows, ttft_form, tpot_form, tpot_ratio=same), default, equal_nan=True)
    doubled = S.held_out_gpu_error(rows, ttft_form, tpot_form, tpot_ratio=lambda train, held: 2 * same(train, held))
    grew = (doubled - default).dropna()
    assert (grew > 0).all() and (grew < np.log(2)).all()


def test_a_fractional_concurrency_is_replicas_at_the_floor_and_the_ceiling(monkeypatch):
    """A client's concurrency of 25 over two data-parallel replicas (12.5 per replica) is one
    replica at 12 and one at 13: requests per GPU-second add up, TTFT and TPOT are averaged over
    the requests; a whole concurrency is the simulator's own point."""
    from helm_efficiency.sources import served_anchor

    points = {b: {"batch_size": b, "gpu_s_per_request": 0.1 * b ** 0.5, "prefill_tok_s_per_gpu": 1000.0 + b,
                  "ttft_ms": 10.0 * b, "tpot_ms": 5.0 + b} for b in (12, 13)}
    monkeypatch.setattr(served_anchor, "best_at_batch", lambda sim, isl, osl, batch: points.get(batch))
    assert served_anchor.point_at_concurrency(None, 512, 128, 12.0) is points[12]
    mixed = served_anchor.point_at_concurrency(None, 512, 128, 12.5)
    rate = 0.5 / points[12]["gpu_s_per_request"] + 0.5 / points[13]["gpu_s_per_request"]
    assert mixed["gpu_s_per_request"] == pytest.approx(1.0 / rate)
    assert points[12]["gpu_s_per_request"] < mixed["gpu_s_per_request"] < points[13]["gpu_s_per_request"]
    assert mixed["tpot_ms"] == pytest.approx((12 * 17.0 + 13 * 18.0) / 25)
    share = [512 / (q["gpu_s_per_request"] * q["prefill_tok_s_per_gpu"]) for q in (points[12], points[13])]
    assert 512 / (mixed["gpu_s_per_request"] * mixed["prefill_tok_s_per_gpu"]) == pytest.approx(sum(share) / 2)
    assert mixed["batch_size"] == 12.5
    assert served_anchor.point_at_concurrency(None, 512, 128, 13.5) is None  # 14 does not fit
    points.pop(12)
    assert served_anchor.point_at_concurrency(None, 512, 128, 12.5) is None  # the floor does not fit
    with pytest.raises(ValueError, match="under one"):
        served_anchor.point_at_concurrency(None, 512, 128, 0.5)
