"""Pareto flags, ranks and the leaderboard on small hand-made tables, ties and missing values."""

import os

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.report.leaderboard import model_table, write_leaderboard
from helm_efficiency.report.pareto import pareto_optimal, rank_correlation, rank_lower_better


def s(values):
    return pd.Series(values, dtype=float)


def test_pareto_basic_domination():
    # B dominates C (better capability, lower cost); A is cheapest; D is best.
    flags = pareto_optimal(s([0.5, 0.7, 0.6, 0.9]), s([1.0, 2.0, 3.0, 5.0]))
    assert list(flags) == [True, True, False, True]


def test_pareto_exact_ties_are_all_optimal_and_partial_ties_dominated():
    flags = pareto_optimal(s([0.7, 0.7, 0.7]), s([2.0, 2.0, 3.0]))
    assert list(flags) == [True, True, False]  # same capability, higher cost: dominated


def test_pareto_missing_values_are_not_judged_and_do_not_dominate():
    flags = pareto_optimal(s([0.9, 0.5, np.nan]), s([np.nan, 1.0, 0.1]))
    assert flags.isna().tolist() == [True, False, True]
    assert bool(flags.iloc[1]) is True  # would be dominated by neither missing row


def test_ranks_ties_and_missing():
    ranks = rank_lower_better(s([3.0, 1.0, 1.0, np.nan]))
    assert ranks.tolist()[:3] == [3, 1, 1] and ranks.isna().tolist()[3]


