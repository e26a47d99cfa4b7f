"""Roofline time of a request on given hardware: each phase takes the longer of its compute
time (FLOPs / peak FLOP/s) and memory time (bytes / bandwidth), plus tensor-parallel
all-reduce time (bytes / interconnect bandwidth). Work is split evenly over `tensor_parallel`
GPUs. Seconds, batch size 1; the ideal no real stack reaches.
"""

from typing import Dict

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.hardware import HardwareSpec


def _tp(arch: Dict[str, int]) -> int:
    return int(arch.get("tensor_parallel") or 1)


def prefill_time_s(arch: Dict[str, int], hw: HardwareSpec, num_prompt_tokens: int, bytes_per_value: int = 2) -> float:
    t = _tp(arch)
    compute = F.prefill_flops(arch, num_prompt_tokens) / (t * hw.required("peak_flops"))
    memory = F.prefill_bytes(arch, num_prompt_tokens, bytes_per_value) / (t * hw.required("memory_bandwidth"))
    comm = F.allreduce_bytes_per_gpu(arch, num_prompt_tokens, bytes_per_value) / hw.required("interconnect_bandwidth")
    return max(compute, memory) + comm


def decode_time_s(arch: Dict[str, int], hw: HardwareSpec, context_tokens: int, bytes_per_value: int = 2) -> float:
    t = _tp(arch)
    compute = F.decode_flops(arch, context_tokens) / (t * hw.required("peak_flops"))
    memory = F.decode_bytes(arch, context_tokens, bytes_per_value) / (t * hw.required("memory_bandwidth"))
    comm = F.allreduce_bytes_per_gpu(arch, 1, bytes_per_value) / hw.required("interconnect_bandwidth")
    return max(compute, memory) + comm


def request_time_s(arch: Dict[str, int], hw: HardwareSpec, num_prompt_tokens: int, num_output_tokens: int, bytes_per_value: int = 2) -> float:
    """Prefill of p tokens, then o−1 decode steps at contexts p+1 … p+o−1."""
    total = prefill_time_s(arch, hw, num_prompt_tokens, bytes_per_value)
    for i in range(1, max(int(num_output_tokens), 1)):
        total += decode_time_s(arch, hw, num_prompt_tokens + i, bytes_per_value)
    return total
