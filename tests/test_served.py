"""Served tables: the latency target, the estimates' invariants, and a byte-identical rebuild."""

import math

import numpy as np
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.stacks import SIMULATED_TABLES
from helm_efficiency.builders.served import build
from helm_efficiency.tables.served import (DEFAULT_SLA, ESTIMATE_COLUMNS, SCHEMA_VERSION, Sla, load_served_table, parse_sla,
                                           served_estimates, served_power_w, served_table_path)

STACK = "h100-trtllm"
SHAPES_P = np.array([1, 100, 512, 1000, 3000, 8192, 12000, 40000], float)
SHAPES_O = np.array([0, 1, 16, 256, 1024, 8000, 20000], float)


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
    assert parse_sla("tpot=50ms, batch=64") == Sla(tpot_ms=50.0, ttft_s=2.0, max_batch=64)
    assert parse_sla(str(Sla(30, 1, max_batch=8))) == Sla(30, 1, max_batch=8)
    assert str(Sla(30, 1)) == "tpot=30ms,ttft=1s"  # no batch cap unless one is given


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
    ("batch=0", "batch"),         # no requests
    ("batch=2.5", "batch"),       # not whole
    ("batch=64req", "batch"),     # no unit for a count
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
    for bad in (0, 2.0, True):
        with pytest.raises(EfficiencyInputError) as info:
            Sla(max_batch=bad)
        assert info.value.field == "batch"


# --------------------------------------------------------------------------- estimates


def test_estimates_columns_names_and_reasons():
    names = ["meta/llama-3-8b", "meta-llama/Meta-Llama-3-8B", "not/a-model", None, "microsoft/phi-2"]
    out = served_estimates(names, np.full(5, 512.0), np.full(5, 64.0), stack=STACK)
    assert list(out.columns) == list(ESTIMATE_COLUMNS)
    assert out["served_gpu_s"].iloc[0] > 0 and out["served_gpu_s"].iloc[0] == out["served_gpu_s"].iloc[1]  # HF id resolves
    assert out["served_reason"].iloc[0] == ""
    for i in (2, 3):
        assert math.isnan(out["served_gpu_s"].iloc[i]) and out["served_reason"].iloc[i]
    assert "registry" in out["served_reason"].iloc[2]
    assert list(out["served_method"].iloc[[0, 1, 2, 3]]) == ["simulated", "simulated", "", ""]
    # the simulator refuses Phi-2 (its table says why); it is priced from simulated neighbours
    assert "microsoft/phi-2" in _table().not_served and out["served_gpu_s"].iloc[4] > 0
    assert out["served_method"].iloc[4].startswith("transfer from ") and out["served_reason"].iloc[4] == ""


def _candidates(table, model, p, o, ttft_s=2.0, tpot_ms=50.0):
    """The stored points of one shape that meet the target, and the in-between points of each placement."""
    from helm_efficiency.sources.served import meets, points_at_target

    points = table.points(model, p, o)
    return [q for q in points if meets(q, ttft_s, tpot_ms)] + points_at_target(points, ttft_s, tpot_ms)


def test_estimate_at_stored_shapes_is_the_cheapest_stored_or_in_between_point(monkeypatch):
    """Without the served correction, an estimate at a stored shape is the cheapest of the stored
    (simulated) points and the in-between points of their placements, never above the stored
    operating point."""
    from helm_efficiency.sources import served_correction

    monkeypatch.setattr(served_correction, "load_served_correction", lambda: None)
    table = _table()
    for model in ("meta/llama-3-8b", "meta/llama-3-70b"):
        window = table.entries[model]["context_window"]
        shapes = [(p, o) for p, o in table.shapes(model) if window is None or p + o <= window]
        assert len(shapes) >= 9
        for p, o in shapes:
            point = table.operating_point(model, p, o)
            got = served_estimates([model], [p], [o], stack=STACK).iloc[0]
            candidates = _candidates(table, model, p, o)
            if point is None:
                assert not candidates and math.isnan(got["served_gpu_s"]) and "meets" in got["served_reason"]
                continue
            best = min(candidates, key=lambda q: p / q["prefill_tok_s_per_gpu"] + o / q["decode_tok_s_per_gpu"])
            assert got["served_gpu_s"] == pytest.approx(p / best["prefill_tok_s_per_gpu"] + o / best["decode_tok_s_per_gpu"], rel=1e-9)
            assert got["served_gpu_s"] <= point["gpu_s_per_request"] * (1 + 1e-9)
            assert got["served_num_gpus"] == best["tp"] * best["pp"] and got["served_placement"].startswith(f"tp{best['tp']}")


