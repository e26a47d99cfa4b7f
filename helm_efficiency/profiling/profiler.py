"""Time prefill and per-token decode of a random-weight model on this machine.

Each (p, o) point runs one prefill of p tokens with a KV cache, then o−1 single-token decode
steps reusing the cache, under `torch.inference_mode` with PyTorch's fused SDPA attention.
On CUDA, timing uses CUDA events with synchronisation; on CPU, `time.perf_counter`.
Warm-up runs precede `repeats` timed runs; the mean and std of the fastest half are recorded.
"""

import os
import platform
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

DEFAULT_PROMPTS = (1, 32, 64, 128, 256, 384, 512)
DEFAULT_OUTPUTS = (1, 4, 16, 32)


def bisection_order(values: Sequence[int]) -> List[int]:
    """Endpoints first, then midpoints of ever finer intervals: [1, 512, 128, 32, 256, ...]."""
    values = sorted(set(values))
    order, queue = [values[0], values[-1]][: len(values)], [(0, len(values) - 1)]
    while queue:
        lo, hi = queue.pop(0)
        if hi - lo >= 2:
            mid = (lo + hi) // 2
            order.append(values[mid])
            queue += [(lo, mid), (mid, hi)]
    return order


def informative_order(points: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Order (p, o) points so that a time budget keeps the most informative ones: the corners
    (which pin F(p) and g) first, then points that bisect the p and o ranges."""
    rank_p = {p: i for i, p in enumerate(bisection_order([p for p, _ in points]))}
    rank_o = {o: i for i, o in enumerate(bisection_order([o for _, o in points]))}
    return sorted(set(points), key=lambda x: (max(rank_p[x[0]], rank_o[x[1]]), rank_p[x[0]], rank_o[x[1]]))


@dataclass
class Timing:
    mean_s: float
    std_s: float


def _timer(device: str) -> Callable[[Callable[[], None]], float]:
    import torch

    if device.startswith("cuda"):
        def cuda_time(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000.0

        return cuda_time

    def cpu_time(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return cpu_time


def generate_with_cache(model, input_ids, num_output_tokens: int) -> None:
    """Prefill plus (o−1) greedy decode steps with a KV cache (the idealized request)."""

    out = model(input_ids=input_ids, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    cache_kw = _cache_keyword(model)
    token = out.logits[:, -1:].argmax(-1)
    for _ in range(num_output_tokens - 1):
        out = model(input_ids=token, use_cache=True, **{cache_kw: cache})
        cache = getattr(out, "cache", None) or out.past_key_values
        token = out.logits[:, -1:].argmax(-1)


def _cache_keyword(model) -> str:
    """transformers ≥ 5.2x names the KV-cache argument `cache`; older releases `past_key_values`."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def robust_mean_std(samples: Sequence[float]) -> Tuple[float, float]:
    """Mean and std of the fastest half of the repeats (at least 2). On a shared machine,
    preemption and noisy neighbours only ever add time, so the slow half measures them,
    not the stack."""
    s = np.sort(np.asarray(samples, float))
    kept = s[: max(2, len(s) // 2 + 1)] if len(s) > 2 else s
    return float(kept.mean()), float(kept.std(ddof=1)) if len(kept) > 1 else 0.0


STACKS = ("eager", "optimized")


class StaticCacheRunner:
    """The optimized stack: a static KV cache (one per batch size, allocated once for the longest
    request) and a compiled decode step; prefill runs eagerly with SDPA attention.

    CUDA: torch.compile mode "reduce-overhead" (CUDA graphs), the way optimized servers remove
    per-token Python and launch overhead. CPU: the same code path compiled with the "eager"
    backend, a smoke mode that runs in seconds (inductor on CPU compiles for minutes and is not
    what anyone serves with). Compilation happens in the warm-up runs, never in timed ones.
    """

    def __init__(self, model, max_cache_len: int, device: str):
        import torch

        self.model, self.max_cache_len, self.device = model, max_cache_len, device
        self.caches: dict = {}
        if device.startswith("cuda"):
            self.step = torch.compile(model.forward, mode="reduce-overhead", dynamic=False)
        else:
            self.step = torch.compile(model.forward, backend="eager", dynamic=False)

    def __call__(self, input_ids, num_output_tokens: int) -> None:
        import torch
        from transformers import StaticCache

        batch, p = input_ids.shape
        if batch not in self.caches:
            self.caches[batch] = StaticCache(config=self.model.config, max_cache_len=self.max_cache_len)
        cache = self.caches[batch]
        cache.reset()
        cache_kw = _cache_keyword(self.model)
        out = self.model(input_ids=input_ids, cache_position=torch.arange(p, device=self.device), use_cache=True, **{cache_kw: cache})
        token = out.logits[:, -1:].argmax(-1)
        for i in range(num_output_tokens - 1):
            position = torch.tensor([p + i], device=self.device)
            out = self.step(input_ids=token, cache_position=position, use_cache=True, **{cache_kw: cache})
            token = out.logits[:, -1:].argmax(-1)


def request_runner(model, stack: str, device: str, max_tokens: int) -> Callable:
    """run(input_ids, num_output_tokens) for the chosen stack."""
    if stack == "eager":
        return lambda input_ids, o: generate_with_cache(model, input_ids, o)
    if stack == "optimized":
        return StaticCacheRunner(model, max_tokens, device)
    raise ValueError(f"unknown stack {stack!r}; expected one of {STACKS}")


# NVML's total-energy counter (mJ) updates every few tens of ms: energy is read over enough
# back-to-back requests to span at least this long, and divided by their number.
ENERGY_MIN_SECONDS = 2.0


def nvml_energy_counter(device: str) -> Optional[Callable[[], float]]:
    """A function returning the GPU's total energy counter in joules, or None (CPU, no NVML)."""
    if not device.startswith("cuda"):
        return None
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    pynvml.nvmlInit()
    index = int(device.split(":")[1]) if ":" in device else 0
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0


def energy_per_request(counter: Callable[[], float], run: Callable[[], None], sync: Callable[[], None],
                       min_seconds: float = ENERGY_MIN_SECONDS) -> Tuple[float, int]:
    """(joules per request, requests measured): run back to back until `min_seconds` have
    passed, then the counter's difference over the count (the counter is too coarse for one)."""
    sync()
    start_j, started, n = counter(), time.perf_counter(), 0
    while n == 0 or time.perf_counter() - started < min_seconds:
        run()
        n += 1
    sync()
    return (counter() - start_j) / n, n


def time_point(run: Callable, vocab_size: int, p: int, o: int, batch_size: int, device: str, warmup: int, repeats: int,
               energy_counter: Optional[Callable[[], float]] = None) -> Tuple[Timing, Optional[float]]:
    """(timing, joules per request or None) of one (p, o, batch) point."""
    import torch

    generator = torch.Generator().manual_seed(p * 1000 + o)
    input_ids = torch.randint(0, vocab_size, (batch_size, p), generator=generator).to(device)
    timer = _timer(device)
    with torch.inference_mode():
        for _ in range(warmup):
            run(input_ids, o)
        samples = [timer(lambda: run(input_ids, o)) for _ in range(repeats)]
        energy = None
        if energy_counter is not None:
            sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
            energy, _ = energy_per_request(energy_counter, lambda: run(input_ids, o), sync)
    return Timing(*robust_mean_std(samples)), energy


def software_stack(device: str, dtype: str, stack: str = "eager") -> str:
    import torch
    import transformers

    threads = torch.get_num_threads()
    kind = ("static KV cache, compiled decode (" + ("CUDA graphs" if device.startswith("cuda") else "eager backend, smoke mode") + ")"
            if stack == "optimized" else "dynamic KV cache, eager")
    return (
        f"torch {torch.__version__} inference_mode sdpa, {kind}; transformers {transformers.__version__}; "
        f"{dtype}; {device}" + (f" threads={threads}" if device == "cpu" else "")
    )


def hardware_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return f"cpu:{platform.machine()}:{platform.processor() or 'unknown'}"


def profile_model(
    model,
    model_name: str,
    hardware: str,
    architecture: dict,
    prompts: Sequence[int] = DEFAULT_PROMPTS,
    outputs: Sequence[int] = DEFAULT_OUTPUTS,
    batch_sizes: Sequence[int] = (1,),
    device: str = "cpu",
    dtype: str = "fp32",
    warmup: int = 2,
    repeats: int = 5,
    max_seconds: Optional[float] = None,
    progress: bool = True,
    stack: str = "eager",
    measure_energy: bool = False,
) -> pd.DataFrame:
    """Profile a grid of (p, o, batch) points in informative order; returns a measurements table.
    stack: "eager" or "optimized" (StaticCacheRunner). measure_energy: on CUDA with NVML, add
    `energy_j` (joules per request, from the GPU's own counter) to every point."""
    from tqdm import tqdm

    vocab_size = int(architecture.get("vocab_size") or model.config.vocab_size)
    points = [(p, o, b) for b in batch_sizes for (p, o) in informative_order([(p, o) for p in prompts for o in outputs])]
    rows = []
    started = time.perf_counter()
    software = software_stack(device, dtype, stack)
    if stack == "optimized":
        warmup = max(warmup, 1)  # compilation happens in warm-up runs, never in timed ones
    run = request_runner(model, stack, device, max_tokens=max(prompts) + max(outputs))
    counter = nvml_energy_counter(device) if measure_energy else None
    if measure_energy and counter is None:
        print("energy not measured: needs a CUDA device and NVML (pip install nvidia-ml-py)")
    # The cheapest point, timed before and after the grid: a machine that got busier (or quieter)
    # in between shows up as a change there, which back-to-back repeats of one point cannot show.
    anchor = (min(prompts), min(outputs), min(batch_sizes))
    load_before = _load_average()
    anchor_before = time_point(run, vocab_size, *anchor, device, max(warmup, 1), repeats)[0].mean_s
    bar = tqdm(points, desc=f"profiling {model_name}", disable=not progress, unit="pt")
    slowest_point_s = 0.0
    for p, o, b in bar:
        elapsed = time.perf_counter() - started
        # Stop before a point that would overrun the budget (the slowest point so far as its guess).
        if rows and max_seconds is not None and elapsed + slowest_point_s > max_seconds:
            bar.write(f"time budget of {max_seconds:.0f}s: stopping after {len(rows)} points ({elapsed:.0f}s; the next could take {slowest_point_s:.0f}s)")
            break
        point_started = time.perf_counter()
        timing, energy = time_point(run, vocab_size, p, o, b, device, warmup, repeats, counter)
        slowest_point_s = max(slowest_point_s, time.perf_counter() - point_started)
        rows.append(
            {
                "model": model_name,
                "hardware": hardware,
                "num_prompt_tokens": p,
                "num_output_tokens": o,
                "runtime_s": timing.mean_s,
                "runtime_std_s": timing.std_s,
                "batch_size": b,
                "num_gpus": 1,
                "dtype": dtype,
                "software": software,
                **({"energy_j": energy} if counter is not None else {}),
                **architecture,
            }
        )
    anchor_after = time_point(run, vocab_size, *anchor, device, warmup, repeats)[0].mean_s
    table = pd.DataFrame(rows)
    table.attrs["warnings"] = load_warnings(anchor, anchor_before, anchor_after, load_before, _load_average(), os.cpu_count() or 1,
                                            own_threads=_own_threads(device))
    for warning in table.attrs["warnings"]:
        bar.write(f"warning: {warning}")
    return table


ANCHOR_TOLERANCE = 0.2  # relative change of the anchor point's time that counts as a changed machine


def _load_average() -> Optional[float]:
    """The 1-minute load average, where the OS gives one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _own_threads(device: str) -> int:
    """Runnable threads the profiler itself adds to the load average (torch's CPU threads)."""
    import torch

    return torch.get_num_threads() if device == "cpu" else 1


def load_warnings(anchor, before_s: float, after_s: float, load_before: Optional[float], load_during: Optional[float], cpus: int,
                  own_threads: int = 1) -> List[str]:
    """Why a profile may not be idealized: the anchor point's time changed between the start and
    the end of the grid, or other work loaded the machine: a 1-minute load average above half
    its CPUs before profiling, or above that plus the profiler's own threads during it."""
    warnings = []
    change = after_s / before_s - 1 if before_s > 0 else 0.0
    if abs(change) > ANCHOR_TOLERANCE:
        warnings.append(f"the anchor point (p={anchor[0]}, o={anchor[1]}, batch {anchor[2]}) took {before_s:.4g}s before the grid and "
                        f"{after_s:.4g}s after ({change:+.0%}): the machine's load changed while profiling; re-run on a quiet machine")
    other = [x for x, own in ((load_before, 0), (load_during, own_threads)) if x is not None and x - own > 0.5 * cpus]
    if other:
        warnings.append(f"load average {max(other):.1f} on {cpus} CPUs around profiling: other work shares this machine, so timings "
                        "include contention")
    return warnings
