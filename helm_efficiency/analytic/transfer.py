"""Transfer estimator: a new architecture's runtime surface on a reference stack, learned from
the models profiled on that software stack (on any hardware with roofline specs).

Two layers, both fitted on calibrated cost-table entries:

1. A regression shared by all hardware of the stack on roofline-derived features of each
   (architecture, hardware, p, o): least squares with weights 1/runtime², so errors are
   relative, and no negative coefficient, since every feature is a cost (scipy's NNLS). t = tensor-parallel
   degree, L = layers:

     decode_memory_s     (o−1) × weight bytes / (t · bandwidth)      memory-bound decode
     decode_kv_memory_s  Σ_{i=1}^{o−1} KV-cache bytes(p+i) / (t · bandwidth)  attention reads the cache
     decode_layer_steps  (o−1) × L                                   per-layer kernel overhead
     decode_tp_steps     (o−1) × L × log2 t                          all-reduce latency per step
     prefill_compute_s   prefill FLOPs / (t · peak)                  compute-bound prefill
     prefill_memory_s    weight bytes / (t · bandwidth)              first pass reads weights
     prefill_layers      L                                           per-layer prefill overhead
     prefill_tp_layers   L × log2 t                                  prefill all-reduce latency

   The coefficients are the stack's efficiency factors and overheads; hardware enters only
   through its specs, so hardware with few profiled models borrows strength from the rest.

2. A residual correction from profiled neighbours on the target hardware (simple kriging):
   each neighbour's log(calibrated runtime / regression) surface is weighted by a Gaussian
   kernel over (ln active parameters, ln layers, log2 t). A near twin of a profiled model
   inherits that model's deviation from the regression; a far-away architecture reverts to
   the regression alone.

Prediction intervals are log-normal: the prior variance is the regression's mean squared
log error on leave-one-model-out refits (how far a *new* architecture lands), scaled by the
kriging posterior variance, with a Student t quantile for the few models it comes from, so they shrink only near profiled neighbours and are wider than a
calibrated entry's elsewhere.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.hardware import HardwareSpec, hardware_spec, require_hardware_spec
from helm_efficiency.errors import EfficiencyInputError, check_fitted
from helm_efficiency.costmodel.measurements import architecture_of

FEATURES = (
    "decode_memory_s",
    "decode_kv_memory_s",
    "decode_layer_steps",
    "decode_tp_steps",
    "prefill_compute_s",
    "prefill_memory_s",
    "prefill_layers",
    "prefill_tp_layers",
)
REQUIRED_ARCH = ("num_layers", "hidden_size", "num_attention_heads", "intermediate_size")
LENGTH_SCALE = 1.0  # kernel length scale, in units of (ln params, ln layers, log2 t)
NUGGET = 0.05  # share of a model's residual that no neighbour predicts


def complete_architecture(rows: pd.DataFrame) -> Optional[Dict[str, int]]:
    """The rows' architecture columns if they include every dimension transfer needs, else None."""
    arch = architecture_of(rows)
    return arch if _complete(arch) else None


def _complete(arch: Optional[Dict[str, int]]) -> bool:
    return arch is not None and bool(arch) and all(k in arch for k in REQUIRED_ARCH)


def has_roofline_specs(hardware: Optional[str]) -> bool:
    spec = hardware_spec(hardware) if hardware else None
    return spec is not None and spec.peak_flops is not None and spec.memory_bandwidth is not None