def test_points_between_stored_batches_follow_the_placements_line():
    """Between two stored batches of one placement, the batch that meets the target is read off
    the TPOT line (rounded down); below the smallest along the line through the two smallest;
    never above the largest; with the lower stored batch's prefill rate and rate ratio."""
    from helm_efficiency.sources.served import points_at_target

    def point(batch, tpot, decode):
        return {"tp": 2, "pp": 1, "ep": 1, "batch_size": batch, "ctx_tokens": 0, "ttft_ms": 100.0 + batch,
                "tpot_ms": tpot, "prefill_tok_s_per_gpu": 1000.0 + batch, "decode_tok_s_per_gpu": decode}

    stored = [point(16, 10.0, 500.0), point(64, 20.0, 1000.0)]
    [between] = [q for q in points_at_target(stored, 10.0, 15.0) if q["batch_size"] > 16]
    assert between["batch_size"] == 40 and between["tpot_ms"] == pytest.approx(15.0)
    ratio = 500.0 * 10.0 * 2 / (1000.0 * 16)  # stored rate over batch / (TPOT × GPUs) at batch 16
    assert between["decode_tok_s_per_gpu"] == pytest.approx(ratio * 1000.0 * 40 / (15.0 * 2))
    assert between["prefill_tok_s_per_gpu"] == 1016.0 and between["ttft_ms"] == 164.0
    [below] = points_at_target(stored, 10.0, 8.0)  # the line through (16, 10) and (64, 20) reaches 8 ms at batch 6.4
    assert below["batch_size"] == 6 and below["ttft_ms"] == 116.0
    assert all(q["batch_size"] < 64 for q in points_at_target(stored, 10.0, 1000.0))
    assert points_at_target(stored, 0.05, 15.0) == []  # TTFT over the target
    assert points_at_target(stored[:1], 10.0, 15.0) == []  # one stored batch: no line


def test_thinning_answers_every_target_and_cap_on_every_placement():
    """The stored points (`pareto`, then `thin`) answer any (TTFT, TPOT) limit and batch cap on
    each placement within the tolerance of the full sweep's best there, never below it, so a
    cap or a correction that favours another placement still finds that placement's points."""
    from helm_efficiency.sources.served import pareto, placement_of, thin

    rng = np.random.default_rng(7)
    points = []
    for tp in (1, 2, 4):
        for batch in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256):
            for ctx in (512, 2048, 8192):
                tpot = (6.0 / tp + 0.08 * batch / tp + 2.0 * (tp - 1)) * (1 + 0.05 * rng.random()) + 0.001 * ctx / 512
                ttft = 30.0 * 2048 / ctx + 2.0 * batch / tp
                points.append({"tp": tp, "pp": 1, "ep": 1, "batch_size": batch, "ctx_tokens": ctx, "ttft_ms": ttft, "tpot_ms": tpot,
                               "gpu_s_per_request": tp * tpot * (1 + 0.01 * ctx / 512) / batch})
    tolerance = 0.15
    kept = thin(pareto(points), tolerance)
    assert len(kept) < len(points)  # thinning dropped something, so the check below could fail
    for ttft in (40.0, 80.0, 200.0, 1e9):
        for tpot in (5.0, 8.0, 12.0, 20.0, 40.0, 1e9):
            for cap in (1, 2, 5, 16, 100, 1000):
                for placement in {placement_of(q) for q in points}:
                    def best(pool):
                        costs = [q["gpu_s_per_request"] for q in pool if placement_of(q) == placement and q["ttft_ms"] <= ttft
                                 and q["tpot_ms"] <= tpot and q["batch_size"] <= cap]
                        return min(costs) if costs else None
                    full, stored = best(points), best(kept)
                    assert (full is None) == (stored is None), (ttft, tpot, cap, placement)
                    if full is not None:
                        assert full <= stored <= (1 + tolerance) * full, (ttft, tpot, cap, placement)


