"""The leaderboard's words (issue #33, item 5): no NaN printed for a correlation it cannot compute,
no win rate for a model alone in its scenarios, the recorded reason where a model is not estimated,
and each row's reference stack the one its numbers came from."""

import json
import os
import shutil


from helm_efficiency.report.leaderboard import write_leaderboard
from helm_efficiency.rescore import rescore_suite

WILD = os.path.join(os.path.dirname(__file__), "data", "wild")
METRIC = "helm_efficiency.helm.metric.InferenceEfficiencyMetric"


def write_run(suite, name, model, groups, stats, tables="h100-trtllm", metadata=None):
    run = suite / name
    run.mkdir(parents=True)
    (run / "run_spec.json").write_text(json.dumps({"name": name, "adapter_spec": {"model_deployment": model}, "groups": groups,
                                                   "metric_specs": [{"class_name": METRIC, "args": {"tables": tables}}]}))
    stats = {"efficiency_num_requests": 10, **stats}
    (run / "stats.json").write_text(json.dumps([{"name": {"name": k, "split": "test"}, "count": 1, "sum": v, "mean": v} for k, v in stats.items()]))
    if metadata is not None:
        (run / "efficiency_metadata.json").write_text(json.dumps(metadata))


def test_a_correlation_of_too_few_models_is_not_printed_as_nan(tmp_path, capsys):
    write_run(tmp_path / "s", "x:model=a", "org/a", [], {"exact_match": 0.5, "efficiency_raw_runtime_s": 1.0, "efficiency_idealized_runtime_s": 0.2})
    write_run(tmp_path / "s", "x:model=b", "org/b", [], {"exact_match": 0.6, "efficiency_raw_runtime_s": 2.0, "efficiency_idealized_runtime_s": 0.3})
    write_leaderboard(str(tmp_path / "s"), str(tmp_path / "out"))
    printed = capsys.readouterr().out
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    for text in (printed, markdown):
        assert "NaN" not in text and "too few models" in text


def test_a_model_alone_in_its_scenarios_gets_no_win_rate(tmp_path):
    """mmlu (exact_match) has two models, natural_qa (f1) only c: mixed metrics, so win rates; c beats nobody."""
    suite = tmp_path / "s"
    for model, em in (("a", 0.9), ("b", 0.4)):
        write_run(suite, f"mmlu:model={model}", f"org/{model}", ["mmlu"], {"exact_match": em, "efficiency_idealized_runtime_s": 0.1 + em})
    write_run(suite, "natural_qa:mode=closedbook,model=c", "org/c", ["natural_qa_closedbook"], {"f1_score": 0.3, "efficiency_idealized_runtime_s": 0.01})
    table = write_leaderboard(str(suite), str(tmp_path / "out")).set_index("model")
    assert table.loc["org/a", "capability"] == 1.0 and table.loc["org/b", "capability"] == 0.0
    assert table.loc["org/c", "capability"] != table.loc["org/c", "capability"]  # NaN, not 0.5
    assert table.loc["org/c", "pareto_optimal"] is not True and "alone in its scenarios" in table.loc["org/c", "note"]


def test_not_estimated_gives_the_recorded_reason_and_rows_name_their_own_stack(tmp_path, capsys):
    """Both runs scored live with efficiency=cpu, then rescored with a100: a's numbers are a100's,
    b (closed weights) has none, so b's row names no stack, and its note says why."""
    suite = tmp_path / "s"
    write_run(suite, "x:model=a", "org/a", [], {"exact_match": 0.5, "efficiency_idealized_runtime_s": 0.2}, tables="cpu",
              metadata={"reference_stacks": ["a100"], "unestimated_reasons": {}})
    write_run(suite, "x:model=b", "org/b", [], {"exact_match": 0.7}, tables="cpu",
              metadata={"reference_stacks": [], "unestimated_reasons": {"closed-weight (HELM access)": 10}})
    table = write_leaderboard(str(suite), str(tmp_path / "out")).set_index("model")
    assert table.loc["org/a", "stack"] == "a100" and table.loc["org/b", "stack"] is None
    assert "closed-weight (HELM access)" in table.loc["org/b", "note"]
    assert "reference stack: a100." in capsys.readouterr().out


def test_a_real_suite_says_why_closed_models_are_not_estimated(tmp_path):
    shutil.copytree(os.path.join(WILD, "helm_safety_v3"), tmp_path / "v3")
    suite = str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3")
    rescore_suite(suite, progress=False)
    table = write_leaderboard(suite, str(tmp_path / "out")).set_index("model")
    assert "closed-weight" in table.loc["openai/gpt-4o-2024-05-13", "note"], table["note"].to_dict()
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "NaN" not in md and "0.500" not in md
    served = write_leaderboard(suite, str(tmp_path / "served"), efficiency="served_cost").set_index("model")
    note = served.loc["openai/gpt-4o-2024-05-13", "note"]  # the run's recorded reason, not a generic one
    assert "not in the architecture registry" in note, served["note"].to_dict()
