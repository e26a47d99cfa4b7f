"""Transfer estimator: a new architecture's runtime surface on a reference stack, learned from
the other models profiled on that stack.

Runtime is regressed (statsmodels WLS, weights 1/runtime² so errors are relative) on
roofline-derived features of each (architecture, p, o):

  decode_memory_s     (o−1) × weight bytes / (t · bandwidth)        memory-bound decode
  decode_layer_steps  (o−1) × L                                     per-layer, per-step overhead
  decode_tp_steps     (o−1) × L × [t > 1]                           all-reduce latency per step
  prefill_compute_s   prefill FLOPs / (t · peak)                    compute-bound prefill
  prefill_memory_s    weight bytes / (t · bandwidth)                first forward pass reads weights
  prefill_layers      L                                             per-layer prefill overhead

The learned coefficients are the stack's efficiency factors and overheads. Prediction
intervals are statsmodels' observation intervals, with the residual variance taken from
leave-one-model-out errors when those are larger, so they are wider than a calibrated entry's.
"""

from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.hardware import HardwareSpec, hardware_spec
from helm_efficiency.costmodel.estimator import prediction_frame
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.measurements import architecture_of

FEATURES = ("decode_memory_s", "decode_layer_steps", "decode_tp_steps", "prefill_compute_s", "prefill_memory_s", "prefill_layers")
REQUIRED_ARCH = ("num_layers", "hidden_size", "num_attention_heads", "intermediate_size")


def complete_architecture(rows: pd.DataFrame) -> Optional[Dict[str, int]]:
    """The rows' architecture columns if they include every dimension transfer needs, else None."""
    arch = architecture_of(rows)
    return arch if arch and all(k in arch for k in REQUIRED_ARCH) else None


def features(arch: Dict[str, int], hw: HardwareSpec, p: np.ndarray, o: np.ndarray, bytes_per_value: int = 2) -> np.ndarray:
    p = np.asarray(p, float)
    o = np.asarray(o, float)
    t = float(arch.get("tensor_parallel") or 1)
    layers = float(arch["num_layers"])
    steps = np.maximum(o - 1, 0)
    weights_s = F.weight_bytes(arch, bytes_per_value) / (t * hw.memory_bandwidth)
    prefill_compute = np.array([F.prefill_flops(arch, int(x)) for x in p]) / (t * hw.peak_flops)
    return np.column_stack(
        [
            steps * weights_s,
            steps * layers,
            steps * layers * (t > 1),
            prefill_compute,
            np.full_like(p, weights_s),
            np.full_like(p, layers),
        ]
    )