def test_a_looser_target_never_raises_the_cost_between_stored_batches():
    model, p, o = "meta/llama-3.1-8b", np.array([128.0, 1000.0, 3000.0]), np.array([16.0, 700.0, 2000.0])
    previous = None
    for tpot_ms in np.arange(5.0, 80.0, 0.5):
        cost = served_estimates([model] * 3, p, o, stack=STACK, sla=Sla(tpot_ms=tpot_ms, ttft_s=10.0))["served_gpu_s"].to_numpy()
        if previous is not None:
            both = np.isfinite(previous) & np.isfinite(cost)
            assert (cost[both] <= previous[both] * (1 + 1e-12)).all(), tpot_ms
            assert not (np.isfinite(previous) & ~np.isfinite(cost)).any()
        previous = cost


def test_a_request_between_stored_shapes_is_interpolated_linearly_between_their_costs():
    """Bilinear in (p, o) over the four stored shapes around the request, each corner priced at
    its own shape with that shape's cheapest feasible point (stored or in between): a request's
    GPU time is about affine in p and in o (prefill work, then o decode steps' share), which the
    stored shapes' rates, applied to another o, are not (at o = 16 prefill interference fills
    each decode step)."""
    table, model, p, o = _table(), "meta/llama-3.1-8b", 1000.0, 700.0
    (p0, p1), (o0, o1) = ((max(g for g in grid if g < x), min(g for g in grid if g > x))
                          for grid, x in ((table.prompt_tokens, p), (table.output_tokens, o)))
    def corner(pc, oc):
        return min(pc / q["prefill_tok_s_per_gpu"] + oc / q["decode_tok_s_per_gpu"] for q in _candidates(table, model, pc, oc))
    wp, wo = (p - p0) / (p1 - p0), (o - o0) / (o1 - o0)
    expected = ((1 - wp) * (1 - wo) * corner(p0, o0) + wp * (1 - wo) * corner(p1, o0)
                + (1 - wp) * wo * corner(p0, o1) + wp * wo * corner(p1, o1))
    got = served_estimates([model], [p], [o], stack=STACK).iloc[0]
    assert got["served_gpu_s"] == pytest.approx(expected, rel=1e-9)
    assert not got["served_extrapolated"]
    at_corner = served_estimates([model], [float(p0)], [float(o0)], stack=STACK).iloc[0]
    assert at_corner["served_gpu_s"] == pytest.approx(corner(p0, o0), rel=1e-9)


def test_outside_the_grid_is_flagged_extrapolated():
    p = np.array([512, 100, 40000, 512, 512, 128, 32768], float)
    o = np.array([256, 256, 256, 4, 20000, 16, 16384], float)
    out = served_estimates(["meta/llama-3.1-8b"] * len(p), p, o, stack=STACK)
    assert list(out["served_extrapolated"]) == [False, True, True, True, True, False, False]
    assert out["served_gpu_s"].notna().all()


@pytest.mark.parametrize("stack", SIMULATED_TABLES)
def test_long_outputs_cost_more_per_output_token(stack, monkeypatch):
    """With a 512-token prompt, 8,000 output tokens cost more GPU-s per output token than 256
    and than 2,048 for the 8B-class models (every stack, as shipped): each request in flight holds
    its whole KV cache, so fewer fit, and attention reads more. And
    in the stored (simulated) points of every served model with a 128-token prompt, where the
    prompt's share of a 256-token request is small (larger models at p = 512, o = 256 pay for two
    prompt tokens per output token, which can outweigh the KV cache at o = 8,000; with the served
    correction a few large models do so even at p = 128, e.g. Command R+ on `a100-trtllm`)."""
    from helm_efficiency.sources import served_correction

    table = load_served_table(stack)
    models = [m for m in ("meta/llama-3.1-8b", "qwen/qwen2.5-7b", "mistralai/mistral-7b-v0.1") if m in table.entries]
    assert len(models) >= 2
    rising = served_estimates(models * 2, [512] * 2 * len(models), [2048] * len(models) + [8000] * len(models), stack=stack)["served_gpu_s"]
    assert (rising.to_numpy()[len(models):] / 8000 > rising.to_numpy()[: len(models)] / 2048).all(), rising.tolist()
    for p, names in ((512, models), (128, sorted(table.entries))):
        if p == 128:
            monkeypatch.setattr(served_correction, "load_served_correction", lambda: None)
        out = served_estimates(names * 2, [p] * 2 * len(names), [256] * len(names) + [8000] * len(names), stack=stack)
        short, long = out["served_gpu_s"].to_numpy()[: len(names)] / 256, out["served_gpu_s"].to_numpy()[len(names):] / 8000
        both = np.isfinite(short) & np.isfinite(long)
        assert both.sum() >= min(len(names), 35), out["served_reason"].tolist()
        assert (long[both] > short[both]).all(), [(m, a, b) for m, a, b in zip(np.array(names)[both], short[both], long[both]) if b <= a]


