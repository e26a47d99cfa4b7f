"""Rescore speed against HELM's own path, per request, measured in the same run.

Synthesizes a suite of RUNS runs × REQUESTS request states (default 200 × 1000 = 200,000),
with realistic JSON: ~1,500-character prompts, 1–64 generated tokens with logprobs, HELM's
per-instance num_prompt_tokens stats. Deployment: simple/model1 (a local HELM tokenizer).

- ours: `rescore_suite` over the whole suite (read, denoise, estimate, write stats).
- HELM: its own recomputation path for the built-in efficiency stats on a sample of runs:
  load scenario_state.json into HELM's ScenarioState (dacite), then
  EfficiencyMetric.compute_efficiency_metrics for every request (tokenizing through HELM's
  window service, as `helm-run` does).
Prints seconds per request for each and the ratio, and where our time goes (read, the
suite-level denoising fit and estimates, the requests CSV, the writes).

    python bench/rescore_speed.py [--runs 200] [--requests 1000] [--helm-sample-runs 5] [-j 1]
    python bench/rescore_speed.py --requests-total 1000000 -j 2   # wall time for a million requests

With --requests-total, 10 distinct runs are synthesized and copied to reach the total (the
copies keep the suite on disk cheap to make; every copy is read, fitted and written like any run).
"""

import argparse
import json
import resource
import os
import random
import shutil
import tempfile
import time

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split()


def synth_run(run_dir: str, index: int, n: int, rng: random.Random) -> None:
    os.makedirs(run_dir)
    states, per_instance = [], []
    base_time = 1_700_000_000 + index * 10_000
    for i in range(n):
        prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 350)))
        o = rng.randint(1, 64)
        tokens = [{"text": rng.choice(WORDS), "logprob": -rng.random()} for _ in range(o)]
        instance = {"input": {"text": prompt[-200:]}, "references": [{"output": {"text": "x"}, "tags": ["correct"]}],
                    "split": "test", "id": f"id{i}"}
        states.append({
            "instance": instance, "train_trial_index": 0, "output_mapping": None,
            "request": {"model_deployment": "simple/model1", "model": "simple/model1", "embedding": False, "prompt": prompt,
                        "temperature": 0.0, "num_completions": 1, "top_k_per_token": 1, "max_tokens": 64,
                        "stop_sequences": ["\n"], "echo_prompt": False, "top_p": 1, "presence_penalty": 0, "frequency_penalty": 0},
            "result": {"success": True, "embedding": [], "cached": rng.random() < 0.05,
                       "request_time": 0.05 + 2e-4 * len(prompt) + 0.02 * o + rng.expovariate(10),
                       "request_datetime": base_time + i,
                       "completions": [{"text": " ".join(t["text"] for t in tokens), "logprob": -1.0, "tokens": tokens}]},
            "num_train_instances": 0, "prompt_truncated": False,
        })
        per_instance.append({"instance_id": f"id{i}", "train_trial_index": 0, "stats": [
            {"name": {"name": "num_prompt_tokens", "split": "test"}, "count": 1, "sum": len(prompt), "sum_squared": len(prompt) ** 2,
             "min": len(prompt), "max": len(prompt), "mean": float(len(prompt)), "variance": 0.0, "stddev": 0.0}]})
    adapter = {"method": "generation", "model": "simple/model1", "model_deployment": "simple/model1", "max_tokens": 64}
    with open(os.path.join(run_dir, "scenario_state.json"), "w") as f:
        json.dump({"adapter_spec": adapter, "request_states": states}, f, indent=2)
    with open(os.path.join(run_dir, "per_instance_stats.json"), "w") as f:
        json.dump(per_instance, f, indent=2)
    with open(os.path.join(run_dir, "stats.json"), "w") as f:
        json.dump([], f)
    with open(os.path.join(run_dir, "run_spec.json"), "w") as f:
        json.dump({"name": f"synthetic:run={index},model=simple_model1", "scenario_spec": {"class_name": "x", "args": {}},
                   "adapter_spec": adapter, "metric_specs": [], "groups": []}, f)