def features(arch: Dict[str, int], hw: HardwareSpec, p: ArrayLike, o: ArrayLike, bytes_per_value: int = 2) -> np.ndarray:
    """The FEATURES columns for requests (p prompt tokens, o output tokens) of `arch` on `hw`."""
    p = np.asarray(p, float)
    o = cast(np.ndarray, np.maximum(np.asarray(o, float), 1.0))
    t = float(arch.get("tensor_parallel") or 1)
    layers = float(arch["num_layers"])
    steps = o - 1
    bandwidth = hw.required("memory_bandwidth")
    weights_s = F.weight_bytes(arch, bytes_per_value) / (t * bandwidth)
    # KV-cache bytes are linear in context: the decode steps read Σ_{i=1}^{o−1} (p + i) tokens' worth.
    kv_per_token_s = F.kv_cache_bytes(arch, 1, bytes_per_value) / (t * bandwidth)
    context_sum = steps * p + steps * (steps + 1) / 2
    prefill_compute = np.array([F.prefill_flops(arch, int(x)) for x in p]) / (t * hw.required("peak_flops"))
    ones = np.ones_like(p)
    return np.column_stack(
        [
            steps * weights_s,
            context_sum * kv_per_token_s,
            steps * layers,
            steps * layers * np.log2(t),
            prefill_compute,
            ones * weights_s,
            ones * layers,
            ones * layers * np.log2(t),
        ]
    )


def similarity_coordinates(arch: Dict[str, int]) -> np.ndarray:
    """Where an architecture sits for the neighbour kernel: ln active params, ln layers, log2 t."""
    return np.array([np.log(F.parameter_count(arch)), np.log(arch["num_layers"]), np.log2(arch.get("tensor_parallel") or 1)])


def _wls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative-error least squares (weights 1/y², as WLS) with no negative coefficient, since every
    feature is a cost: scipy's NNLS on the rows scaled by 1/y."""
    from scipy.optimize import nnls  # scipy on use: it costs a second of start-up

    return cast(np.ndarray, nnls(x / y[:, None], np.ones_like(y))[0])