def test_the_simulator_reserves_each_requests_whole_kv_cache():
    """The stored points come from the simulator at each shape's real (p, o): at a fixed batch the
    memory grows with the output length, and a batch that fits at o = 256 does not at 16,384."""
    from helm_efficiency.analytic.registry import load_registry
    from helm_efficiency.sources.aiconfigurator import STACKS
    from helm_efficiency.sources.served import ServedSimulator

    entry = load_registry()["qwen/qwen3-0.6b"]
    sim = ServedSimulator(entry["config"], entry.get("hf_id"), STACKS[STACK], 1, "registry qwen/qwen3-0.6b")
    try:
        short, medium, long = (sim.run_point(512, o, 128, 512) for o in (256, 2048, 16384))
    finally:
        sim.close()
    assert short["memory_gb"] < medium["memory_gb"] and long is None


def test_multi_node_models_are_pipelined_across_nodes():
    """Llama-3.1-405B in bf16 needs 16 H100s: TP 8 within each node, pipeline stages across two
    (not TP 16 across nodes), and the placement is shown with the estimate."""
    from helm_efficiency.analytic.hardware import hardware_spec

    table = _table()
    entry = table.entries["meta/llama-3.1-405b"]
    assert entry["placements_tried"] == ["tp8pp2", "tp8pp4"]
    out = served_estimates(["meta-llama/Llama-3.1-405B-Instruct"], [512], [256], stack=STACK).iloc[0]
    assert out["served_placement"].startswith("tp8pp") and "nodes" in out["served_placement"] and out["served_num_gpus"] >= 16
    per_million_output = out["served_gpu_s"] / 3600 * hardware_spec("h100").usd_per_gpu_hour / 256 * 1e6
    # $134.6 with TP 16 across nodes (before pipeline parallelism); latency-bound at the 50 ms default
    # (about $40 with the served correction), so a looser target must cost less again.
    assert per_million_output < 134.6 / 2
    loose = served_estimates(["meta/llama-3.1-405b"], [512], [256], stack=STACK, sla=Sla(100, 2)).iloc[0]["served_gpu_s"]
    assert loose < out["served_gpu_s"] / 2
    within_node = served_estimates(["meta/llama-3.1-8b"], [512], [256], stack=STACK).iloc[0]["served_placement"]
    assert "pp" not in within_node and "nodes" not in within_node


def test_a_table_of_the_old_format_is_refused_naming_the_rebuild(tmp_path):
    import json

    old = {"schema_version": 1, "name": "h100-trtllm", "prompt_tokens": [128], "output_tokens": 256, "entries": {}, "columns": []}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    with pytest.raises(EfficiencyInputError) as info:
        load_served_table(str(path))
    assert info.value.field == "schema_version" and "python -m helm_efficiency.builders.served" in str(info.value)
    path.write_text("{not json")
    with pytest.raises(EfficiencyInputError):
        load_served_table(str(path))


