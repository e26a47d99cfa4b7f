"""One correction on every path: a stack's batch-1 correction applied to any entry's prediction.

An anchored table (builders/anchored.py) stores its calibrated entries already corrected, with the
simulator's own points kept in each entry's provenance. Transfer and size-only estimates on
that stack learn from the simulator's points (`simulated_entries`) and are corrected here, phase
by phase, with the same correction and the same interval rule as the calibrated entries:

    first token      = prefill.apply(T(p, 1))
    decode per token = decode.apply((T(p, o) − T(p, 1)) / (o − 1))
    corrected(p, o)  = first token + (o − 1) · decode per token

So no estimate on a corrected stack falls below the stack's per-request floor (prefill step +
(o − 1) × decode step), whichever path priced it. The interval (`combine_intervals`): the
entry's own log half-widths and the correction's interval for a new source, mixed by the
request's prefill share, added in quadrature (independent errors).
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.sources.correction import PhaseCorrection


def table_correction(table: object) -> Optional[Dict[str, PhaseCorrection]]:
    """{phase: PhaseCorrection} of an anchored table (its `anchor.correction` block), else None."""
    block = (getattr(table, "anchor", None) or {}).get("correction")
    if not block or "interval_log" not in next(iter(block.values()), {}):
        return None
    from helm_efficiency.sources.anchor import phases_from_json

    return phases_from_json({"stack": block})["stack"]


def simulated_entries(entries: Sequence[Any]) -> List[Any]:
    """The entries with their simulator points restored (anchored entries), others unchanged."""
    out = []
    for entry in entries:
        simulated = (getattr(entry, "provenance", None) or {}).get("simulated_runtime_s")
        if simulated is not None and getattr(entry, "measured_spread", None):
            measurements = entry.measurements.copy()
            measurements["runtime_s"] = np.asarray(simulated, float)
            entry = dataclasses.replace(entry, measurements=measurements, measured_spread=None)
        out.append(entry)
    return out


def combine_intervals(runtime: np.ndarray, share: np.ndarray, own_lo: np.ndarray, own_hi: np.ndarray,
                      spread: Mapping[str, Sequence[float]]) -> Tuple[np.ndarray, np.ndarray]:
    """(lo, hi): the correction's log interval per phase (mixed by the prefill `share`) and the
    entry's own log half-widths (from `own_lo`, `own_hi`; NaN = none) in quadrature."""
    (pre_lo, pre_hi), (dec_lo, dec_hi) = spread["prefill"], spread["decode"]
    lo_s = share * pre_lo + (1 - share) * dec_lo
    hi_s = share * pre_hi + (1 - share) * dec_hi
    center, half = (lo_s + hi_s) / 2, (hi_s - lo_s) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        w_lo = np.nan_to_num(np.log(runtime / own_lo), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0)
        w_hi = np.nan_to_num(np.log(own_hi / runtime), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0)
    return runtime * np.exp(center - np.hypot(half, w_lo)), runtime * np.exp(center + np.hypot(half, w_hi))


class CorrectedEntry:
    """An entry (transfer or size-only) on a corrected stack, predicting what the stack's
    correction says real serving measures. Same interface as the entry it wraps."""

    def __init__(self, inner: Any, phases: Dict[str, PhaseCorrection], gpu: str) -> None:
        self.inner, self.phases, self.gpu = inner, phases, gpu
        self.method = inner.method
        self.model = inner.model
        self.hardware = inner.hardware
        self.num_gpus = inner.num_gpus
        self.architecture = inner.architecture
        self.layers = float((inner.architecture or {}).get("num_layers") or 0.0)

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        p = np.asarray(num_prompt_tokens, float).reshape(-1)
        o = np.maximum(np.asarray(num_output_tokens, float).reshape(-1), 1.0)
        first = self.inner.predict(p, np.ones_like(o))
        total = self.inner.predict(p, o)
        ttft = first["runtime_s"].to_numpy(float)
        runtime = total["runtime_s"].to_numpy(float)
        per_token = np.where(o > 1, np.maximum(runtime - ttft, 0.0) / np.maximum(o - 1, 1.0), 0.0)
        tp = np.full_like(p, float(self.num_gpus or 1))
        layers = np.full_like(p, self.layers)
        prefill = self.phases["prefill"].apply(ttft, layers, tp, self.gpu)
        decode = np.where(o > 1, (o - 1) * self.phases["decode"].apply(per_token, layers, tp, self.gpu), 0.0)
        corrected = prefill + decode
        share = np.clip(prefill / corrected, 0.0, 1.0)
        own_lo = total["runtime_lo_s"].to_numpy(float) / np.where(runtime > 0, runtime, np.nan) * corrected
        own_hi = total["runtime_hi_s"].to_numpy(float) / np.where(runtime > 0, runtime, np.nan) * corrected
        lo, hi = combine_intervals(corrected, share, own_lo, own_hi, {k: c.interval for k, c in self.phases.items()})
        out = total.copy()
        out["runtime_s"], out["runtime_lo_s"], out["runtime_hi_s"] = corrected, lo, hi
        return out
