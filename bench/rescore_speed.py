"""Rescore speed against HELM's own path, per request, measured in the same run, every request priced.

Synthesizes a suite of RUNS runs × REQUESTS request states (default 40 × 1000), with realistic
JSON: 150–350-word prompts, 1–64 generated tokens with logprobs, HELM's per-instance
num_prompt_tokens stats. Deployment: `together/gpt-j-6b`, a model both sides price from a table:
our default stack (h100-trtllm) has a calibrated batch-1 entry and a served table for it, and
HELM's bundled efficiency_data has its idealized-runtime table. So every request gets raw,
denoised, idealized (with interval), energy, cost and served GPU time, cost and energy; the
bench fails if any request goes without one of them.

- ours: `rescore_suite` over the whole suite on the default stack (read, denoise, estimate,
  serve, the requests CSV, write stats), in a fresh process (its peak RSS is its own).
- HELM: its own path for its built-in efficiency stats on a sample of runs, in another fresh
  process: load scenario_state.json into HELM's ScenarioState (dacite), then
  EfficiencyMetric.compute_efficiency_metrics for every request (HELM's table lookups; HELM
  0.5 no longer registers the deployment, so it is registered with HELM's local simple
  tokenizer, cheaper than GPT-J's own, which favours HELM).
- floor: the same files read and written with nothing computed: each run's scenario_state.json
  read and decoded by msgspec's typed partial decoder (helm_io/decoders, what rescore needs of it),
  its per_instance_stats.json decoded the same way, its stats.json and per_instance_stats.json
  as rescore writes them parsed and written again, its metadata and the suite's requests CSV
  copied; one core, divided by -j.

Prints, one line each: ours, HELM's, the ratio, the floor, where the time goes, peak RSS.

    python bench/rescore_speed.py [--runs 40] [--requests 1000] [--helm-sample-runs 3] [-j 2]
    python bench/rescore_speed.py --requests-total 1000000 -j 2   # the million-request case

With --requests-total, 10 distinct runs are synthesized and copied to reach the total (every
copy is read, fitted and written like any run).
"""

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split()
DEPLOYMENT = "together/gpt-j-6b"


TYPOS = {"name": "typos", "robustness": True, "fairness": False, "computed_on": "perturbed", "prob": 0.1}
DIALECT = {"name": "dialect", "robustness": False, "fairness": True, "computed_on": "perturbed", "source_class": "SAE", "target_class": "AAVE"}


def synth_run(run_dir: str, index: int, n: int, rng: random.Random, variety: bool = False) -> None:
    """One run of n request states. `variety` (tests/rescore_golden.py): also two requests for
    some instances (multiple_choice_separate), perturbed copies (robustness and fairness), a
    second trial, sub-splits, failed and untimed results, and instances HELM's file lacks."""
    os.makedirs(run_dir)
    states, per_instance = [], []
    base_time = 1_700_000_000 + index * 10_000
    for i in range(n):
        words = rng.randint(150, 350)
        prompt = " ".join(rng.choice(WORDS) for _ in range(words))
        p = int(words * 1.3)
        trial = rng.randint(0, 1) if variety else 0
        copies = [None]
        if variety and i % 3 == 0:
            copies = [None, TYPOS] + ([DIALECT] if i % 2 else [])
        for perturbation in copies:
            for _ in range(2 if variety and i % 5 == 1 else 1):
                o = rng.randint(1, 64)
                tokens = [{"text": rng.choice(WORDS), "logprob": -rng.random()} for _ in range(o)]
                instance = {"input": {"text": prompt[-200:]}, "references": [{"output": {"text": "x"}, "tags": ["correct"]}],
                            "split": "test", "id": f"id{i}"}
                if variety and i % 4 == 1:
                    instance["sub_split"] = "hard"
                if perturbation is not None:
                    instance["perturbation"] = perturbation
                result = {"success": not (variety and i % 17 == 5), "embedding": [], "cached": rng.random() < 0.05,
                          "request_time": 0.05 + 2e-4 * p + 0.02 * o + rng.expovariate(10),
                          "request_datetime": base_time + len(states),
                          "completions": [{"text": " ".join(t["text"] for t in tokens), "logprob": -1.0, "tokens": tokens}]}
                if variety and i % 13 == 7:
                    del result["request_time"]
                states.append({
                    "instance": instance, "train_trial_index": trial, "output_mapping": None,
                    "request": {"model_deployment": DEPLOYMENT, "model": DEPLOYMENT, "embedding": False, "prompt": prompt,
                                "temperature": 0.0, "num_completions": 1, "top_k_per_token": 1, "max_tokens": 64,
                                "stop_sequences": ["\n"], "echo_prompt": False, "top_p": 1, "presence_penalty": 0, "frequency_penalty": 0},
                    "result": result, "num_train_instances": 0, "prompt_truncated": False,
                })
            if variety and i % 7 == 3:
                continue  # an instance HELM's per-instance file lacks: counted by tokenizing, written as a new entry
            name = {"name": "num_prompt_tokens", "split": "test"}
            entry = {"instance_id": f"id{i}", "train_trial_index": trial}
            if perturbation is not None:
                name["perturbation"] = perturbation
                entry["perturbation"] = perturbation
            entry["stats"] = [{"name": name, "count": 1, "sum": p, "sum_squared": p ** 2, "min": p, "max": p, "mean": float(p),
                               "variance": 0.0, "stddev": 0.0}]
            per_instance.append(entry)
    adapter = {"method": "generation", "model": DEPLOYMENT, "model_deployment": DEPLOYMENT, "max_tokens": 64}
    with open(os.path.join(run_dir, "scenario_state.json"), "w") as f:
        json.dump({"adapter_spec": adapter, "request_states": states}, f, indent=2)
    with open(os.path.join(run_dir, "per_instance_stats.json"), "w") as f:
        json.dump(per_instance, f, indent=2)
    with open(os.path.join(run_dir, "stats.json"), "w") as f:
        json.dump([], f)
    with open(os.path.join(run_dir, "run_spec.json"), "w") as f:
        json.dump({"name": f"synthetic:run={index},model=together_gpt-j-6b", "scenario_spec": {"class_name": "x", "args": {}},
                   "adapter_spec": adapter, "metric_specs": [], "groups": []}, f)