class TransferModel:
    """Fit on calibrated entries of one software stack; predict any architecture on `hardware`.

    Entries need: model, hardware, architecture (REQUIRED_ARCH), measurements (p, o,
    runtime_s, batch_size) and predict(p, o) (the calibrated surface).
    """

    def __init__(self, hardware: str, alpha: float = 0.1, length_scale: float = LENGTH_SCALE, nugget: float = NUGGET) -> None:
        self.hardware_ = hardware
        self.alpha = alpha
        self.length_scale = length_scale
        self.nugget = nugget

    def fit(self, entries: Sequence[Any], source: str = "reference entries") -> "TransferModel":
        if not has_roofline_specs(self.hardware_):
            raise EfficiencyInputError(source, "hardware", f"no roofline specs for {self.hardware_!r}")
        self.hw_ = require_hardware_spec(self.hardware_)
        usable = [e for e in entries if _complete(e.architecture) and has_roofline_specs(e.hardware)]
        self.models_ = sorted({e.model for e in usable})
        self.neighbours_ = [e for e in usable if e.hardware == self.hardware_]
        if len(self.models_) < 2 or not self.neighbours_:
            raise EfficiencyInputError(
                source, "architecture", f"transfer to {self.hardware_} needs two profiled architectures, one of them on {self.hardware_}"
            )
        blocks = {}
        for e in usable:
            rows = e.measurements[e.measurements["batch_size"].fillna(1) == 1]
            x = features(e.architecture, require_hardware_spec(e.hardware), rows["num_prompt_tokens"], rows["num_output_tokens"])
            blocks[(e.model, e.hardware)] = (x, rows["runtime_s"].to_numpy(float))
        x_all = np.vstack([b[0] for b in blocks.values()])
        y_all = np.concatenate([b[1] for b in blocks.values()])
        self.params_ = _wls(x_all, y_all)
        self.prior_variance_ = self._held_out_log_variance(blocks)
        coords = np.array([similarity_coordinates(e.architecture) for e in self.neighbours_])
        self._coords = coords
        self._gram = self._kernel(coords[:, None, :], coords[None, :, :]) + self.nugget * np.eye(len(coords))
        archs = [e.architecture for e in usable]
        sizes = [F.parameter_count(a) for a in archs]
        tps = [int(a.get("tensor_parallel") or 1) for a in archs]
        self.params_range_, self.tp_range_ = (min(sizes), max(sizes)), (min(tps), max(tps))
        measured = pd.concat([e.measurements for e in usable])
        self.num_prompt_tokens_range_ = (float(measured["num_prompt_tokens"].min()), float(measured["num_prompt_tokens"].max()))
        self.num_output_tokens_range_ = (float(measured["num_output_tokens"].min()), float(measured["num_output_tokens"].max()))
        return self

    def _held_out_log_variance(self, blocks: Dict[Tuple[str, str], Tuple[np.ndarray, np.ndarray]]) -> float:
        """Mean squared log error of the regression on each model when refitted without it
        (on every hardware): the spread of a new architecture around the regression."""
        errors = []
        for model in self.models_:
            kept = [v for k, v in blocks.items() if k[0] != model]
            if not kept:
                continue
            params = _wls(np.vstack([v[0] for v in kept]), np.concatenate([v[1] for v in kept]))
            for (m, _), (x, y) in blocks.items():
                if m == model:
                    errors.append(np.log(np.maximum(x @ params, 1e-9) / y))
        return float(np.mean(np.concatenate(errors) ** 2))

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, np.exp(-np.sum((a - b) ** 2, axis=-1) / (2 * self.length_scale**2)))

    def regression(self, arch: Dict[str, int], hardware: str, p: ArrayLike, o: ArrayLike) -> np.ndarray:
        """The shared regression's runtime (s), before the neighbour correction."""
        return cast(np.ndarray, np.maximum(features(arch, require_hardware_spec(hardware), p, o) @ self.params_, 1e-9))

    def predict(self, arch: Dict[str, int], num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike) -> pd.DataFrame:
        """Runtime (s) with a 90% interval. `extrapolated` marks architectures outside the
        training models' parameter-count or tensor-parallel range."""
        check_fitted(self, "params_")
        missing = [k for k in REQUIRED_ARCH if k not in arch]
        if missing:
            raise EfficiencyInputError("architecture", missing[0], "missing; transfer needs the model's dimensions")
        p = np.asarray(num_prompt_tokens, float)
        o = np.maximum(np.asarray(num_output_tokens, float), 1.0)
        similarity, weights = self._neighbour_weights(arch)
        # A neighbour whose calibrated surface gives no positive runtime here corrects nothing.
        with np.errstate(invalid="ignore", divide="ignore"):
            residuals = np.log(self.neighbour_deviations(p, o))
        log_mean = np.log(self.regression(arch, self.hardware_, p, o)) + weights @ np.where(np.isfinite(residuals), residuals, 0.0)
        posterior = 1.0 + self.nugget - weights @ similarity
        # The prior variance is estimated from len(models_) held-out models: Student t quantile.
        from scipy.stats import t as student_t

        half_width = student_t.ppf(1 - self.alpha / 2, df=max(len(self.models_) - 1, 1)) * np.sqrt(self.prior_variance_ * posterior)
        # Beyond the profiled (p, o) range nothing was measured: each doubling past it adds one
        # more interval width (a stated rule, not an estimate), and the row is flagged.
        doublings = self._doublings_outside(p, o)
        half_width = half_width * (1 + doublings)
        return pd.DataFrame(
            {
                "runtime_s": np.exp(log_mean),
                "runtime_lo_s": np.exp(log_mean - half_width),
                "runtime_hi_s": np.exp(log_mean + half_width),
                "extrapolated": self._outside_training(arch) | (doublings > 0),
            }
        )

    def _doublings_outside(self, p: np.ndarray, o: np.ndarray) -> np.ndarray:
        """How many doublings (log2) each (p, o) lies outside the profiled ranges, summed; 0 inside."""
        out = np.zeros(len(p))
        for values, (lo, hi) in ((p, self.num_prompt_tokens_range_), (o, self.num_output_tokens_range_)):
            values = np.maximum(values, 1.0)
            out += np.log2(np.maximum(values / hi, 1.0)) + np.log2(np.maximum(max(lo, 1.0) / values, 1.0))
        return out

    def _neighbour_weights(self, arch: Dict[str, int]) -> Tuple[np.ndarray, np.ndarray]:
        """Kernel similarity of `arch` to each neighbour, and the kriging weights it implies."""
        similarity = self._kernel(self._coords, similarity_coordinates(arch))
        return similarity, np.linalg.solve(self._gram, similarity)

    def neighbour_weights(self, arch: Dict[str, int]) -> Dict[str, float]:
        """How much each profiled neighbour's deviation carries over to `arch` (explains a prediction)."""
        return {e.model: float(w) for e, w in zip(self.neighbours_, self._neighbour_weights(arch)[1])}

    def neighbour_deviations(self, p: ArrayLike, o: ArrayLike) -> np.ndarray:
        """Each neighbour's calibrated runtime ÷ the regression's, at (p, o): rows = neighbours.
        Not positive where a calibrated surface gives no positive runtime."""
        return np.array([e.predict(p, o)["runtime_s"].to_numpy() / self.regression(e.architecture, e.hardware, p, o) for e in self.neighbours_])

    def explain(self, arch: Dict[str, int], num_prompt_tokens: int, num_output_tokens: int) -> Dict[str, Any]:
        """One request's transfer estimate taken apart (seconds): the pure roofline, each
        regression term (coefficient × feature), and each neighbour's weight and deviation
        (its calibrated runtime ÷ the regression's, at the same p and o)."""
        from helm_efficiency.analytic.roofline import request_time_s

        p, o = [float(num_prompt_tokens)], [float(max(num_output_tokens, 1))]
        x = features(arch, self.hw_, p, o)[0]
        weights = self.neighbour_weights(arch)
        prediction = self.predict(arch, p, o).iloc[0]
        return {
            "hardware": self.hardware_,
            "architecture": dict(arch),
            "roofline_s": request_time_s(arch, self.hw_, int(p[0]), int(o[0])),
            "terms_s": {name: float(c * v) for name, c, v in zip(FEATURES, self.params_, x)},
            "regression_s": float(self.regression(arch, self.hardware_, p, o)[0]),
            "neighbours": [
                {"model": e.model, "weight": weights[e.model], "deviation": float(deviation[0])}
                for e, deviation in zip(self.neighbours_, self.neighbour_deviations(p, o))
            ],
            "runtime_s": float(prediction["runtime_s"]),
            "interval_s": [float(prediction["runtime_lo_s"]), float(prediction["runtime_hi_s"])],
            "extrapolated": bool(prediction["extrapolated"]),
            "trained_on": list(self.models_),
        }

    def _outside_training(self, arch: Dict[str, int]) -> bool:
        n, t = F.parameter_count(arch), int(arch.get("tensor_parallel") or 1)
        return not (self.params_range_[0] <= n <= self.params_range_[1] and self.tp_range_[0] <= t <= self.tp_range_[1])


