"""Served tables: the latency target, the estimates' invariants, and a byte-identical rebuild."""

import math
import os

import numpy as np
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.tables.served import (DEFAULT_SLA, ESTIMATE_COLUMNS, Sla, build, load_served_table, parse_sla,
                                           served_estimates, served_power_w)

STACK = "h100-trtllm"
SHAPES_P = np.array([1, 100, 512, 1000, 3000, 8192, 12000], float)
SHAPES_O = np.array([0, 1, 16, 256, 1024], float)


def _table():
    return load_served_table(STACK)


def _served_models():
    return sorted(_table().entries)


# --------------------------------------------------------------------------- parse_sla


def test_parse_sla_valid():
    assert parse_sla("tpot=50ms,ttft=2s") == Sla(50.0, 2.0) == DEFAULT_SLA
    assert parse_sla(" ttft = 500ms , tpot=0.02s ") == Sla(tpot_ms=20.0, ttft_s=0.5)
    assert parse_sla("tpot=25ms") == Sla(tpot_ms=25.0, ttft_s=2.0)
    assert parse_sla("TTFT=1.5s") == Sla(tpot_ms=50.0, ttft_s=1.5)
    assert parse_sla(str(Sla(30, 1))) == Sla(30, 1)


@pytest.mark.parametrize("text, field", [
    ("tpot=50", "tpot"),          # missing unit
    ("tpot=50kg", "tpot"),        # unknown unit
    ("ttft=2ms2", "ttft"),        # malformed number
    ("ttft=2h", "ttft"),          # unit not allowed for ttft
    ("tpot=-5ms", "tpot"),        # negative
    ("ttft=0s", "ttft"),          # zero
    ("tpot=abcms", "tpot"),       # not a number
    ("latency=2s", "latency"),    # unknown key
    ("tpot50ms", "sla"),          # no '='
    ("", "sla"),                  # empty
    ("tpot=50ms,,ttft=2s", "sla"),  # empty item
    ("tpot=50ms,tpot=60ms", "tpot"),  # given twice
    ("tpot=infms", "tpot"),
])
def test_parse_sla_errors_name_the_field(text, field):
    with pytest.raises(EfficiencyInputError) as info:
        parse_sla(text)
    assert info.value.field == field
    assert field in str(info.value)


def test_sla_dataclass_validates():
    with pytest.raises(EfficiencyInputError):
        Sla(tpot_ms=0)
    with pytest.raises(EfficiencyInputError):
        Sla(ttft_s=float("nan"))
    with pytest.raises(Exception):
        DEFAULT_SLA.tpot_ms = 3  # frozen


# --------------------------------------------------------------------------- estimates


def test_estimates_columns_names_and_reasons():
    names = ["meta/llama-3-8b", "meta-llama/Meta-Llama-3-8B", "not/a-model", None, "microsoft/phi-2"]
    out = served_estimates(names, np.full(5, 512.0), np.full(5, 64.0), STACK)
    assert list(out.columns) == list(ESTIMATE_COLUMNS)
    assert out["served_gpu_s"].iloc[0] > 0 and out["served_gpu_s"].iloc[0] == out["served_gpu_s"].iloc[1]  # HF id resolves
    assert out["served_reason"].iloc[0] == ""
    for i in (2, 3, 4):
        assert math.isnan(out["served_gpu_s"].iloc[i]) and out["served_reason"].iloc[i]
    assert "registry" in out["served_reason"].iloc[2]
    assert "phi-2" in out["served_reason"].iloc[4]  # the simulator's refusal, carried from the table


@pytest.mark.parametrize("sla", ["tpot=50ms,ttft=2s", "tpot=10ms,ttft=0.2s", "tpot=5ms,ttft=0.05s"])
def test_vectorized_estimates_follow_the_per_request_rule(sla):
    """served_estimates prices arrays at once; each request gets exactly what the one-request rule
    (_ModelPoints.gpu_s) gives it, including the reason where no point meets a tight target."""
    from helm_efficiency.tables.served import _ModelPoints

    rng = np.random.default_rng(0)
    p = np.r_[SHAPES_P, rng.integers(1, 40000, 300)].astype(float)
    o = rng.integers(0, 2000, len(p)).astype(float)
    target = parse_sla(sla)
    for model in ("meta/llama-3-8b", "meta/llama-3-70b"):
        out = served_estimates([model] * len(p), p, o, STACK, target)
        points = _ModelPoints(_table(), model, target)
        for i in range(len(p)):
            value, gpus, extrapolated, reason = points.gpu_s(p[i], o[i])
            got = out.iloc[i]
            assert got["served_reason"] == reason and bool(got["served_extrapolated"]) == extrapolated
            assert (math.isnan(value) and math.isnan(got["served_gpu_s"])) or got["served_gpu_s"] == pytest.approx(value, rel=1e-12)
            assert reason or got["served_num_gpus"] == gpus
    assert out["served_reason"].str.contains("meets").any() or sla == "tpot=50ms,ttft=2s"