def helm_path_seconds(run_dirs, local_path: str) -> tuple:
    """HELM's built-in path: dacite-load ScenarioState, then EfficiencyMetric per request."""
    import dacite
    from helm.benchmark.adaptation.scenario_state import ScenarioState
    from helm.benchmark.config_registry import register_builtin_configs_from_helm_package
    from helm.benchmark.metrics.efficiency_metrics import EfficiencyMetric
    from helm.benchmark.metrics.metric_service import MetricService
    from helm.common.local_context import LocalContext

    register_builtin_configs_from_helm_package()
    service = MetricService(LocalContext(base_path=local_path))  # as helm-run's runner builds it
    metric = EfficiencyMetric()
    started, n = time.perf_counter(), 0
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "scenario_state.json")) as f:
            state = dacite.from_dict(ScenarioState, json.load(f), config=dacite.Config(check_types=False))
        for request_state in state.request_states:
            metric.compute_efficiency_metrics(state.adapter_spec, request_state, service)
            n += 1
    return time.perf_counter() - started, n


def floor_seconds(run_dirs) -> float:
    """The floor for the same work on one core: read each run's bytes, decode what rescore needs
    with the fastest parser we ship (msgspec's typed partial decoders, helm_json), parse the two
    stats files it rewrites, and write the same output files (orjson, 2-space indent, to a temp
    name that is then removed). Run after rescore, so the outputs are the rescored ones."""
    import orjson

    from helm_efficiency import helm_json

    started = time.perf_counter()
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "scenario_state.json"), "rb") as f:
            helm_json.SCENARIO_STATE.decode(f.read())
        for name in ("stats.json", "per_instance_stats.json"):
            with open(os.path.join(run_dir, name), "rb") as f:
                parsed = orjson.loads(f.read())
            out = os.path.join(run_dir, f".floor-{name}")
            with open(out, "wb") as f:
                f.write(orjson.dumps(parsed, option=orjson.OPT_INDENT_2))
            os.unlink(out)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000, help="request states per run")
    parser.add_argument("--helm-sample-runs", type=int, default=5, help="runs timed through HELM's path (it is slow)")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--requests-total", type=int, help="synthesize this many requests (runs of --requests each) and report the wall time")
    args = parser.parse_args()
    if args.requests_total:
        args.runs = max(1, args.requests_total // args.requests)

    from helm_efficiency.rescore import rescore_suite

    tmp = tempfile.mkdtemp(prefix="rescore-speed-")
    try:
        suite = os.path.join(tmp, "runs", "bench")
        rng = random.Random(0)
        t0 = time.perf_counter()
        distinct = args.runs if not args.requests_total else min(10, args.runs)
        for i in range(args.runs):
            if i < distinct:
                synth_run(os.path.join(suite, f"run{i:04d}"), i, args.requests, rng)
            else:
                shutil.copytree(os.path.join(suite, f"run{i % distinct:04d}"), os.path.join(suite, f"run{i:04d}"))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(suite) for f in fs)
        print(f"synthesized {args.runs} runs × {args.requests} requests ({size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f}s", flush=True)

        sample = [os.path.join(suite, f"run{i:04d}") for i in range(min(args.helm_sample_runs, args.runs))]
        helm_s, helm_n = helm_path_seconds(sample, os.path.join(tmp, "prod_env"))

        t0 = time.perf_counter()
        summary = rescore_suite(suite, tables=["a100", "helm"], jobs=args.jobs, progress=False)
        ours_s = time.perf_counter() - t0
        ours_n = summary["requests"]
        ours_per, helm_per = ours_s / ours_n, helm_s / helm_n
        print(f"\nours: rescore of {ours_n} requests in {ours_s:.1f}s = {ours_per * 1e6:.0f} µs/request (-j {args.jobs})")
        print(f"HELM: EfficiencyMetric path over {helm_n} requests in {helm_s:.1f}s = {helm_per * 1e6:.0f} µs/request")
        print(f"ratio: rescore is {helm_per / ours_per:.1f}x faster per request than HELM's own efficiency path")
        print("where the time goes (wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))
        runs = sorted(os.path.join(suite, d) for d in os.listdir(suite) if os.path.isdir(os.path.join(suite, d)))
        floor = floor_seconds(runs)
        print(f"floor (read + msgspec partial decode + parse and write the same stats files, one core): {floor:.1f}s; "
              f"over {args.jobs} cores {floor / args.jobs:.1f}s; rescore is {ours_s / (floor / args.jobs):.1f}x the floor")
        if args.requests_total:
            print(f"{ours_n:,} requests rescored in {ours_s:.0f} s on -j {args.jobs}")
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(f"peak RSS (this process, or the largest worker): {peak / 1024:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