def gpus_to_hold(stored_bytes: float, hw: HardwareSpec, headroom: float = 0.8) -> int:
    """Smallest power-of-two GPU count (at most 64) whose memory holds `stored_bytes` within `headroom`."""
    t = 1
    while hw.memory_bytes and stored_bytes > headroom * t * hw.memory_bytes and t < 64:
        t *= 2
    return t


def tensor_parallel_for(arch: Dict[str, int], hw: HardwareSpec, bytes_per_value: int = 2, headroom: float = 0.8) -> int:
    """Smallest power-of-two GPU count whose memory holds all weights within `headroom`."""
    return gpus_to_hold(F.parameter_count(arch, active_only=False) * bytes_per_value, hw, headroom)


def transfer_from_entries(entries: Sequence[Any], hardware: str) -> Optional[TransferModel]:
    """A TransferModel for `hardware`, fitted on the entries that share its software stack, or
    None if the hardware has no roofline specs or too few entries carry architectures."""
    on_hardware = [e for e in entries if getattr(e, "hardware", None) == hardware and _complete(getattr(e, "architecture", None))]
    if not on_hardware or not has_roofline_specs(hardware):
        return None
    software = on_hardware[0].software
    pool: List[Any] = [e for e in entries if getattr(e, "software", None) == software and _complete(getattr(e, "architecture", None))]
    if len({e.model for e in pool}) < 2:
        return None
    return TransferModel(hardware).fit(pool, source=f"{software} reference entries")
