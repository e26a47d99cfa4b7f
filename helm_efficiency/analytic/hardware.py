"""Reference hardware specs (shipped in hardware.json) and the energy/cost derived from runtime."""

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Dict, Optional


@dataclass(frozen=True)
class HardwareSpec:
    key: str
    name: str
    memory_bytes: Optional[float]  # device memory, bytes
    peak_flops: Optional[float]  # FLOP/s per device, dense fp16/bf16
    memory_bandwidth: Optional[float]  # bytes/s per device
    interconnect_bandwidth: Optional[float]  # bytes/s per device, one direction
    power_w: Optional[float]  # watts per device, assumed draw while busy
    usd_per_gpu_hour: Optional[float]
    source: str


@lru_cache(maxsize=1)
def load_hardware() -> Dict[str, HardwareSpec]:
    text = resources.files("helm_efficiency.analytic").joinpath("hardware.json").read_text()
    raw = json.loads(text)
    return {key: HardwareSpec(key=key, **value) for key, value in raw.items() if not key.startswith("_")}


def hardware_spec(key: str) -> Optional[HardwareSpec]:
    """Specs for a GPU key (`h100`) or a reference stack named after its GPU (`h100-trtllm`)."""
    specs = load_hardware()
    key = key.lower()
    return specs.get(key) or specs.get(key.split("-")[0])


def idealized_energy_j(runtime_s: float, num_gpus: Optional[int], power_w: Optional[float]) -> Optional[float]:
    """Energy = runtime (s) × devices × power per device (W). None when either is unknown."""
    if num_gpus is None or power_w is None:
        return None
    return runtime_s * num_gpus * power_w


def idealized_cost_usd(runtime_s: float, num_gpus: Optional[int], usd_per_gpu_hour: Optional[float]) -> Optional[float]:
    """Cost = runtime (h) × devices × price per device-hour. None when either is unknown."""
    if num_gpus is None or usd_per_gpu_hour is None:
        return None
    return runtime_s / 3600.0 * num_gpus * usd_per_gpu_hour