def test_estimate_is_the_stored_operating_point_at_stored_shapes(monkeypatch):
    """Without the served correction, estimates are exactly the stored (simulated) points."""
    from helm_efficiency.sources import served_correction

    monkeypatch.setattr(served_correction, "load_served_correction", lambda: None)
    table = _table()
    for model in ("meta/llama-3-8b", "meta/llama-3-70b"):
        for p in table.prompt_tokens:
            point = table.operating_point(model, p)
            got = served_estimates([model], [p], [table.output_tokens], STACK).iloc[0]
            assert got["served_gpu_s"] == pytest.approx(point["gpu_s_per_request"], rel=1e-9)
            assert got["served_gpu_s"] == pytest.approx(p / point["prefill_tok_s_per_gpu"] + table.output_tokens / point["decode_tok_s_per_gpu"])
            stored = table.entries[model]["operating_points"][str(p)]
            assert stored["gpu_s_per_request"] == pytest.approx(point["gpu_s_per_request"], rel=1e-4)


def test_cost_energy_and_intervals_are_consistent():
    from helm_efficiency.analytic.hardware import hardware_spec

    out = served_estimates(["meta/llama-3-8b"] * 3, [128, 700, 5000], [1, 200, 900], STACK)
    mid, lo, hi, source = served_power_w("h100")
    assert lo <= mid <= hi == 700 and "ML.ENERGY" in source
    usd = hardware_spec("h100").usd_per_gpu_hour
    assert np.allclose(out["served_cost_usd"], out["served_gpu_s"] / 3600 * usd)
    assert np.allclose(out["served_energy_j"], out["served_gpu_s"] * mid)
    for base in ("served_gpu_s", "served_cost_usd", "served_energy_j"):
        assert (out[f"{base}_lo"] <= out[base]).all() and (out[base] <= out[f"{base}_hi"]).all()


def test_tighter_latency_target_never_lowers_cost():
    """Monotonicity, every served model, many shapes: NaN (no configuration) counts as infinite."""
    ladder = [Sla(500, 30), Sla(100, 5), Sla(50, 2), Sla(30, 1), Sla(20, 0.5), Sla(10, 0.2)]
    models = _served_models()
    p, o = np.meshgrid(SHAPES_P, SHAPES_O)
    p, o = p.ravel(), o.ravel()
    names = [m for m in models for _ in p]
    pp, oo = np.tile(p, len(models)), np.tile(o, len(models))
    previous = None
    for sla in ladder:
        cost = served_estimates(names, pp, oo, STACK, sla)["served_gpu_s"].fillna(np.inf).to_numpy()
        if previous is not None:
            bad = cost < previous * (1 - 1e-12)
            assert not bad.any(), [(names[i], pp[i], oo[i], previous[i], cost[i]) for i in np.flatnonzero(bad)[:5]]
        previous = cost


@pytest.mark.slow
def test_served_never_costs_more_than_batch_1():
    """Batching cannot cost more GPU time per request than running it alone: the default table's
    served GPU-s at the default SLA against the batch-1 h100-trtllm entry's runtime x GPUs."""
    from helm_efficiency.tables.cost_table import shipped_table

    batch1 = shipped_table("h100-trtllm")
    violations, compared = [], 0
    for model in _served_models():
        entry = batch1.resolve([model])
        if entry is None:
            continue
        p = np.array([128, 512, 2048, 8192, 128, 2048], float)
        o = np.array([256, 256, 256, 256, 16, 1024], float)
        served = served_estimates([model] * len(p), p, o, STACK)["served_gpu_s"].to_numpy()
        alone = entry.predict(p, o)["runtime_s"].to_numpy() * entry.num_gpus
        for i in np.flatnonzero(np.isfinite(served)):
            compared += 1
            if served[i] / o[i] > alone[i] / o[i] * (1 + 1e-9):
                violations.append((model, p[i], o[i], served[i], alone[i]))
    assert compared > 300
    assert not violations, violations[:10]


# --------------------------------------------------------------------------- building


@pytest.mark.slow
def test_rebuild_is_byte_identical(tmp_path):
    models = ["meta/llama-3-8b", "qwen/qwen3-0.6b", "microsoft/phi-2"]  # phi-2: a refusal, kept with its reason
    first, second = tmp_path / "a", tmp_path / "b"
    build([STACK], str(first), models, jobs=1, progress=False)
    build([STACK], str(second), models, jobs=1, progress=False)
    a, b = (first / f"{STACK}.json").read_bytes(), (second / f"{STACK}.json").read_bytes()
    assert a == b
    rebuilt = load_served_table(str(first / f"{STACK}.json"))
    assert sorted(rebuilt.entries) == ["meta/llama-3-8b", "qwen/qwen3-0.6b"] and "microsoft/phi-2" in rebuilt.not_served
    # and the shipped table holds the same points for these models (it was built by the same code)
    shipped = _table()
    for model in rebuilt.entries:
        assert rebuilt.entries[model] == shipped.entries[model]


def test_shipped_tables_have_provenance():
    from helm_efficiency.tables.names import SIMULATED_TABLES

    for stack in SIMULATED_TABLES:
        path = os.path.join(os.path.dirname(__file__), "..", "helm_efficiency", "tables", "data", "served", f"{stack}.json")
        if not os.path.exists(path):
            pytest.skip(f"{stack} served table not built")
        table = load_served_table(stack)
        prov = table.raw["provenance"]
        assert prov["package"] == "aiconfigurator-core" and prov["backend_version"] and prov["command"]
        assert table.raw["default_sla"] == {"tpot_ms": 50.0, "ttft_s": 2.0}
        assert len(table.entries) > 50
        assert all(isinstance(reason, str) and reason for reason in table.not_served.values())