class TransferModel:
    """Fit on a measurements table of several models on one hardware; predict any architecture."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def fit(self, measurements: pd.DataFrame, source: str = "measurements") -> "TransferModel":
        hardware = measurements["hardware"].unique()
        if len(hardware) != 1:
            raise EfficiencyInputError(source, "hardware", f"transfer fits one stack at a time, got {sorted(hardware)}")
        self.hardware_ = str(hardware[0])
        self.hw_ = hardware_spec(self.hardware_)
        if self.hw_ is None or self.hw_.peak_flops is None:
            raise EfficiencyInputError(source, "hardware", f"no roofline specs for {self.hardware_!r}")
        blocks, targets, archs = [], [], []
        self.models_ = []
        for model, rows in measurements.groupby("model", sort=True):
            arch = complete_architecture(rows)
            if arch is None:
                continue
            rows = rows[rows["batch_size"].fillna(1) == 1] if "batch_size" in rows else rows
            blocks.append(features(arch, self.hw_, rows["num_prompt_tokens"], rows["num_output_tokens"]))
            targets.append(rows["runtime_s"].to_numpy(float))
            archs.append(arch)
            self.models_.append(str(model))
        if len(self.models_) < 2:
            raise EfficiencyInputError(source, "architecture columns", "transfer needs at least two profiled models with architectures")
        x, y = np.vstack(blocks), np.concatenate(targets)
        # Honest intervals: leave-one-model-out relative errors measure how far a *new*
        # architecture lands from the fit; when that variance exceeds the in-sample residual
        # variance, prediction weights are deflated by the ratio (as in the cost model).
        held_out_errors = []
        if len(blocks) >= 3:
            for i in range(len(blocks)):
                rest_x = np.vstack([b for j, b in enumerate(blocks) if j != i])
                rest_y = np.concatenate([t for j, t in enumerate(targets) if j != i])
                params = sm.WLS(rest_y, rest_x, weights=1.0 / rest_y**2).fit().params
                held_out_errors.append(blocks[i] @ params / targets[i] - 1)
        sizes = [F.parameter_count(a) for a in archs]
        tps = [int(a.get("tensor_parallel") or 1) for a in archs]
        self.params_range_, self.tp_range_ = (min(sizes), max(sizes)), (min(tps), max(tps))
        self.result_ = sm.WLS(y, x, weights=1.0 / y**2).fit()
        cv_scale = float(np.mean(np.concatenate(held_out_errors) ** 2)) if held_out_errors else 0.0
        self.noise_inflation_ = max(1.0, cv_scale / self.result_.scale) if self.result_.scale > 0 else 1.0
        return self

    def predict(self, arch: Dict[str, int], num_prompt_tokens, num_output_tokens) -> pd.DataFrame:
        """Runtime (s) with a 90% interval. `extrapolated` marks architectures outside the
        training models' parameter-count or tensor-parallel range."""
        missing = [k for k in REQUIRED_ARCH if k not in arch]
        if missing:
            raise EfficiencyInputError("architecture", missing[0], "missing; transfer needs the model's dimensions")
        p = np.asarray(num_prompt_tokens, float)
        o = np.maximum(np.asarray(num_output_tokens, float), 1.0)
        x = features(arch, self.hw_, p, o)
        mean = x @ self.result_.params
        # Errors are relative (weights 1/y²): the interval of a point with runtime y has scale y.
        frame = prediction_frame(self.result_, x, 1.0 / np.maximum(mean, 1e-12) ** 2 / self.noise_inflation_, self.alpha)
        return pd.DataFrame(
            {
                "runtime_s": mean,
                "runtime_lo_s": np.maximum(frame["obs_ci_lower"].to_numpy(), 0.0),
                "runtime_hi_s": frame["obs_ci_upper"].to_numpy(),
                "extrapolated": np.full(len(p), self._outside_training(arch)),
            }
        )

    def _outside_training(self, arch: Dict[str, int]) -> bool:
        n, t = F.parameter_count(arch), int(arch.get("tensor_parallel") or 1)
        return not (self.params_range_[0] <= n <= self.params_range_[1] and self.tp_range_[0] <= t <= self.tp_range_[1])

    def coefficients(self) -> Dict[str, float]:
        return dict(zip(FEATURES, map(float, self.result_.params)))


def tensor_parallel_for(arch: Dict[str, int], hw: HardwareSpec, bytes_per_value: int = 2, headroom: float = 0.8) -> int:
    """Smallest power-of-two GPU count whose memory holds all weights within `headroom`."""
    stored = F.parameter_count(arch, active_only=False) * bytes_per_value
    t = 1
    while hw.memory_bytes and stored > headroom * t * hw.memory_bytes and t < 64:
        t *= 2
    return t


def transfer_from_entries(entries: Sequence, hardware: str) -> Optional["TransferModel"]:
    """A TransferModel fitted on the calibrated entries of one hardware, or None if too few
    entries carry architectures or the hardware has no roofline specs."""
    frames = []
    for entry in entries:
        if getattr(entry, "hardware", None) != hardware or not getattr(entry, "architecture", None):
            continue
        rows = entry.measurements.assign(model=entry.model, hardware=hardware, **entry.architecture)
        frames.append(rows)
    spec = hardware_spec(hardware)
    if len(frames) < 2 or spec is None or spec.peak_flops is None:
        return None
    return TransferModel().fit(pd.concat(frames, ignore_index=True), source=f"{hardware} reference entries")