def test_a_zipped_table_reads_one_model_member_at_a_time_and_bad_zips_are_named(tmp_path):
    """The container round-trips a table built in memory; a model's member is read when its
    entry is first used; a broken archive, a missing or corrupted member is an error naming the
    file (and the member)."""
    import zipfile

    from helm_efficiency.builders.served import encode_table

    raw = dict(_table().raw)
    models = ["meta/llama-3-8b", "qwen/qwen3-0.6b"]
    raw["entries"] = {m: {"points": {"128x16": [[1, 1, 1, 4, 512, 10.0, 5.0, 1000.0, 100.0]]}, "context_window": 8192 + i}
                      for i, m in enumerate(models)}
    path = tmp_path / "small.zip"
    path.write_bytes(encode_table(raw))
    table = load_served_table(str(path))
    assert list(table.entries) == models and "qwen/qwen3-0.6b" in table.entries and "no/such-model" not in table.entries
    assert table.entries["qwen/qwen3-0.6b"] == raw["entries"]["qwen/qwen3-0.6b"]
    assert table.entries.get("no/such-model") is None
    with pytest.raises(KeyError):
        table.entries["no/such-model"]
    assert encode_table(raw) == path.read_bytes()  # the same bytes again

    def rewritten(name, keep=lambda member: True, change=lambda member, data: data):
        out = tmp_path / name
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                if keep(info.filename):
                    target.writestr(info, change(info.filename, source.read(info.filename)))
        return out

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    headerless = rewritten("headerless.zip", keep=lambda member: member != "table.json")
    memberless = rewritten("memberless.zip", keep=lambda member: member != "entries/meta/llama-3-8b.json")
    for bad, field in ((broken, "served table"), (headerless, "served table"), (memberless, "entries")):
        with pytest.raises(EfficiencyInputError) as info:
            load_served_table(str(bad))
        assert str(bad) in str(info.value) and info.value.field == field, bad
    garbled = rewritten("garbled.zip", change=lambda member, data: b"{not json" if member.startswith("entries/meta") else data)
    table = load_served_table(str(garbled))
    with pytest.raises(EfficiencyInputError) as info:
        table.entries["meta/llama-3-8b"]
    assert str(garbled) in str(info.value) and info.value.field == "entries/meta/llama-3-8b.json"


# the Hugging Face ids of issue 31, and one that resolved before
HF_IDS = ["meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-405B-Instruct",
          "meta-llama/Llama-2-70b-chat-hf", "meta-llama/Llama-3.1-8B-Instruct"]


def test_idealized_and_served_numbers_name_the_same_model():
    """One resolution for both numbers: each id prices at batch 1 and served, under one registry model."""
    import pandas as pd

    from helm_efficiency.pricing.estimate import estimate_idealized, load_tables

    requests = pd.DataFrame({"model": HF_IDS, "num_prompt_tokens": 512, "num_output_tokens": 256})
    idealized = estimate_idealized(requests, load_tables([STACK]), name_columns=("model",))
    served = served_estimates(HF_IDS, requests["num_prompt_tokens"], requests["num_output_tokens"], stack=STACK)
    assert list(idealized["reference_model"]) == list(served["served_model"]), (list(idealized["reference_model"]), list(served["served_model"]))
    assert list(served["served_model"]) == ["meta/llama-3.1-70b", "meta/llama-3.1-70b", "meta/llama-3.1-405b", "meta/llama-2-70b",
                                            "meta/llama-3.1-8b"]
    assert (idealized["idealized_runtime_s"] > 0).all() and (served["served_gpu_s"] > 0).all(), served["served_reason"].tolist()


def test_cost_energy_and_intervals_are_consistent():
    from helm_efficiency.analytic.hardware import hardware_spec

    out = served_estimates(["meta/llama-3-8b"] * 3, [128, 700, 5000], [1, 200, 900], stack=STACK)
    usd = hardware_spec("h100").usd_per_gpu_hour
    assert np.allclose(out["served_cost_usd"], out["served_gpu_s"] / 3600 * usd)
    # Energy draws the power measured under load at each request's operating point: between the
    # batch-1 draw and the 700 W board limit, never more.
    watts = out["served_energy_j"] / out["served_gpu_s"]
    low, _, _, _ = served_power_w("h100", [1])
    assert (watts >= low[0] - 1e-9).all() and (watts <= 700).all()
    mid, lo, hi, source = served_power_w("h100", [1, 64, 512])
    assert (lo <= mid).all() and (mid <= hi).all() and (hi <= 700).all() and "measured power under load" in source
    for base in ("served_gpu_s", "served_cost_usd", "served_energy_j"):
        assert (out[f"{base}_lo"] <= out[base]).all() and (out[base] <= out[f"{base}_hi"]).all()