def synth_suite(suite: str, runs: int, requests: int, distinct: int, variety: bool = False) -> None:
    rng = random.Random(0)
    for i in range(runs):
        if i < distinct:
            synth_run(os.path.join(suite, f"run{i:04d}"), i, requests, rng, variety)
        else:
            shutil.copytree(os.path.join(suite, f"run{i % distinct:04d}"), os.path.join(suite, f"run{i:04d}"))


def peak_rss_mb() -> float:
    """Largest resident set of this process or any of its (waited-for) children, MB."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def ours(suite: str, jobs: int, queue) -> None:
    """In a fresh process: rescore the suite on the default stack; (seconds, summary, peak RSS)."""
    from helm_efficiency.rescore import rescore_suite

    started = time.perf_counter()
    summary = rescore_suite(suite, jobs=jobs, progress=False)
    queue.put((time.perf_counter() - started, summary, peak_rss_mb()))


def helm_path(run_dirs, local_path: str, queue) -> None:
    """In a fresh process: HELM's built-in path, dacite-load ScenarioState, then EfficiencyMetric per request."""
    import dacite
    from helm.benchmark.adaptation.scenario_state import ScenarioState
    from helm.benchmark.config_registry import register_builtin_configs_from_helm_package
    from helm.benchmark.metrics.efficiency_metrics import EfficiencyMetric
    from helm.benchmark.metrics.metric_service import MetricService
    from helm.benchmark.model_deployment_registry import ClientSpec, ModelDeployment, register_model_deployment
    from helm.common.local_context import LocalContext

    register_builtin_configs_from_helm_package()
    register_model_deployment(ModelDeployment(name=DEPLOYMENT, model_name=DEPLOYMENT, tokenizer_name="simple/tokenizer1",
                                              max_sequence_length=2048, client_spec=ClientSpec("helm.clients.simple_client.SimpleClient")))
    service = MetricService(LocalContext(base_path=local_path))  # as helm-run's runner builds it
    metric = EfficiencyMetric()
    started, n, priced = time.perf_counter(), 0, 0
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "scenario_state.json")) as f:
            state = dacite.from_dict(ScenarioState, json.load(f), config=dacite.Config(check_types=False))
        for request_state in state.request_states:
            stats = metric.compute_efficiency_metrics(state.adapter_spec, request_state, service)
            priced += any(s.name.name == "inference_idealized_runtime" for s in stats)
            n += 1
    queue.put((time.perf_counter() - started, n, priced))


