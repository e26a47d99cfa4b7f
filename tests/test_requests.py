"""Raw-runtime rules: cached, cold, batched, failed and untimed requests; token counting."""


import pytest

from helm_efficiency.helm_io.states import RequestState, from_json
from helm_efficiency.request_table.table import (
    STATUS_CACHED,
    STATUS_COLD,
    STATUS_FAILED,
    STATUS_INVALID_TIME,
    STATUS_MISSING_TIME,
    STATUS_OK,
    request_rows,
)


def count_words(text):
    return len(text.split())


def state(i, time=0.5, cached=False, success=True, datetime=100, tokens=("a", "b"), text="a b", echo=False, prompt="w w w", batch=None):
    result = {
        "success": success,
        "cached": cached,
        "request_time": time,
        "request_datetime": datetime,
        "completions": [{"text": text, "tokens": [{"text": t} for t in tokens]}],
    }
    if batch:
        result["batch_request_time"], result["batch_size"] = batch
    return from_json([{
        "instance": {"id": f"id{i}", "split": "test"},
        "train_trial_index": 0,
        "request": {"model_deployment": "org/m", "model": "org/m", "prompt": prompt, "echo_prompt": echo},
        "result": result,
    }])[0]


def test_first_request_is_cold_and_so_are_requests_that_waited_for_it():
    states = [state(0, time=5.0, datetime=100), state(1, time=4.9, datetime=100), state(2, time=0.5, datetime=100)]
    states += [state(i, time=0.5, datetime=101 + i) for i in range(3, 6)]
    rows = request_rows(states, count_words)
    assert list(rows["status"]) == [STATUS_COLD, STATUS_COLD] + [STATUS_OK] * 4


def test_fast_requests_in_the_first_second_are_not_cold():
    rows = request_rows([state(i, time=0.001, datetime=100) for i in range(5)], count_words)
    assert list(rows["status"]) == [STATUS_COLD] + [STATUS_OK] * 4


def test_cached_results_are_flagged_and_not_cold():
    rows = request_rows([state(0, cached=True, datetime=99), state(1, datetime=100), state(2, datetime=101)], count_words)
    assert list(rows["status"]) == [STATUS_CACHED, STATUS_COLD, STATUS_OK]


def test_batched_runtime_is_batch_time_over_batch_size():
    rows = request_rows([state(0, datetime=1), state(1, time=None, batch=(2.0, 8), datetime=5)], count_words)
    assert rows["raw_runtime_s"].iloc[1] == pytest.approx(0.25)
    assert rows["batch_size"].iloc[1] == 8


@pytest.mark.parametrize(
    "time,status",
    [(None, STATUS_MISSING_TIME), (float("nan"), STATUS_INVALID_TIME), (-1.0, STATUS_INVALID_TIME), (0.0, STATUS_INVALID_TIME)],
)
def test_bad_request_times_are_excluded_with_a_reason(time, status):
    rows = request_rows([state(0, datetime=1), state(1, time=time, datetime=2)], count_words)
    assert rows["status"].iloc[1] == status


def test_failed_requests_are_excluded():
    rows = request_rows([state(0, success=False)], count_words)
    assert rows["status"].iloc[0] == STATUS_FAILED


def test_empty_completion_tokens_are_retokenized_not_zero():
    rows = request_rows([state(0, tokens=(), text="one two three")], count_words)
    assert rows["num_output_tokens"].iloc[0] == 3


def test_echo_prompt_does_not_count_prompt_as_output():
    rows = request_rows([state(0, tokens=("w", "w", "w", "x"), echo=True, prompt="w w w")], count_words)
    assert rows["num_prompt_tokens"].iloc[0] == 3
    assert rows["num_output_tokens"].iloc[0] == 1


def test_prompt_counts_from_helm_stats_are_used_before_tokenizing():
    rows = request_rows([state(0)], count_words, prompt_token_counts={("id0", 0, None): 42})
    assert rows["num_prompt_tokens"].iloc[0] == 42


def test_request_rows_reads_only_the_typed_states():
    plain = {"instance": {"id": "id0"}, "request": {"model": "org/m", "prompt": "a b"}, "result": None}
    with pytest.raises(TypeError, match="from_json"):
        request_rows([plain], count_words)
    assert request_rows([from_json([plain])[0]], count_words)["num_prompt_tokens"].tolist() == [2]


def test_a_state_of_the_wrong_shape_names_its_file_and_field():
    from helm_efficiency.errors import EfficiencyInputError

    bad = [{"instance": {"id": "id0"}, "request": {"model": "org/m"}, "result": {"request_time": "soon"}}]
    with pytest.raises(EfficiencyInputError, match=r"run/scenario_state.json.*request_time"):
        from_json(bad, "run/scenario_state.json")
    lenient = from_json([{**bad[0], "result": {"request_time": "0.5", "success": "true"}}])[0]
    assert lenient.result.request_time == 0.5 and lenient.result.success is True


def test_the_full_parse_converts_to_the_typed_decode(tmp_path):
    """A scenario_state.json the strict decoder refuses is parsed in full and converted
    (states.from_json): on every wild suite's runs and the bench's variety suite (perturbations,
    several requests per instance, failed and untimed results) that conversion equals the typed
    decode, Struct for Struct, so the requests table does not depend on which path read a file."""
    import glob
    import importlib.util
    import os

    from helm_efficiency.helm_io import decoders
    from helm_efficiency.helm_io.runs import read_json

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("rescore_speed", os.path.join(here, "..", "bench", "rescore_speed.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.synth_suite(str(tmp_path / "variety"), runs=2, requests=60, distinct=2, variety=True)
    paths = sorted(glob.glob(os.path.join(here, "data", "wild", "**", "scenario_state.json"), recursive=True))
    paths += sorted(str(p / "scenario_state.json") for p in (tmp_path / "variety").iterdir())
    for path in paths:
        typed = decoders.read_scenario_state(path)
        assert typed and all(type(s) is RequestState for s in typed)
        assert from_json(read_json(path)["request_states"], path) == typed, path
    assert len(paths) >= 19