def test_the_band_at_a_latency_target_carries_the_latency_uncertainty():
    """hi is the cost of meeting the target if TPOT is hi_f times ours (a tighter target on our
    points), so it is at least the fixed-point band, and more where the latency binds."""
    from helm_efficiency.sources.served_correction import interval_factors

    lo_f, hi_f, _ = interval_factors(STACK)
    names, p, o = ["meta/llama-3-8b"] * 2, [512, 512], [256, 256]
    loose = served_estimates(names[:1], p[:1], o[:1], stack=STACK, sla=Sla(200, 30)).iloc[0]
    tight = served_estimates(names[:1], p[:1], o[:1], stack=STACK, sla=Sla(12, 2)).iloc[0]
    for row in (loose, tight):
        assert row["served_gpu_s_hi"] >= row["served_gpu_s"] * hi_f * (1 - 1e-12)
        assert row["served_gpu_s_lo"] <= row["served_gpu_s"] * lo_f * (1 + 1e-12)
    shifted = served_estimates(names[:1], p[:1], o[:1], stack=STACK, sla=Sla(12 / hi_f, 2)).iloc[0]["served_gpu_s"]
    assert tight["served_gpu_s_hi"] == pytest.approx(max(shifted, tight["served_gpu_s"]) * hi_f)
    assert tight["served_gpu_s_hi"] / tight["served_gpu_s"] > hi_f  # at 12 ms the latency binds on an H100


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
        cost = served_estimates(names, pp, oo, stack=STACK, sla=sla)["served_gpu_s"].fillna(np.inf).to_numpy()
        if previous is not None:
            bad = cost < previous * (1 - 1e-12)
            assert not bad.any(), [(names[i], pp[i], oo[i], previous[i], cost[i]) for i in np.flatnonzero(bad)[:5]]
        previous = cost


@pytest.mark.slow
def test_a_lower_batch_cap_never_lowers_cost_and_is_kept():
    """Sla.max_batch: every served model, many shapes; a smaller cap removes points, so the cost
    never falls, and the point chosen runs at most that many requests; no cap is the latency alone.
    The band keeps the cap (where it binds, the point's own band), and `operating_point` picks the
    point the estimate priced."""
    from helm_efficiency.sources.served_correction import interval_factors
    from helm_efficiency.tables.served import _ModelPoints, _priced_by_shape

    models = _served_models()
    p, o = np.meshgrid(SHAPES_P, SHAPES_O)
    p, o = p.ravel().astype(float), o.ravel().astype(float)
    names = [m for m in models for _ in p]
    pp, oo = np.tile(p, len(models)), np.tile(o, len(models))
    loose = Sla(200, 30)
    previous = served_estimates(names, pp, oo, stack=STACK, sla=loose)["served_gpu_s"].fillna(np.inf).to_numpy()
    for cap in (512, 64, 16, 4, 1):
        cost = served_estimates(names, pp, oo, stack=STACK, sla=Sla(200, 30, max_batch=cap))["served_gpu_s"].fillna(np.inf).to_numpy()
        bad = cost < previous * (1 - 1e-12)
        assert not bad.any(), [(names[i], pp[i], oo[i], previous[i], cost[i]) for i in np.flatnonzero(bad)[:5]]
        previous = cost
    for model in models[:5]:
        batches = _priced_by_shape(_ModelPoints(_table(), model, Sla(200, 30, max_batch=4)), p, o)[5]
        assert (batches[np.isfinite(batches)] <= 4).all()
    # at batch 1 a request costs about what it costs alone: far more than the uncapped served cost
    capped = served_estimates(["meta/llama-3-8b"], [512], [256], stack=STACK, sla=Sla(200, 30, max_batch=1)).iloc[0]
    free = served_estimates(["meta/llama-3-8b"], [512], [256], stack=STACK, sla=loose).iloc[0]["served_gpu_s"]
    assert capped["served_gpu_s"] > 10 * free
    lo_f, hi_f, _ = interval_factors(STACK)
    assert capped["served_gpu_s_lo"] == pytest.approx(capped["served_gpu_s"] * lo_f, rel=1e-9)
    assert capped["served_gpu_s_hi"] == pytest.approx(capped["served_gpu_s"] * hi_f, rel=1e-9)
    point = _table().operating_point("meta/llama-3-8b", 512, 256, Sla(200, 30, max_batch=1))
    assert point["batch_size"] == 1 and point["gpu_s_per_request"] == pytest.approx(capped["served_gpu_s"], rel=1e-9)


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
        p = np.array([128, 512, 2048, 8192, 128, 2048, 512], float)
        o = np.array([256, 256, 256, 256, 16, 1024, 4000], float)
        served = served_estimates([model] * len(p), p, o, stack=STACK)["served_gpu_s"].to_numpy()
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
    a, b = open(served_table_path(STACK, str(first)), "rb").read(), open(served_table_path(STACK, str(second)), "rb").read()
    assert a == b
    rebuilt = load_served_table(served_table_path(STACK, str(first)))
    assert sorted(rebuilt.entries) == ["meta/llama-3-8b", "qwen/qwen3-0.6b"] and "microsoft/phi-2" in rebuilt.not_served
    # and the shipped table holds the same points for these models (it was built by the same code)
    shipped = _table()
    for model in rebuilt.entries:
        assert rebuilt.entries[model] == shipped.entries[model]