def in_process(target, *args):
    """Run target(*args, queue) in a fresh spawned process and return what it put on the queue."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        sys.exit(f"{target.__name__} exited with {process.exitcode}")
    return result


def floor_seconds(suite: str, run_dirs) -> float:
    """The floor for the same files on one core (module docstring). Run after rescore, so the
    stats files written are the rescored ones."""
    import orjson

    from helm_efficiency.helm_io import decoders as helm_json

    def copy(path):
        with open(path, "rb") as f:
            data = f.read()
        with open(path + ".floor", "wb") as f:
            f.write(data)
        os.unlink(path + ".floor")

    started = time.perf_counter()
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "scenario_state.json"), "rb") as f:
            helm_json.SCENARIO_STATE.decode(f.read())
        with open(os.path.join(run_dir, "per_instance_stats.json.orig"), "rb") as f:
            helm_json.PER_INSTANCE_STATS.decode(f.read())
        for name in ("stats.json", "per_instance_stats.json"):
            with open(os.path.join(run_dir, name), "rb") as f:
                parsed = orjson.loads(f.read())
            out = os.path.join(run_dir, f".floor-{name}")
            with open(out, "wb") as f:
                f.write(orjson.dumps(parsed, option=orjson.OPT_INDENT_2))
            os.unlink(out)
        copy(os.path.join(run_dir, "efficiency_metadata.json"))
    copy(os.path.join(suite, "efficiency_requests.csv"))
    return time.perf_counter() - started


def unpriced(summary: dict) -> dict:
    """Requests without each priced number (all must be 0)."""
    return {k: summary.get(k, -1) for k in ("unestimated", "unpriced", "unserved", "undenoised")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--requests", type=int, default=1000, help="request states per run")
    parser.add_argument("--helm-sample-runs", type=int, default=3, help="runs timed through HELM's path (it is slow)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--requests-total", type=int, help="synthesize this many requests (runs of --requests each)")
    parser.add_argument("--keep", help="synthesize into this folder and keep it (reused if it exists: profile the same suite)")
    args = parser.parse_args()
    if args.requests_total:
        args.runs = max(1, args.requests_total // args.requests)

    tmp = tempfile.mkdtemp(prefix="rescore-speed-")
    try:
        suite = os.path.join(args.keep or tmp, "runs", "bench")
        t0 = time.perf_counter()
        if not os.path.isdir(suite):
            synth_suite(suite, args.runs, args.requests, args.runs if not args.requests_total else min(10, args.runs))
        else:  # a kept suite: back to HELM's originals
            for run in os.listdir(suite):
                run_dir = os.path.join(suite, run)
                for name in ("stats.json", "per_instance_stats.json"):
                    if os.path.exists(os.path.join(run_dir, name + ".orig")):
                        os.replace(os.path.join(run_dir, name + ".orig"), os.path.join(run_dir, name))
        runs = sorted(os.path.join(suite, d) for d in os.listdir(suite) if os.path.isdir(os.path.join(suite, d)))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(suite) for f in fs)
        print(f"suite: {len(runs)} runs × {args.requests} requests of {DEPLOYMENT} ({size / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - t0:.0f}s; stack h100-trtllm (default); {os.cpu_count()} CPUs, -j {args.jobs}", flush=True)

        helm_s, helm_n, helm_priced = in_process(helm_path, runs[: args.helm_sample_runs], os.path.join(tmp, "prod_env"))
        ours_s, summary, rss = in_process(ours, suite, args.jobs)
        missing = unpriced(summary)
        if any(missing.values()) or helm_priced != helm_n:
            sys.exit(f"FAILED: not every request priced: ours {missing}, HELM {helm_n - helm_priced} without idealized runtime")
        floor = floor_seconds(suite, runs) / args.jobs
        ours_n = summary["requests"]
        ours_per, helm_per = ours_s / ours_n, helm_s / helm_n
        print(f"ours:  {ours_n:,} requests in {ours_s:.1f} s = {ours_per * 1e6:.1f} µs/request, every one priced "
              f"(idealized, energy, cost, served; -j {args.jobs})")
        print(f"HELM:  {helm_n:,} requests in {helm_s:.1f} s = {helm_per * 1e6:.1f} µs/request (dacite + EfficiencyMetric, its table lookups)")
        print(f"ratio: {helm_per / ours_per:.1f}x HELM's path per request")
        print(f"floor: {floor:.1f} s on {args.jobs} cores (read + typed partial decode + write the same files); ours is {ours_s / floor:.2f}x the floor")
        print("where: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()) + " (wall s)")
        print(f"peak RSS: {rss:.0f} MB (rescore's process or its largest worker)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
