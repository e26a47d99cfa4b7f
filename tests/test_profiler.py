"""The profiler's code path on CPU with tiny random-weight models (timings are not asserted)."""

import json

import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.profiling.profile_cmd import check_memory, profile
from helm_efficiency.profiling.profiler import bisection_order, informative_order, robust_mean_std
from helm_efficiency.tables.calibrate import calibrate_table


def test_profile_then_calibrate_a_registry_architecture():
    df = profile(None, "test/tiny-llama", device="cpu", dtype="fp32", prompts=[1, 16, 48], outputs=[1, 3], repeats=3, warmup=1)
    assert len(df) == 6
    assert (df["runtime_s"] > 0).all()
    row = df.iloc[0]
    assert (row["num_layers"], row["hidden_size"], row["num_kv_heads"], row["num_mlp_matrices"]) == (2, 64, 2, 3)
    assert "torch" in row["software"] and "transformers" in row["software"]
    table = calibrate_table(df, name="t")
    out = table.entries[0].predict([8], [2])
    assert out["runtime_s"].iloc[0] > 0


def test_time_budget_stops_early_and_keeps_corners_first():
    df = profile(None, "test/tiny-llama", device="cpu", dtype="fp32", prompts=[1, 8, 16, 32], outputs=[1, 2, 4], repeats=2, warmup=0, max_seconds=0.0)
    assert len(df) == 1
    assert (df.iloc[0]["num_prompt_tokens"], df.iloc[0]["num_output_tokens"]) == (1, 1)


def test_informative_order_starts_with_corners():
    order = informative_order([(p, o) for p in (1, 64, 128, 256, 512) for o in (1, 8, 64)])
    assert set(order[:4]) == {(1, 1), (1, 64), (512, 1), (512, 64)}
    assert bisection_order([1, 2, 3, 4, 5]) == [1, 5, 3, 2, 4]


def test_robust_stats_drop_slow_outliers():
    mean, std = robust_mean_std([1.0, 1.01, 0.99, 5.0, 1.0])
    assert mean == pytest.approx(1.0, abs=0.01) and std < 0.02


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(EfficiencyInputError, match="unknown architecture"):
        profile(None, "nobody/no-such-model", device="cpu", dtype="fp32", prompts=[1], outputs=[1, 2], repeats=1, warmup=0)


def test_config_missing_fields_is_a_clear_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(EfficiencyInputError, match="model_type"):
        profile(str(path), None, device="cpu", dtype="fp32", prompts=[1], outputs=[1, 2], repeats=1, warmup=0)

    class Config:
        hidden_size = 64

    with pytest.raises(EfficiencyInputError, match="num_hidden_layers"):
        architecture_from_config(Config())


def test_model_too_large_for_memory_is_refused_before_allocating():
    huge = {"num_layers": 400, "hidden_size": 65536, "num_attention_heads": 64, "num_kv_heads": 64, "intermediate_size": 262144, "vocab_size": 32000}
    with pytest.raises(EfficiencyInputError, match="GiB"):
        check_memory(huge, 4, 4096, "cpu", "--arch huge")


