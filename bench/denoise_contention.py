"""Denoising against real contention on this machine, through HELM's own client path.

1. Build a random-weight GPT-2-shaped model (no download) and serve it with HELM's
   HuggingFaceClient (the client `helm-run --enable-local-huggingface-models` uses).
2. Interleave, in rounds, so slow drift in the machine's own speed hits both sides equally,
   a quiet slice (nothing else running) and a contended slice. Two designs (`--load`):
   - paced (default): every request follows a random pause (mean 0.3 s). Quiet: every (p, o)
     configuration twice, from one thread. Contended: a share of the contended requests,
     shuffled, from concurrent threads (so concurrency varies), while a CPU-hogging process
     runs 1 s on, 3 s off. Only the contention differs (in one back-to-back-quiet control run,
     `--no-hog --threads 1`, paused requests read 42% above the back-to-back truth);
   - bursty: quiet and tested requests go back to back from one thread, as HELM's clients send
     them. Contended: the tested share goes back to back while `--threads - 1` background
     threads send random configurations in bursts (about `--burst-s` on, `--rest-s` off) and
     the hog runs; background requests are timed and denoised too. Contention comes and goes,
     so some requests meet none, the premise of any lower-envelope method.
3. Quiet truth per configuration: the mean of the fastest half of its quiet repeats (the
   profiler's rule). Its own noise floor is reported: the truth from even rounds against the
   truth from odd rounds. An error below that floor cannot be resolved on this machine.
4. Per configuration, against the quiet truth: the raw contended runtime (mean), the paper's
   minimum per configuration, our lower-envelope denoised runtime, and, as a diagnostic, the
   same denoiser fitted to the quiet timings (what remains with no contention at all: the
   functional form, and a low quantile of two-sided jitter sitting below the truth).
   Median and p90 relative error, all from this one run. Denoised against quiet_envelope
   isolates how much contention the denoiser removes from what statistic it reports.

    python bench/denoise_contention.py [--model he-tiny] [--threads 2] [--rounds 6] [--no-hog]
    python bench/denoise_contention.py --no-hog --threads 1    # control: no contention at all
    python bench/denoise_contention.py --load bursty [--threads 2] [--burst-s 0.6] [--rest-s 1.2]
    python bench/denoise_contention.py --from-timings TIMINGS.csv [--quantile 0.1]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pandas as pd

from helm_efficiency.denoise.envelope import LowerEnvelopeDenoiser
from helm_efficiency.profiling.profile_cmd import demo_model_configs
from helm_efficiency.profiling.profiler import robust_mean_std
from helm_efficiency.profiling.random_model import save_random_model

PROMPTS = (16, 128, 384, 768)
OUTPUTS = (1, 8, 24)
HOG = "import time\nwhile True:\n    end = time.time() + 1.0\n    while time.time() < end: pass\n    time.sleep(3.0)\n"


def make_client(model_dir: str, name: str):
    from helm.clients.huggingface_client import HuggingFaceClient
    from helm.common.cache import BlackHoleCacheConfig
    from helm.tokenizers.huggingface_tokenizer import HuggingFaceTokenizer

    tokenizer = HuggingFaceTokenizer(BlackHoleCacheConfig(), f"huggingface/{name}", pretrained_model_name_or_path=model_dir)
    return HuggingFaceClient(BlackHoleCacheConfig(), tokenizer, pretrained_model_name_or_path=model_dir, apply_chat_template=False)


def send(client, name: str, p: int, o: int) -> dict:
    from helm.common.request import Request

    request = Request(model=f"huggingface/{name}", model_deployment=f"huggingface/{name}", prompt="a" * p,
                      max_tokens=o, temperature=0.0, stop_sequences=[])
    started_at = time.time()
    result = client.make_request(request)
    if not result.success:
        raise RuntimeError(result.error)
    return {"num_prompt_tokens": p, "num_output_tokens": len(result.completions[0].tokens), "runtime_s": result.request_time,
            "started_at": started_at, "config": (p, o)}


def relative_errors(estimate: pd.Series, truth: pd.Series) -> tuple:
    """Median and p90 absolute relative error (%), over the configurations with an estimate
    (the per-configuration table shows any NaN)."""
    e = np.abs(estimate / truth - 1)
    return float(np.nanmedian(e) * 100), float(np.nanpercentile(e, 90) * 100)


@contextmanager
def cpu_hog(on: bool):
    """A CPU-hogging process (1 s on, 3 s off) for the duration of the block, if `on`."""
    process = subprocess.Popen([sys.executable, "-c", HOG]) if on else None
    try:
        yield
    finally:
        if process is not None:
            process.kill()
            process.wait()


def paced_slice(client, name: str, jobs, threads: int, mean_gap_s: float, hog: bool, rng: random.Random) -> list:
    """Send `jobs` ((p, o) each) from `threads` threads, each after an exponential pause. A
    quiet slice is one thread with no hog; a contended slice adds threads and a CPU hog process
    (1 s on, 3 s off) for the slice's duration."""
    gaps = [rng.expovariate(1.0 / mean_gap_s) if mean_gap_s > 0 else 0.0 for _ in jobs]
    with cpu_hog(hog), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda job: (time.sleep(job[1]), send(client, name, *job[0]))[1], zip(jobs, gaps)))


