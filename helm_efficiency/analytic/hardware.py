"""Reference hardware specs and energy/price assumptions (shipped in hardware.json)."""

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.util.data_paths import HARDWARE_JSON


@dataclass(frozen=True)
class HardwareSpec:
    key: str
    name: str
    memory_bytes: Optional[float]  # device memory, bytes
    peak_flops: Optional[float]  # FLOP/s per device, dense fp16/bf16
    memory_bandwidth: Optional[float]  # bytes/s per device
    interconnect_bandwidth: Optional[float]  # bytes/s per device, one direction
    power_w: Optional[float]  # watts per device: board power limit (TDP)
    usd_per_gpu_hour: Optional[float]
    source: str
    power_prefill_w: Optional[float] = None  # watts per device while processing the prompt at batch 1
    power_decode_w: Optional[float] = None  # watts per device while decoding at batch 1
    power_source: Optional[str] = None
    # 90%-style ranges of the per-phase powers (the measured spread, or a stated assumption band)
    power_prefill_lo_w: Optional[float] = None
    power_prefill_hi_w: Optional[float] = None
    power_decode_lo_w: Optional[float] = None
    power_decode_hi_w: Optional[float] = None

    def required(self, field: str) -> float:
        """A spec the roofline needs (peak_flops, memory_bandwidth, interconnect_bandwidth), or an
        EfficiencyInputError naming hardware.json and the field where it is not stated."""
        value = getattr(self, field)
        if value is None:
            raise EfficiencyInputError("hardware.json", f"{self.key}.{field}", "not stated; the roofline needs it")
        return float(value)


@lru_cache(maxsize=1)
def load_hardware() -> Dict[str, HardwareSpec]:
    with open(HARDWARE_JSON, encoding="utf-8") as f:
        raw = json.load(f)
    return {key: HardwareSpec(key=key, **value) for key, value in raw.items() if not key.startswith("_")}


def hardware_spec(key: str) -> Optional[HardwareSpec]:
    """Specs for a GPU key (`h100`) or a reference stack named after its GPU (`h100-trtllm`)."""
    specs = load_hardware()
    key = key.lower()
    return specs.get(key) or specs.get(key.split("-")[0])


def require_hardware_spec(key: str) -> HardwareSpec:
    """hardware_spec, or an EfficiencyInputError naming the key where hardware.json lacks it."""
    spec = hardware_spec(key)
    if spec is None:
        raise EfficiencyInputError("hardware.json", str(key), "unknown hardware")
    return spec