def test_grid_beyond_the_context_window_is_trimmed_and_said(tmp_path, capsys):
    """A GPT-2-shaped config with n_positions = 64: the grid's p + o must fit, else the embedding
    lookup fails inside torch (it used to raise IndexError)."""
    config = {"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 64, "vocab_size": 128}
    folder = tmp_path / "tiny-gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    df = profile(str(folder / "config.json"), None, device="cpu", dtype="fp32", prompts=[1, 16, 48, 64], outputs=[1, 8, 32], repeats=1, warmup=0)
    assert (df["num_prompt_tokens"] + df["num_output_tokens"]).max() <= 64
    assert set(df["num_prompt_tokens"]) == {1, 16} and set(df["num_output_tokens"]) == {1, 8, 32}
    assert "n_positions = 64" in capsys.readouterr().err
    assert set(df["model"]) == {"tiny-gpt2"}  # a Hugging Face folder's name, not "config"


def test_grid_that_cannot_fit_the_window_is_refused_naming_the_field(tmp_path):
    config = {"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 8, "vocab_size": 128}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(EfficiencyInputError, match="n_positions"):
        profile(str(path), None, device="cpu", dtype="fp32", prompts=[16, 32], outputs=[1, 8], repeats=1, warmup=0)


def test_a_machine_that_changed_load_is_warned_about():
    from helm_efficiency.profiling.profiler import load_warnings

    quiet = load_warnings((1, 1, 1), 0.010, 0.011, 0.1, 2.1, cpus=2, own_threads=2)
    assert quiet == []
    slowed = load_warnings((1, 1, 1), 0.010, 0.036, 0.1, 2.1, cpus=2, own_threads=2)
    assert len(slowed) == 1 and "+260%" in slowed[0]
    busy = load_warnings((1, 1, 1), 0.010, 0.010, 1.6, 2.0, cpus=2, own_threads=2)
    assert len(busy) == 1 and "load average 1.6" in busy[0]


def test_profile_records_its_warnings_and_keeps_the_budget():
    df = profile(None, "test/tiny-llama", device="cpu", dtype="fp32", prompts=[1, 8, 16, 32], outputs=[1, 2, 4], repeats=2, warmup=0, max_seconds=60)
    assert isinstance(df.attrs["warnings"], list)
    assert len(df) == 12


def test_optimized_stack_runs_on_cpu_in_smoke_mode():
    """Static KV cache plus a compiled decode step (eager backend on CPU): same grid, same columns."""
    eager = profile(None, "test/tiny-llama", device="cpu", dtype="fp32", prompts=[1, 16], outputs=[1, 4], repeats=2, warmup=1)
    optimized = profile(None, "test/tiny-llama", device="cpu", dtype="fp32", prompts=[1, 16], outputs=[1, 4], repeats=2, warmup=1,
                        stack="optimized")
    assert len(optimized) == len(eager) == 4 and (optimized["runtime_s"] > 0).all()
    assert "static KV cache" in optimized["software"].iloc[0] and "dynamic KV cache" in eager["software"].iloc[0]


def test_static_cache_decoding_matches_the_dynamic_cache():
    """The optimized runner generates the same greedy tokens: it changes the cost, not the work."""
    import torch

    from helm_efficiency.analytic.registry import registry_config
    from helm_efficiency.profiling.profiler import StaticCacheRunner
    from helm_efficiency.profiling.random_model import build_model

    model = build_model(registry_config("test/tiny-llama")).eval()
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model.generate(ids, max_new_tokens=6, do_sample=False)[0, 12:].tolist()
        produced = []
        runner = StaticCacheRunner(model, 32, "cpu")
        original = model.forward

        def record(*args, **kwargs):
            out = original(*args, **kwargs)
            produced.append(int(out.logits[0, -1].argmax()))
            return out

        model.forward = record
        runner.step = record
        runner(ids, 6)
    assert produced[:6] == expected


def test_energy_per_request_differences_a_coarse_counter():
    """NVML's counter is an external boundary: a fake one that ticks in 100 J steps."""
    from helm_efficiency.profiling.profiler import energy_per_request

    state = {"calls": 0}

    def run():
        state["calls"] += 1

    counter = lambda: 100.0 * (state["calls"] // 10)  # noqa: E731  (energy arrives in coarse steps)
    joules, n = energy_per_request(counter, run, lambda: None, min_seconds=0.05)
    assert n >= 10 and joules == pytest.approx(100.0 * (n // 10) / n)


@pytest.mark.slow
def test_gpu_bench_script_runs_its_cpu_smoke_mode(tmp_path):
    """bench/gpu_bench.sh --smoke: both stacks profiled, compared with a reference table, one JSON."""
    import glob
    import os
    import subprocess
    import sys

    root = os.path.join(os.path.dirname(__file__), "..")
    done = subprocess.run(["bash", "bench/gpu_bench.sh", "--smoke"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [path] = glob.glob(str(tmp_path / "cpu_smoke_*.json"))
    result = json.load(open(path))
    assert {r["stack"] for r in result["runs"]} == {"eager", "optimized"}
    assert all(r["ms_per_output_token"] > 0 and r["measured_over_reference"]["median"] > 0 for r in result["runs"])