def bursty_slice(client, name: str, jobs, configs, threads: int, burst_s: float, rest_s: float, hog: bool, rng: random.Random) -> list:
    """Send `jobs` back to back from one thread (the stream under test) while `threads - 1`
    background threads send requests for random `configs` in bursts (back to back for about
    `burst_s`, then quiet for about `rest_s`), and a CPU hog (1 s on, 3 s off) runs for the
    slice. Contention comes and goes: some requests meet none. Every request is returned, the
    background ones too: a real run cannot tell them apart either."""
    stop = threading.Event()
    seeds = [rng.random() for _ in range(threads - 1)]

    def background(seed: float) -> list:
        local, rows = random.Random(seed), []
        stop.wait(local.uniform(0, rest_s))
        while not stop.is_set():
            end = time.time() + local.expovariate(1.0 / burst_s)
            while time.time() < end and not stop.is_set():
                rows.append(dict(send(client, name, *local.choice(configs)), stream="background"))
            stop.wait(local.expovariate(1.0 / rest_s))
        return rows

    with cpu_hog(hog), ThreadPoolExecutor(max(1, threads - 1)) as pool:
        busy = [pool.submit(background, seed) for seed in seeds]
        try:
            rows = [dict(send(client, name, *job), stream="main") for job in jobs]
        finally:
            stop.set()
        return rows + [row for future in busy for row in future.result()]


def truth_of(quiet: pd.DataFrame) -> pd.Series:
    return quiet.groupby("config")["runtime_s"].agg(lambda s: robust_mean_std(s.to_numpy())[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="he-tiny", choices=sorted(demo_model_configs()))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6, help="quiet/contended rounds (even, for the truth's noise floor)")
    parser.add_argument("--repeats", type=int, default=12, help="contended requests per configuration, over all rounds")
    parser.add_argument("--quiet-repeats", type=int, default=2, help="quiet repeats per configuration per round")
    parser.add_argument("--load", choices=("paced", "bursty"), default="paced",
                        help="bursty: quiet and tested requests back to back, background load comes and goes; "
                             "paced: every request after a random pause, from --threads threads")
    parser.add_argument("--mean-gap-s", type=float, default=0.3, help="paced: mean random pause before each request")
    parser.add_argument("--burst-s", type=float, default=0.6, help="bursty: mean length of a background burst")
    parser.add_argument("--rest-s", type=float, default=1.2, help="bursty: mean pause between background bursts")
    parser.add_argument("--no-hog", action="store_true", help="no background process (a control run)")
    parser.add_argument("--timings-out", help="write every quiet and contended timing to this CSV")
    parser.add_argument("--from-timings", help="re-analyse a --timings-out CSV instead of measuring")
    parser.add_argument("--quantile", type=float, help="envelope quantile (default: the denoiser's automatic rule)")
    parser.add_argument("--cap-by-repeats", action="store_true", help="cap the envelope at each configuration's fastest repeat")
    args = parser.parse_args()
    if args.from_timings:
        both = pd.read_csv(args.from_timings)
        both["config"] = list(zip(both["num_prompt_tokens"], both["num_output_tokens"]))
        quiet, contended = both[both["phase"] == "quiet"], both[both["phase"] == "contended"]
    else:
        quiet, contended = measure(args)
    if args.timings_out:
        both = pd.concat([quiet.assign(phase="quiet"), contended.assign(phase="contended")], ignore_index=True)
        both.drop(columns="config").to_csv(args.timings_out, index=False)
    report(quiet, contended, args.quantile, args.cap_by_repeats)