@pytest.mark.parametrize("stack", SIMULATED_TABLES)
def test_shipped_tables_have_provenance_and_the_grid(stack):
    from helm_efficiency.sources.served import SERVED_OUTPUT_TOKENS, SERVED_PROMPT_TOKENS, served_shapes

    table = load_served_table(stack)
    assert table.raw["schema_version"] == SCHEMA_VERSION
    prov = table.raw["provenance"]
    assert prov["package"] == "aiconfigurator-core" and prov["backend_version"] and prov["command"][-1] == stack
    assert table.raw["default_sla"] == {"tpot_ms": 50.0, "ttft_s": 2.0}
    assert table.prompt_tokens == SERVED_PROMPT_TOKENS and table.output_tokens == SERVED_OUTPUT_TOKENS
    assert max(table.prompt_tokens) >= 32768 and max(table.output_tokens) >= 16384
    assert len(table.entries) > 50
    assert all(isinstance(reason, str) and reason for reason in table.not_served.values())
    for model, entry in table.entries.items():
        assert table.shapes(model) == sorted(served_shapes(context_window=entry["context_window"])), model


def test_every_stack_name_list_derives_from_one_place():
    from helm_efficiency.cli import build_parser
    from helm_efficiency.sources.aiconfigurator import STACKS
    from helm_efficiency.sources.anchor import BACKEND_STACK_SYSTEMS
    from helm_efficiency.stacks import SHIPPED_TABLES

    assert tuple(STACKS) == SIMULATED_TABLES and set(SIMULATED_TABLES) <= set(SHIPPED_TABLES)
    assert set(BACKEND_STACK_SYSTEMS.values()) == set(SIMULATED_TABLES)
    assert {"b200-trtllm", "b200-vllm"} <= set(SIMULATED_TABLES)
    help_text = build_parser().format_help() + " ".join(
        a.format_help() for a in build_parser()._subparsers._group_actions[0].choices.values())
    for name in SIMULATED_TABLES:
        assert name in help_text, name


def test_b200_stacks_work_in_run_entries_and_estimate(tmp_path):
    import pandas as pd

    from helm_efficiency.analytic.hardware import hardware_spec
    from helm_efficiency.cli import main
    from helm_efficiency.helm.run_expander import tables_from_value

    assert tables_from_value("b200-trtllm") == ("b200-trtllm",) and tables_from_value("b200-vllm+h100-trtllm") == ("b200-vllm", "h100-trtllm")
    assert hardware_spec("b200-trtllm").power_w == 1000 and hardware_spec("b200").usd_per_gpu_hour > 0
    pd.DataFrame({"model": ["meta/llama-3.1-8b", "meta-llama/Llama-3.1-405B-Instruct"], "num_prompt_tokens": [512, 512],
                  "num_output_tokens": [256, 256]}).to_csv(tmp_path / "r.csv", index=False)
    main(["estimate", "--table", "b200-trtllm", str(tmp_path / "r.csv"), "-o", str(tmp_path / "e.csv")])
    est = pd.read_csv(tmp_path / "e.csv")
    assert (est["idealized_runtime_s"] > 0).all() and (est["served_gpu_s"] > 0).all() and (est["served_cost_usd"] > 0).all()
    assert list(est["reference_model"]) == list(est["served_model"]) and est["served_placement"].str.startswith("tp").all()
