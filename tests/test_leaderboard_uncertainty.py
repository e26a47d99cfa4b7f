"""The leaderboard's uncertainty (report/uncertainty.py and its wiring): the vectorized building
blocks against their plain definitions, the shared stack error, paired resampling, coverage and
calibration on a simulated leaderboard with known truth, and the columns, plot and stats a suite gets."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from helm_efficiency.report.pareto import pareto_optimal
from helm_efficiency.report.uncertainty import (Z90, Board, Measure, Stratum, draw, loading, min_ranks, pareto_front, rank_interval,
                                               summarize, win_rates)


# -- building blocks against their plain definitions ----------------------------------------------
def test_pareto_front_matches_the_pairwise_definition_with_ties_and_missing_values():
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = int(rng.integers(1, 9))
        cap = rng.integers(0, 4, m).astype(float)  # few distinct values: many ties
        cost = rng.integers(0, 4, m).astype(float)
        cap[rng.random(m) < 0.15] = np.nan
        cost[rng.random(m) < 0.15] = np.nan
        expected = pareto_optimal(pd.Series(cap), pd.Series(cost)).fillna(False).astype(bool).to_numpy()
        assert (pareto_front(cap[None], cost[None])[0] == expected).all(), (cap, cost)


def test_min_ranks_and_win_rates_match_pandas():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 5, (200, 7)).astype(float)
    values[rng.random(values.shape) < 0.1] = np.nan
    ranks = min_ranks(values, higher_is_better=True)
    for row, got in zip(values, ranks):
        s = pd.Series(row)
        np.testing.assert_array_equal(got, s.rank(method="min", ascending=False).to_numpy())
        valid = s.dropna()
        expected = ((valid.rank(method="average") - 1) / (len(valid) - 1)).reindex(s.index) if len(valid) > 1 else s.where(s.isna(), 0.5)
        np.testing.assert_allclose(win_rates(row[None])[0], expected.to_numpy(float))


def test_rank_interval_is_the_narrowest_run_holding_90_percent():
    ranks = np.array([[3.0, 1.0]] * 93 + [[4.0, 2.0]] * 7)  # model 0: rank 3 in 93% of draws; model 1: 1 in 93%
    lo, hi = rank_interval(ranks)
    assert lo.tolist() == [3, 1] and hi.tolist() == [3, 1]
    spread = np.array([[r] for r in [1] * 30 + [2] * 40 + [3] * 25 + [4] * 5], float)
    lo, hi = rank_interval(spread)
    assert (lo[0], hi[0]) == (1, 3)  # 95% of draws; no run of two ranks holds 90%


# -- the shared stack error -----------------------------------------------------------------------
def _efficiency_board(point, sigma, stack, shared):
    m = len(point)
    sigma = np.asarray(sigma, float)
    return Board(capability=np.full((m, 1), 0.5), used=np.ones((m, 1), bool),
                 measures={"cost": Measure(np.asarray(point, float)[:, None], sigma, sigma, np.asarray(shared, float))},
                 efficiency="cost", stack=np.asarray(stack))


def test_each_models_draws_reproduce_its_stored_interval_and_the_stack_share_is_drawn_once():
    sigma = np.array([0.2, 0.2, 0.4, 0.2, 0.2])
    board = _efficiency_board([1.0, 2.0, 3.0, 4.0, 5.0], sigma, [0, 0, 0, 1, 2], [0.2, 0.2, 0.2, 0.2, np.nan])
    draws = draw(board, draws=20000, seed=3).efficiency
    lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(lo, np.arange(1, 6) * np.exp(-Z90 * sigma), rtol=0.02)
    np.testing.assert_allclose(hi, np.arange(1, 6) * np.exp(Z90 * sigma), rtol=0.02)
    log = np.log(draws)
    assert np.std(log[:, 1] - log[:, 0]) < 1e-12  # same stack, all of it shared: their ratio is sure
    # Model 2 shares 0.2 of its 0.4 with the stack: its ratio to model 0 carries only its own √(0.4²−0.2²).
    assert np.std(log[:, 2] - log[:, 0]) == pytest.approx(np.sqrt(0.4 ** 2 - 0.2 ** 2), rel=0.03)
    assert np.std(log[:, 3] - log[:, 0]) == pytest.approx(np.sqrt(2) * 0.2, rel=0.03)  # another stack: independent
    assert np.std(log[:, 4] - log[:, 0]) == pytest.approx(np.sqrt(2) * 0.2, rel=0.03)  # nothing shared: independent
    np.testing.assert_allclose(loading(board.measures["cost"]), [1, 1, 0.5, 1, 0])


def test_models_without_a_stored_interval_are_not_ranked_as_if_exact():
    board = _efficiency_board([1.0, 2.0], [0.2, np.nan], [0, 0], [0.1, np.nan])
    out = summarize(board, draw(board, draws=500, seed=0))
    assert np.isnan(out["efficiency_lo"][1]) and np.isfinite(out["efficiency_lo"][0])
    assert np.isnan(out["efficiency_rank_lo"]).all() and np.isnan(out["pareto_probability"]).all()


# -- paired resampling ----------------------------------------------------------------------------
def test_resamples_are_paired_across_models():
    """B answers every instance A answers, plus 3 more: in every paired resample B ≥ A, so B's
    capability rank is surely 1, though the two marginal intervals overlap widely."""
    rng = np.random.default_rng(4)
    a = (rng.random(100) < 0.5).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:3]] = 1.0
    board = Board(capability=np.array([[a.mean()], [b.mean()]]), used=np.ones((2, 1), bool),
                  measures={"cost": Measure(np.array([[1.0], [2.0]]), np.array([0.1, 0.1]), np.array([0.1, 0.1]))}, efficiency="cost",
                  strata=[Stratum(0, np.vstack([a, b]))], stack=np.array([0, 0]))
    out = summarize(board, draw(board, draws=2000, seed=5))
    assert out["capability_hi"][0] > out["capability_lo"][1]  # the intervals overlap
    assert (out["capability_rank_lo"][1], out["capability_rank_hi"][1]) == (1, 1)
    assert (out["capability_rank_lo"][0], out["capability_rank_hi"][0]) == (2, 2)


def test_a_lower_is_better_metric_ranks_and_fronts_low_values_first():
    rng = np.random.default_rng(6)
    errors = [(rng.random(200) < p).astype(float) for p in (0.1, 0.5, 0.9)]  # an error rate: lower is better
    measure = Measure(np.array([[3.0], [2.0], [1.0]]), np.full(3, 0.05), np.full(3, 0.05), np.full(3, np.nan))
    board = Board(capability=np.array([[e.mean()] for e in errors]), used=np.ones((3, 1), bool), measures={"cost": measure},
                  efficiency="cost", strata=[Stratum(0, np.vstack(errors))], stack=np.zeros(3, int), capability_lower_is_better=True)
    out = summarize(board, draw(board, draws=500, seed=0))
    assert out["capability_rank_lo"].tolist() == [1, 2, 3] and out["capability_rank_hi"].tolist() == [1, 2, 3]
    assert out["pareto_probability"].tolist() == [1.0, 1.0, 1.0]  # fewer errors cost more: every model is on the front


def test_same_seed_same_numbers_other_seed_other_numbers():
    board, _, _ = simulate(np.random.default_rng(7))
    one, two = summarize(board, draw(board, 400, seed=11)), summarize(board, draw(board, 400, seed=11))
    other = summarize(board, draw(board, 400, seed=12))
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])
    assert not np.array_equal(one["capability_lo"], other["capability_lo"])


# -- coverage and calibration on a simulated leaderboard --------------------------------------------
def simulate(rng, models=10, scenarios=4, instances=200, spread=0.35, shared=0.15, trend=0.0, scatter=1.0):
    """A leaderboard with known truth. Model m answers instance i of scenario s correctly with
    probability Φ(a_ms − b_i) (b_i: the instance's difficulty, shared by all models, so results
    are paired), so its true capability is the mean over scenarios of Φ(a_ms / √2). Its true cost
    is log-normal: log cost = trend · (standardized true capability) + scatter · N(0, 1) (by
    default unrelated to capability); the stored cost is the truth times exp(shared stack
    error + own error), with the stored 90% interval ±Z90·σ around it and the shared part's σ
    stored beside it, as the correction's variance components are. Two stacks; on each, one model
    has no error of its own."""
    a = spread * np.linspace(-0.4, 0.6, models)[:, None] + rng.normal(0, 0.3, (models, scenarios))
    truth = norm.cdf(a / np.sqrt(2)).mean(axis=1)
    strata, observed = [], np.zeros((models, scenarios))
    for s in range(scenarios):
        correct = (rng.random((models, instances)) < norm.cdf(a[:, s:s + 1] - rng.normal(0, 1, instances)[None, :])).astype(float)
        strata.append(Stratum(s, correct))
        observed[:, s] = correct.mean(axis=1)
    stack = np.arange(models) % 2
    cost = np.exp(trend * (truth - truth.mean()) / truth.std() + scatter * rng.normal(0, 1, models))
    own = rng.uniform(0.05, 0.3, models)
    own[:2] = 0.0
    sigma = np.sqrt(shared ** 2 + own ** 2)
    stored = cost * np.exp(shared * rng.standard_normal(2)[stack] + own * rng.standard_normal(models))
    board = Board(capability=observed, used=np.ones((models, scenarios), bool),
                  measures={"cost": Measure(np.repeat(stored[:, None], scenarios, axis=1), sigma, sigma, np.full(models, shared))}, efficiency="cost",
                  strata=strata, stack=stack)
    return board, truth, cost


@pytest.mark.slow
def test_intervals_cover_the_truth_and_pareto_probability_is_calibrated():
    """200 simulated leaderboards of 10 models, 4 scenarios of 200 instances (2,000 model-boards),
    400 draws each. The boards are crowded (neighbours about 0.01 apart in true capability, one
    standard error), so most ranks are uncertain: on a spread-out board well-separated ranks are
    sure and rank intervals cover more often (bench/leaderboard_uncertainty_calibration.py)."""
    rng = np.random.default_rng(2024)
    cover_cap, cover_rank, probability, on_front = [], [], [], []
    for replication in range(200):
        board, truth, cost = simulate(rng)
        out = summarize(board, draw(board, draws=400, seed=replication))
        cover_cap += list((out["capability_lo"] <= truth) & (truth <= out["capability_hi"]))
        rank = min_ranks(truth)
        cover_rank += list((out["capability_rank_lo"] <= rank) & (rank <= out["capability_rank_hi"]))
        probability += list(out["pareto_probability"])
        on_front += list(pareto_front(truth, cost))
    probability, on_front = np.array(probability), np.array(on_front)
    assert 0.85 <= np.mean(cover_cap) <= 0.95, np.mean(cover_cap)
    assert 0.85 <= np.mean(cover_rank) <= 0.95, np.mean(cover_rank)
    for lo, hi in ((0.65, 0.95), (0.35, 0.65), (0.05, 0.35)):
        given = (probability >= lo) & (probability < hi)
        expected = probability[given].mean()
        error = np.sqrt(expected * (1 - expected) / given.sum())
        assert given.sum() >= 100 and abs(on_front[given].mean() - expected) <= 3 * error, (lo, hi, expected, on_front[given].mean(), given.sum())
    assert abs(on_front.mean() - probability.mean()) <= 0.03  # as many models on the front as the probabilities say


# -- a suite folder end to end --------------------------------------------------------------------
def write_suite(root, models, scenario="mmlu", subject="anatomy", instances=40, seed=0, per_instance=True, listed=None,
                metric="exact_match", cost=1e-5, nested=True):
    """Runs with run_spec.json, stats.json and per_instance_stats.json (HELM's formats): each model
    answers instance i correctly when u_i < its accuracy (nested: one u for all models; else each
    model its own); idealized runtime, its interval and cost per instance. listed: how many
    instances per_instance_stats.json keeps (default all)."""
    rng = np.random.default_rng(seed)
    u = rng.random(instances)
    for k, (model, accuracy) in enumerate(models.items()):
        name = f"{scenario}:subject={subject},model={model.replace('/', '_')}"
        run = root / name
        run.mkdir(parents=True)
        correct = ((u if nested else rng.random(instances)) < accuracy).astype(float)
        runtime = 0.1 * (k + 1) * (1 + 0.1 * rng.random(instances))
        per_request = {"efficiency_idealized_runtime_s": runtime, "efficiency_idealized_runtime_lo_s": runtime * 0.8,
                       "efficiency_idealized_runtime_hi_s": runtime * 1.25, "efficiency_idealized_cost_usd": runtime * cost / 0.1}
        spec = {"name": name, "adapter_spec": {"model_deployment": model, "model": model}, "groups": [scenario],
                "metric_specs": [{"class_name": "helm_efficiency.helm.metric.InferenceEfficiencyMetric", "args": {"tables": "h100-trtllm"}}]}
        (run / "run_spec.json").write_text(json.dumps(spec))
        stat = lambda n, v: {"name": {"name": n, "split": "test"}, "count": 1, "sum": float(v), "mean": float(v)}
        stats = [stat(metric, correct.mean()), stat("num_instances", instances), stat("efficiency_num_requests", instances),
                 stat("efficiency_num_calibrated_requests", instances)] + [stat(n, v.mean()) for n, v in per_request.items()]
        (run / "stats.json").write_text(json.dumps(stats))
        if per_instance:
            entries = [{"instance_id": f"id{i}", "train_trial_index": 0,
                        "stats": [stat(metric, correct[i])] + [stat(n, v[i]) for n, v in per_request.items()]}
                       for i in range(instances if listed is None else listed)]
            (run / "per_instance_stats.json").write_text(json.dumps(entries))
    return root


MODELS = {"org/small": 0.45, "org/medium": 0.6, "org/large": 0.8}


def uncertain_table(suite, seed=None, efficiency="idealized"):
    """The leaderboard's table with its uncertainty columns, without the plots and files."""
    from helm_efficiency.report.board_uncertainty import add_uncertainty
    from helm_efficiency.report.leaderboard import EFFICIENCY_COLUMNS, load_runs, model_table

    runs = load_runs(str(suite), "auto")
    kwargs = {} if seed is None else {"seed": seed}
    return add_uncertainty(str(suite), model_table(runs, efficiency), runs, EFFICIENCY_COLUMNS[efficiency], **kwargs)[0]


def test_leaderboard_writes_intervals_ranks_probability_and_cost_per_correct(tmp_path):
    from helm_efficiency.cli import main

    suite = write_suite(tmp_path / "suite", MODELS)
    main(["leaderboard", str(suite), "-o", str(tmp_path / "board")])
    board = pd.read_csv(tmp_path / "board" / "leaderboard.csv").set_index("model")
    for column in ("capability_lo", "capability_hi", "rank_lo", "rank_hi", "capability_rank_lo", "efficiency_rank_hi",
                   "idealized_runtime_s_lo", "idealized_runtime_s_hi", "pareto_probability", "cost_per_correct_usd"):
        assert board[column].notna().all(), column
    assert (board["capability_lo"] <= board["capability"]).all() and (board["capability"] <= board["capability_hi"]).all()
    assert (board["rank_lo"] == board["capability_rank_lo"]).all()
    # Cost per correct answer: the cost of all requests over the number answered correctly.
    stats = {s["name"]["name"]: s["mean"] for s in json.loads((suite / "mmlu:subject=anatomy,model=org_large" / "stats.json").read_text())}
    assert board.loc["org/large", "cost_per_correct_usd"] == pytest.approx(stats["efficiency_idealized_cost_usd"] / stats["exact_match"])
    lo, hi = board.loc["org/large", ["cost_per_correct_usd_lo", "cost_per_correct_usd_hi"]]
    assert lo < board.loc["org/large", "cost_per_correct_usd"] < hi
    markdown = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "P(on Pareto frontier)" in markdown and "Capability, 90% interval" in markdown
    html = (tmp_path / "board" / "leaderboard.html").read_text()
    assert "Capability rank, 90% interval" in html and "Idealized cost per correct answer" in html


def test_the_same_seed_gives_the_same_columns(tmp_path):
    suite = write_suite(tmp_path / "suite", MODELS)
    first, again, other = uncertain_table(suite), uncertain_table(suite), uncertain_table(suite, seed=5)
    pd.testing.assert_frame_equal(first, again)
    assert not first["capability_lo"].equals(other["capability_lo"])


def test_too_few_or_missing_instances_say_so_instead_of_an_interval(tmp_path):
    from helm_efficiency.report.leaderboard import write_leaderboard

    small = uncertain_table(write_suite(tmp_path / "small", MODELS, instances=29)).set_index("model")
    assert small["capability_lo"].isna().all() and small["pareto_probability"].isna().all() and small["rank_lo"].isna().all()
    assert small["uncertainty_note"].str.contains("29 instances \\(fewer than 30 cannot be resampled\\)").all()
    trimmed = uncertain_table(write_suite(tmp_path / "trimmed", MODELS, listed=30)).set_index("model")
    assert trimmed["capability_lo"].isna().all()
    assert trimmed["uncertainty_note"].str.contains("per_instance_stats.json lists 30 of its 40 instances").all()
    none = write_leaderboard(str(write_suite(tmp_path / "none", MODELS, per_instance=False)), str(tmp_path / "c")).set_index("model")
    assert none["capability_lo"].isna().all() and none["uncertainty_note"].str.contains("no per_instance_stats.json").all()
    assert none["idealized_runtime_s_lo"].notna().all()  # the stored efficiency intervals are still there
    assert "No capability interval for 3 of 3 models" in (tmp_path / "c" / "leaderboard.md").read_text()


def test_the_overall_plot_has_error_bars_on_both_axes_and_a_probability_scale(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from helm_efficiency.report.leaderboard import scatter

    table = uncertain_table(write_suite(tmp_path / "s", MODELS))
    fig, ax = plt.subplots()
    scatter(ax, table, "idealized_runtime_s", "t", "capability", False)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and bars[0].has_xerr and bars[0].has_yerr
    assert fig.axes[1].get_ylabel() == "P(on Pareto frontier)"  # the colour bar of the shaded points
    plt.close(fig)


def test_write_stats_puts_the_scenario_values_in_stats_json_for_helm_server(tmp_path):
    from helm_efficiency.helm.metric_names import STAT_BY_NAME
    from helm_efficiency.helm.schema import efficiency_schema
    from helm_efficiency.report.leaderboard import write_leaderboard

    suite = write_suite(tmp_path / "s", MODELS)
    write_leaderboard(str(suite), str(tmp_path / "out"), write_stats=True, draws=200)
    write_leaderboard(str(suite), str(tmp_path / "out"), write_stats=True, draws=200)  # a second call replaces, never duplicates
    stats = json.loads((suite / "mmlu:subject=anatomy,model=org_large" / "stats.json").read_text())
    ours = [s for s in stats if s["name"]["name"] in ("efficiency_capability_lo", "efficiency_pareto_probability", "efficiency_cost_per_correct_usd")]
    assert len(ours) == 3 and all(s["name"]["split"] == "test" for s in ours)
    assert {s["name"]["name"] for s in stats} <= set(STAT_BY_NAME) | {"exact_match", "num_instances"}
    group = next(g for g in efficiency_schema()["metric_groups"] if g["name"] == "efficiency_plugin")
    listed = {m["name"] for m in group["metrics"]}
    assert {"efficiency_capability_lo", "efficiency_capability_hi", "efficiency_pareto_probability", "efficiency_capability_rank_lo"} <= listed


def test_bad_uncertainty_options_are_named(tmp_path, data_dir):
    from helm_efficiency.errors import EfficiencyInputError
    from helm_efficiency.report.leaderboard import write_leaderboard

    csv = os.path.join(data_dir, "api_runtimes", "inference_runtimes_and_accuracies_slice.csv")
    with pytest.raises(EfficiencyInputError, match="--write-stats.*only a suite folder"):
        write_leaderboard(csv, str(tmp_path / "a"), write_stats=True)
    with pytest.raises(EfficiencyInputError, match="--draws.*100 or more"):
        write_leaderboard(csv, str(tmp_path / "b"), draws=10)


def test_a_run_whose_per_instance_stats_cannot_be_read_gets_a_reason_not_a_crash(tmp_path):
    from helm_efficiency.helm_io.runs import PER_INSTANCE_STATS
    from helm_efficiency.report.instance_stats import suite_instances

    (tmp_path / "bad_run").mkdir()
    (tmp_path / "bad_run" / PER_INSTANCE_STATS).write_text("{}")
    runs = pd.DataFrame({"run": ["bad_run", "no_metric_run"], "metric": ["exact_match", None]})
    out = suite_instances(str(tmp_path), runs, {})
    assert out["bad_run"].startswith("unreadable per-instance stats (") and PER_INSTANCE_STATS in out["bad_run"]
    assert out["no_metric_run"] == "no capability metric"