def measure(args) -> tuple:
    """Quiet and contended timings, interleaved in rounds (see the module docstring)."""
    configs = [(p, o) for p in PROMPTS for o in OUTPUTS]
    rng = random.Random(0)
    jobs = [c for c in configs for _ in range(args.repeats)]
    rng.shuffle(jobs)
    quiet_rows, contended_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, args.model)
        save_random_model(dict(demo_model_configs()[args.model]), model_dir)
        # Generate exactly max_tokens: a random model could otherwise emit end-of-text early.
        gen_path = os.path.join(model_dir, "generation_config.json")
        if os.path.exists(gen_path):
            os.remove(gen_path)
        client = make_client(model_dir, args.model)
        for _ in range(3):
            send(client, args.model, 64, 4)  # load and warm up
        started = time.time()
        quiet_gap_s = args.mean_gap_s if args.load == "paced" else 0.0
        for r in range(args.rounds):
            order = [c for c in configs for _ in range(args.quiet_repeats)]
            rng.shuffle(order)
            quiet = paced_slice(client, args.model, order, threads=1, mean_gap_s=quiet_gap_s, hog=False, rng=rng)
            quiet_rows += [dict(row, round=r) for row in quiet]
            share = jobs[r * len(jobs) // args.rounds : (r + 1) * len(jobs) // args.rounds]
            if args.load == "paced":
                contended = paced_slice(client, args.model, share, threads=args.threads, mean_gap_s=args.mean_gap_s,
                                        hog=not args.no_hog, rng=rng)
            else:
                contended = bursty_slice(client, args.model, share, configs, threads=args.threads, burst_s=args.burst_s,
                                         rest_s=args.rest_s, hog=not args.no_hog, rng=rng)
            contended_rows += [dict(row, round=r) for row in contended]
            print(f"round {r + 1}/{args.rounds}: {len(order)} quiet, {len(contended)} contended requests "
                  f"({time.time() - started:.0f}s)", flush=True)
    return pd.DataFrame(quiet_rows), pd.DataFrame(contended_rows)


def report(quiet: pd.DataFrame, contended: pd.DataFrame, quantile=None, cap_by_repeats: bool = False) -> None:
    truth = truth_of(quiet)
    floor = relative_errors(truth_of(quiet[quiet["round"] % 2 == 0]), truth_of(quiet[quiet["round"] % 2 == 1]))

    per_config = contended.groupby("config").agg(raw=("runtime_s", "mean"), min_per_config=("runtime_s", "min"),
                                                  p=("num_prompt_tokens", "first"), o=("num_output_tokens", "median"))
    denoiser = LowerEnvelopeDenoiser(quantile=quantile, cap_by_repeats=cap_by_repeats).fit(contended)
    per_config["denoised"] = denoiser.predict(per_config["p"], per_config["o"])
    per_config["quiet_envelope"] = LowerEnvelopeDenoiser(quantile=quantile, cap_by_repeats=cap_by_repeats).fit(quiet).predict(per_config["p"], per_config["o"])
    per_config["truth"] = truth
    rows = []
    for method in ("raw", "min_per_config", "denoised", "quiet_envelope"):
        med, p90 = relative_errors(per_config[method], per_config["truth"])
        rows.append({"method": method, "median_rel_err_pct": med, "p90_rel_err_pct": p90})
    result = pd.DataFrame(rows).set_index("method")
    pd.set_option("display.width", 200)
    print(per_config[["truth", "raw", "min_per_config", "denoised", "quiet_envelope"]].round(4).to_string())
    print()
    print(result.to_string(float_format=lambda v: f"{v:.1f}"))
    print(f"\nquiet truth's own noise floor (even vs odd rounds): median {floor[0]:.1f}%, p90 {floor[1]:.1f}%")
    spread = quiet["runtime_s"].to_numpy() / truth.reindex(quiet["config"]).to_numpy() - 1
    p10, p50, p90 = np.percentile(spread, [10, 50, 90]) * 100
    by_round = (quiet.assign(spread=spread).groupby("round")["spread"].median() * 100).agg(["min", "max"])
    print(f"quiet timings against their own truth (the machine's jitter with no contention): p10 {p10:+.1f}%, "
          f"median {p50:+.1f}%, p90 {p90:+.1f}%; per-round medians from {by_round['min']:+.1f}% to {by_round['max']:+.1f}%")
    removal = relative_errors(per_config["denoised"], per_config["quiet_envelope"])
    print(f"contention removal alone (denoised against the same denoiser on the quiet timings): "
          f"median {removal[0]:.1f}%, p90 {removal[1]:.1f}%")
    slowed = float((contended.set_index("config")["runtime_s"] > 1.1 * truth.reindex(contended["config"]).to_numpy()).mean() * 100)
    print(f"contended requests more than 10% slower than the quiet truth: {slowed:.0f}%")
    print(f"denoised median error is {result.loc['denoised', 'median_rel_err_pct'] / result.loc['raw', 'median_rel_err_pct']:.2f}x "
          f"the raw runtime's and {result.loc['denoised', 'median_rel_err_pct'] / result.loc['min_per_config', 'median_rel_err_pct']:.2f}x "
          f"min-per-config's; fit quality {denoiser.quality_}, quantile {denoiser.quantile_:.3f}, {denoiser.n_} requests")


if __name__ == "__main__":
    main()