def test_rank_correlation():
    assert rank_correlation(s([1, 2, 3, 4]), s([10, 20, 30, 40])) == pytest.approx(1.0)
    assert rank_correlation(s([1, 2, 3, 4]), s([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(rank_correlation(s([1, 2]), s([1, 2])))


def runs():
    return pd.DataFrame({
        "model": ["a", "a", "b", "b", "c"],
        "scenario": ["x", "y", "x", "y", "x"],
        "accuracy": [0.8, 0.6, 0.5, 0.5, 0.9],
        "raw_runtime_s": [2.0, 2.0, 0.5, 0.5, 1.0],
        "denoised_runtime_s": [1.0, 1.0, 0.4, 0.4, np.nan],
        "idealized_runtime_s": [0.3, 0.3, 0.2, 0.2, np.nan],
        "idealized_energy_j": np.nan, "idealized_cost_usd": np.nan,
        "has_efficiency_stats": [True, True, True, True, True],
    })


def test_model_without_number_is_kept_and_marked_with_reason():
    table = model_table(runs(), "idealized").set_index("model")
    assert set(table.index) == {"a", "b", "c"}
    assert np.isnan(table.loc["c", "idealized_runtime_s"])
    assert "not estimated" in table.loc["c", "note"] and "reference table" in table.loc["c", "note"]
    assert pd.isna(table.loc["c", "pareto_optimal"])
    assert bool(table.loc["a", "pareto_optimal"]) and bool(table.loc["b", "pareto_optimal"])
    assert table.loc["a", "num_scenarios"] == 2 and table.loc["a", "capability"] == pytest.approx(0.7)
    assert table.loc["c", "rank_raw"] == 2 and pd.isna(table.loc["c", "rank_idealized"])


def test_write_leaderboard_from_imported_real_data(data_dir, tmp_path):
    source = os.path.join(data_dir, "api_runtimes", "inference_runtimes_and_accuracies_slice.csv")
    table = write_leaderboard(source, str(tmp_path), efficiency="idealized")
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.html", "overall_idealized.png", "rank_raw_vs_idealized.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "openai/davinci" in set(table["model"])
    html = (tmp_path / "leaderboard.html").read_text()
    assert "data:image/png;base64," in html and "Pareto-optimal" in html


def test_demo_table_formats_model_rows_and_marks_missing():
    from helm_efficiency.demo import format_demo_table, run_entries

    text = format_demo_table(model_table(runs(), "idealized"))
    assert "not estimated" in text and "exact_match" in text
    entries = run_entries(["he-tiny"], 20)
    assert all("efficiency=cpu" in e for e in entries) and any("simple/model1" in e for e in entries)


def write_suite(root, runs_spec):
    """A suite folder in HELM's file format: run_spec.json and stats.json per run.
    runs_spec: (run name, model, groups, tables, {stat: mean})."""
    import json

    for name, model, groups, tables, stats in runs_spec:
        run = root / name
        run.mkdir(parents=True)
        specs = [{"class_name": "helm_efficiency.helm.metric.InferenceEfficiencyMetric", "args": {"tables": tables}}] if tables else []
        (run / "run_spec.json").write_text(json.dumps({"name": name, "adapter_spec": {"model_deployment": model, "model": model},
                                                       "metric_specs": specs, "groups": groups}))
        (run / "stats.json").write_text(json.dumps([{"name": {"name": k, "split": "test"}, "count": 1, "sum": v, "mean": v}
                                                    for k, v in stats.items()]))
    return root


def efficiency(raw, idealized, calibrated=10):
    return {"efficiency_raw_runtime_s": raw, "efficiency_idealized_runtime_s": idealized, "efficiency_num_requests": 10,
            "efficiency_num_calibrated_requests": calibrated}


def test_ranking_across_reference_stacks_is_refused_unless_asked(tmp_path):
    suite = write_suite(tmp_path / "s", [
        ("mmlu:model=a", "org/a", ["mmlu"], "h100-trtllm", {"exact_match": 0.6, **efficiency(1.0, 0.2)}),
        ("mmlu:model=b", "org/b", ["mmlu"], "cpu", {"exact_match": 0.5, **efficiency(1.0, 0.1)}),
    ])
    with pytest.raises(EfficiencyInputError, match="different reference stacks.*--allow-mixed-stacks"):
        write_leaderboard(str(suite), str(tmp_path / "out"))
    table = write_leaderboard(str(suite), str(tmp_path / "out"), allow_mixed_stacks=True)
    assert set(table["stack"]) == {"h100-trtllm", "cpu"} and set(table["method"]) == {"calibrated"}
    for name in ("leaderboard.md", "leaderboard.html"):
        assert "MIXED REFERENCE STACKS" in (tmp_path / "out" / name).read_text()


def test_unknown_metric_fails_listing_the_metrics_that_exist(tmp_path):
    suite = write_suite(tmp_path / "s", [("mmlu:model=a", "org/a", ["mmlu"], "h100-trtllm", {"exact_match": 0.6, **efficiency(1.0, 0.2)})])
    with pytest.raises(EfficiencyInputError, match="'nonexistent_metric' is in no run's stats; the runs have: exact_match"):
        write_leaderboard(str(suite), str(tmp_path / "out"), metric="nonexistent_metric")


def test_auto_metric_uses_each_groups_main_metric_and_mean_win_rate(tmp_path):
    """natural_qa's main metric is F1, MMLU's exact match: different scales, so win rates."""
    suite = write_suite(tmp_path / "s", [
        ("mmlu:model=a", "org/a", ["mmlu"], "h100-trtllm", {"exact_match": 0.9, "f1_score": 0.0, **efficiency(1.0, 0.2)}),
        ("mmlu:model=b", "org/b", ["mmlu"], "h100-trtllm", {"exact_match": 0.4, "f1_score": 0.0, **efficiency(1.0, 0.1)}),
        ("natural_qa:mode=closedbook,model=a", "org/a", ["natural_qa_closedbook"], "h100-trtllm", {"exact_match": 0.0, "f1_score": 0.2, **efficiency(1.0, 0.2)}),
        ("natural_qa:mode=closedbook,model=b", "org/b", ["natural_qa_closedbook"], "h100-trtllm", {"exact_match": 0.0, "f1_score": 0.3, **efficiency(1.0, 0.1)}),
    ])
    table = write_leaderboard(str(suite), str(tmp_path / "out")).set_index("model")
    assert table.attrs["capability_label"] == "mean win rate (exact_match: higher is better; f1_score: higher is better, per HELM's schema_classic.yaml)"
    assert table.loc["org/a", "capability"] == pytest.approx(0.5) and table.loc["org/b", "capability"] == pytest.approx(0.5)


def test_capability_and_runtime_are_averaged_over_the_same_scenarios(tmp_path):
    """Model a has no idealized runtime on scenario y: y leaves its capability too."""
    suite = write_suite(tmp_path / "s", [
        ("x:model=a", "org/a", [], "h100-trtllm", {"exact_match": 1.0, **efficiency(1.0, 0.2)}),
        ("y:model=a", "org/a", [], "h100-trtllm", {"exact_match": 0.0, "efficiency_raw_runtime_s": 3.0, "efficiency_num_requests": 1}),
    ])
    table = write_leaderboard(str(suite), str(tmp_path / "out")).set_index("model")
    assert table.loc["org/a", "capability"] == 1.0 and table.loc["org/a", "raw_runtime_s"] == 1.0
    assert table.loc["org/a", "num_scenarios"] == 1 and table.loc["org/a", "scenarios"] == "x"


def test_every_scenario_is_plotted_on_pages(tmp_path):
    rows = [(f"s{i:02d}:model={m}", f"org/{m}", [], "h100-trtllm", {"exact_match": 0.1 * i, **efficiency(1.0, 0.1 + 0.01 * i + (m == "b"))})
            for i in range(14) for m in ("a", "b")]
    write_leaderboard(str(write_suite(tmp_path / "s", rows)), str(tmp_path / "out"))
    pages = sorted(p.name for p in (tmp_path / "out").glob("per_scenario_*.png"))
    assert pages == ["per_scenario_idealized_1.png", "per_scenario_idealized_2.png"]
    assert "page 2 of 2 (2 of 14 scenarios" in (tmp_path / "out" / "leaderboard.html").read_text()


def test_html_reads_as_a_page_in_headless_chromium(data_dir, tmp_path):
    import re
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    source = os.path.join(data_dir, "api_runtimes", "inference_runtimes_and_accuracies_slice.csv")
    write_leaderboard(source, str(tmp_path))
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'chrome'}",
                           "--dump-dom", f"file://{tmp_path / 'leaderboard.html'}"], capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert "<h1>Capability vs idealized runtime" in dom
    caption = re.search(r"<p class=\"caption\">(.*?)</p>", dom).group(1)
    assert "Capability: mean exact_match" in caption and "reference stack: a100 (HELM 2022, Megatron-LM)" in caption and "Generated 20" in caption
    headers = re.findall(r"<th[^>]*>(.*?)</th>", dom)
    assert "Idealized runtime (s/request)" in headers and "Raw runtime (s/request)" in headers
    assert not [h for h in headers if re.search(r"[a-z]_[a-z]", h)], headers  # no snake_case header
    assert dom.count("data:image/png;base64,") >= 2
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", dom)
    assert "&lt;NA&gt;" not in text and "<NA>" not in text and "NaN" not in text


def test_win_rates_follow_each_metrics_direction():
    """#34: in a scenario whose metric is lower-is-better (toxic_frac), the lowest value wins."""
    from helm_efficiency.report.leaderboard import capability_label, win_rates

    runs = pd.DataFrame({"model": ["a", "b", "c", "a", "b", "c"], "scenario": ["tox"] * 3 + ["qa"] * 3,
                         "metric": ["toxic_frac"] * 3 + ["exact_match"] * 3, "accuracy": [0.1, 0.5, 0.3, 0.9, 0.2, 0.5],
                         "lower_is_better": [True] * 3 + [False] * 3, "direction_source": ["HELM's schema_vhelm.yaml"] * 3 + [None] * 3})
    assert win_rates(runs).tolist() == [1.0, 0.0, 0.5, 1.0, 0.0, 0.5]
    label = capability_label(runs)
    assert label == "mean win rate (exact_match: higher is better; toxic_frac: lower is better, per HELM's schema_vhelm.yaml)"
    table = model_table(runs.assign(raw_runtime_s=[1.0, 0.5, 2.0] * 2), "raw").set_index("model")
    assert table.loc["a", "capability"] == 1.0 and bool(table.loc["a", "pareto_optimal"])
    assert not bool(table.loc["c", "pareto_optimal"])  # b is faster, a is better at both


def test_pareto_with_a_lower_is_better_capability():
    flags = pareto_optimal(s([0.1, 0.3, 0.2]), s([3.0, 1.0, 2.5]), lower_is_better=True)
    assert list(flags) == [True, True, True]
    flags = pareto_optimal(s([0.1, 0.3, 0.2]), s([1.0, 1.0, 2.5]), lower_is_better=True)
    assert list(flags) == [True, False, False]
