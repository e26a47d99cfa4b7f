"""The latency target of the served numbers: time per output token and time to first token.
Light on purpose (argument parsing imports it): no pandas, no tables."""

import math
import numbers
import re
from dataclasses import dataclass
from typing import Dict, Optional

from helm_efficiency.errors import EfficiencyInputError


@dataclass(frozen=True)
class Sla:
    """A latency target: time per output token (ms) and time to first token (s), both upper limits.
    The first-token limit applies at the request's own prompt length. `max_batch`, when set, also
    caps the running batch of one replica (requests in flight: a deployment's `max_num_seqs`, or
    the client concurrency of a benchmark sweep), so a measured operating point is priced like
    for like; None (the default) lets the latency alone decide the batch."""

    tpot_ms: float = 50.0
    ttft_s: float = 2.0
    max_batch: Optional[int] = None

    def __post_init__(self) -> None:
        for name in ("tpot_ms", "ttft_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not value > 0:
                raise EfficiencyInputError("sla", name.split("_")[0], f"must be a positive number, got {value!r}")
        batch = self.max_batch
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1):
            raise EfficiencyInputError("sla", "batch", f"must be a whole number of requests >= 1, got {batch!r}")

    def __str__(self) -> str:
        text = f"tpot={self.tpot_ms:g}ms,ttft={self.ttft_s:g}s"
        return text if self.max_batch is None else f"{text},batch={self.max_batch}"


DEFAULT_SLA = Sla()
_UNITS = {"tpot": {"ms": 1.0, "s": 1000.0, "us": 1e-3}, "ttft": {"s": 1.0, "ms": 1e-3}}
_KEYS = ("tpot", "ttft", "batch")


def parse_sla(text: str) -> Sla:
    """`"tpot=50ms,ttft=2s"` → Sla(50, 2.0); `"tpot=50ms,batch=64"` also caps the running batch at
    64 requests. Any key may be left out (its default stays); times need units (tpot: ms, s or
    us; ttft: s or ms), the batch is a whole number. Errors name the field at fault."""
    if not isinstance(text, str) or not text.strip():
        raise EfficiencyInputError("--sla", "sla", f"empty latency target {text!r}; expected e.g. 'tpot=50ms,ttft=2s'")
    values: Dict[str, float] = {}
    batch: Optional[int] = None
    for item in text.split(","):
        if not item.strip():
            raise EfficiencyInputError("--sla", "sla", f"empty item in {text!r}; expected e.g. 'tpot=50ms,ttft=2s'")
        if "=" not in item:
            raise EfficiencyInputError("--sla", "sla", f"malformed item {item.strip()!r} in {text!r}: expected key=value with a unit, e.g. 'tpot=50ms'")
        key, _, raw = item.partition("=")
        key = key.strip().lower()
        if key not in _KEYS:
            raise EfficiencyInputError("--sla", key or "sla", f"unknown key {key!r} in {text!r}; known: {', '.join(_KEYS)}")
        if key in values:
            raise EfficiencyInputError("--sla", key, f"given twice in {text!r}")
        if key == "batch":
            if not re.fullmatch(r"\s*[0-9]+\s*", raw) or int(raw) < 1:
                raise EfficiencyInputError("--sla", key, f"must be a whole number of requests >= 1, e.g. 'batch=64', got {raw.strip()!r}")
            if batch is not None:
                raise EfficiencyInputError("--sla", key, f"given twice in {text!r}")
            batch = int(raw)
            continue
        match = re.fullmatch(r"\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", raw)
        if match is None:
            raise EfficiencyInputError("--sla", key, f"malformed value {raw.strip()!r}: expected a number and a unit, e.g. '{'50ms' if key == 'tpot' else '2s'}'")
        number, unit = float(match.group(1)), match.group(2).lower()
        if not unit:
            raise EfficiencyInputError("--sla", key, f"missing unit in {raw.strip()!r}; use one of {', '.join(_UNITS[key])}")
        if unit not in _UNITS[key]:
            raise EfficiencyInputError("--sla", key, f"unknown unit {unit!r} in {raw.strip()!r}; use one of {', '.join(_UNITS[key])}")
        if not number > 0 or math.isinf(number):
            raise EfficiencyInputError("--sla", key, f"must be a positive, finite time, got {raw.strip()!r}")
        values[key] = number * _UNITS[key][unit]
    return Sla(tpot_ms=values.get("tpot", DEFAULT_SLA.tpot_ms), ttft_s=values.get("ttft", DEFAULT_SLA.ttft_s), max_batch=batch)
