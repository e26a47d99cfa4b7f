"""Pareto flags, ranks and the leaderboard on small hand-made tables, ties and missing values."""

import os

import numpy as np
import pandas as pd
import pytest

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
    assert "data:image/png;base64," in html and "not estimated" in html


def test_demo_table_formats_model_rows_and_marks_missing():
    from helm_efficiency.demo import format_demo_table, run_entries

    text = format_demo_table(model_table(runs(), "idealized"))
    assert "not estimated" in text and "exact_match" in text
    entries = run_entries(["he-tiny"], 20)
    assert all("efficiency=cpu" in e for e in entries) and any("simple/model1" in e for e in entries)
