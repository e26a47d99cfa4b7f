"""`size_only` estimates: a model known only by its parameter count, on one reference stack.

Fitted on the stack's calibrated dense entries. At each calibration prompt length p_k, prefill
time T(p_k, 1) and the per-output-token decode time are regressed on parameter count in log-log
space (statsmodels OLS). A request is priced by interpolating both in log p. Using size alone,
rather than a made-up shape, keeps the assumption in plain sight: runtime at batch 1 scales
with the weights a GPU must read and multiply.

The 90% interval comes from leaving each model out: the refit without it predicts its
calibrated surface, and the log errors give the spread (Student t quantile, n − 1 degrees of
freedom). Learned attributes end in `_`.

A mixture of experts known by its total size N and the parameters a token runs through A
(analytic/identity.active_parameters) is priced as a dense model of size A, except that a
prompt's tokens read more experts than one token does: its prefill is at least the weight read
of a dense model of size A plus, of the rest (N − A), the share its p tokens touch, each token
routed uniformly to ROUTED_SHARE of the experts (the weight read of size S: a dense model of
size S prefilling one token). Its spread is measured on the stack's simulated mixtures of
experts, which the dense fit never sees (MIN_MOE_MODELS of them at least); priced as dense
models of their total size instead, they come out a median 2.6× too dear on `h100-trtllm`
(`python bench/helm_coverage.py` prints both).
"""

from typing import Any, List, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.analytic import flops as F
from helm_efficiency.analytic.architecture import is_moe
from helm_efficiency.errors import EfficiencyInputError, check_fitted

PROMPT_GRID = (1, 256, 1024, 2048, 4096, 8192)  # tokens; where the surfaces are compared
DECODE_OUTPUT_TOKENS = 128  # decode cost per token is read between o = 1 and this o
CHECK_OUTPUT_TOKENS = (1, 32, 256, 1024)
MIN_MOE_MODELS = 3  # simulated mixtures of experts a stack needs before it prices one by size
ROUTED_SHARE = 1 / 32  # experts a token is routed to, as a share of all (assumed: 8 of 256, as DeepSeek-V3; Qwen3 8 of 128)


def _surface(entry: Any, prompts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Prefill time T(p, 1) and decode time per output token at each prompt length (s)."""
    first = entry.predict(prompts, np.ones_like(prompts))["runtime_s"].to_numpy()
    later = entry.predict(prompts, np.full_like(prompts, DECODE_OUTPUT_TOKENS))["runtime_s"].to_numpy()
    return first, (later - first) / (DECODE_OUTPUT_TOKENS - 1)


class SizeOnlyModel:
    """Runtime (s) on one stack from total parameter count alone. fit(entries) → self."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def _fit_arrays(self, log_sizes: np.ndarray, prefill: np.ndarray, decode: np.ndarray) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        from statsmodels.regression.linear_model import OLS  # here, not at import: start-up stays light
        from statsmodels.tools.tools import add_constant

        x = add_constant(log_sizes)
        return ([OLS(np.log(prefill[:, k]), x).fit().params for k in range(prefill.shape[1])],
                [OLS(np.log(decode[:, k]), x).fit().params for k in range(decode.shape[1])])

    def fit(self, entries: Sequence[Any], source: str = "reference entries") -> "SizeOnlyModel":
        usable = [e for e in entries if getattr(e, "architecture", None) and not is_moe(e.architecture)
                  and getattr(e, "method", "") == "calibrated"]
        if len(usable) < 3:
            raise EfficiencyInputError(source, "entries", f"size_only needs at least 3 calibrated dense entries, got {len(usable)}")
        self.source_ = source
        self.hardware_ = usable[0].hardware
        self.prompt_grid_ = np.array(PROMPT_GRID, float)
        self.models_: List[str] = [e.model for e in usable]
        sizes = np.array([F.parameter_count(e.architecture, active_only=False) for e in usable], float)
        surfaces = [_surface(e, self.prompt_grid_) for e in usable]
        prefill = np.array([s[0] for s in surfaces])
        decode = np.array([s[1] for s in surfaces])
        keep: np.ndarray = np.asarray((prefill > 0).all(axis=1) & (decode > 0).all(axis=1), bool)
        sizes, prefill, decode = sizes[keep], prefill[keep], decode[keep]
        self.models_ = [m for m, k in zip(self.models_, keep.tolist()) if k]
        self.prefill_params_, self.decode_params_ = self._fit_arrays(np.log(sizes), prefill, decode)
        self.size_range_ = (float(sizes.min()), float(sizes.max()))
        errors = []
        for i in range(len(sizes)):
            rest = np.arange(len(sizes)) != i
            pre_p, dec_p = self._fit_arrays(np.log(sizes[rest]), prefill[rest], decode[rest])
            for o in CHECK_OUTPUT_TOKENS:
                truth = prefill[i] + decode[i] * (o - 1)
                guess = self._runtime(pre_p, dec_p, sizes[i], self.prompt_grid_, np.full_like(self.prompt_grid_, o))
                errors.extend(np.log(guess / truth))
        self.loo_log_errors_ = np.asarray(errors)
        self.log_sd_ = float(np.sqrt(np.mean(self.loo_log_errors_**2)))
        self.half_width_ = self._half_width(self.log_sd_, len(sizes))
        moe = [e for e in entries if is_moe(getattr(e, "architecture", None)) and getattr(e, "method", "") == "calibrated"]
        self.moe_models_ = [e.model for e in moe]
        self.moe_log_errors_ = self.moe_errors(moe)
        rms = float(np.sqrt(np.mean(self.moe_log_errors_**2))) if len(moe) else 0.0
        self.moe_half_width_ = self._half_width(rms, len(moe)) if len(moe) >= MIN_MOE_MODELS else None
        return self

    def _half_width(self, log_rms: float, models: int) -> float:
        """Half-width (log) of the 90% interval: Student t (models − 1 degrees of freedom) × RMS log error."""
        from scipy.stats import t as student_t  # scipy on use: it costs a second of start-up

        return float(student_t.ppf(1 - self.alpha / 2, df=max(models - 1, 1)) * log_rms)

    def moe_errors(self, moe_entries: Sequence[Any], as_dense: bool = False) -> np.ndarray:
        """log(priced / own surface) of each mixture-of-experts entry priced from its total and active
        sizes (as_dense: from its total size alone, as a dense model), at each grid prompt length and
        CHECK_OUTPUT_TOKENS. Entries the dense fit never saw, so every error is out of sample."""
        errors = []
        for e in moe_entries:
            total, active = F.parameter_count(e.architecture, active_only=False), F.parameter_count(e.architecture, active_only=True)
            prefill, decode = _surface(e, self.prompt_grid_)
            for o in CHECK_OUTPUT_TOKENS:
                guess = self._runtime(self.prefill_params_, self.decode_params_, total, self.prompt_grid_, np.full_like(self.prompt_grid_, o),
                                      None if as_dense else active)
                errors.extend(np.log(guess / (prefill + decode * (o - 1))))
        return np.asarray(errors)

    def _parts(self, prefill_params: Sequence[np.ndarray], decode_params: Sequence[np.ndarray], size: float, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(prefill time, decode time per output token) in seconds of a dense model of `size`."""
        log_p = np.log(np.clip(p, self.prompt_grid_[0], self.prompt_grid_[-1]))
        grid = np.log(self.prompt_grid_)
        log_size = np.log(size)
        prefill = np.exp(np.interp(log_p, grid, [a + b * log_size for a, b in prefill_params]))
        decode = np.exp(np.interp(log_p, grid, [a + b * log_size for a, b in decode_params]))
        # Beyond the grid's longest prompt, prefill grows at least linearly in p.
        return prefill * np.maximum(p / self.prompt_grid_[-1], 1.0), decode

    def _runtime(self, prefill_params: Sequence[np.ndarray], decode_params: Sequence[np.ndarray], size: float, p: np.ndarray, o: np.ndarray,
                 active: Optional[float] = None) -> np.ndarray:
        """Seconds of a dense model of `size`, or of a mixture of experts of `size` running `active` per token."""
        moe = active is not None and active < size
        prefill, decode = self._parts(prefill_params, decode_params, cast(float, active) if moe else size, p)
        if moe:  # a prompt's tokens read the experts they are routed to, more of them the longer it is
            one = np.ones_like(p)
            read_active = self._parts(prefill_params, decode_params, cast(float, active), one)[0]  # one token: the weights it reads
            read_all = self._parts(prefill_params, decode_params, size, one)[0]
            touched = (1.0 - (1.0 - ROUTED_SHARE) ** np.maximum(p, 1.0) - ROUTED_SHARE) / (1.0 - ROUTED_SHARE)  # of the other experts
            prefill = np.maximum(prefill, read_active + np.maximum(read_all - read_active, 0.0) * touched)
        return cast(np.ndarray, prefill + decode * (np.maximum(o, 1.0) - 1))

    def prices_moe(self) -> bool:
        """Whether the stack measured a spread for mixtures of experts priced by size."""
        return getattr(self, "moe_half_width_", None) is not None

    def predict(self, num_parameters: float, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike,
                active_parameters: Optional[float] = None) -> pd.DataFrame:
        """Runtime (s) with a 90% interval; `extrapolated` outside the fitted sizes or prompt grid.
        `active_parameters` (< num_parameters): a mixture of experts, with its own spread."""
        check_fitted(self, "prefill_params_")
        p = np.asarray(num_prompt_tokens, float)
        o = np.asarray(num_output_tokens, float)
        moe = active_parameters is not None and active_parameters < num_parameters
        if moe and not self.prices_moe():
            raise EfficiencyInputError(self.source_, "active_parameters", f"{len(self.moe_models_)} simulated mixtures of experts, fewer than the "
                                       f"{MIN_MOE_MODELS} that measure how far pricing one by size lands")
        runtime = self._runtime(self.prefill_params_, self.decode_params_, float(num_parameters), p, o, active_parameters if moe else None)
        sizes = (float(num_parameters), float(cast(float, active_parameters))) if moe else (float(num_parameters),)
        outside = not all(self.size_range_[0] <= s <= self.size_range_[1] for s in sizes)
        half_width = cast(float, self.moe_half_width_) if moe else self.half_width_
        return pd.DataFrame({
            "runtime_s": runtime,
            "runtime_lo_s": runtime * np.exp(-half_width),
            "runtime_hi_s": runtime * np.exp(half_width),
            "extrapolated": outside | (p > self.prompt_grid_[-1]),
        })


class SizeOnlyEntry:
    """Adapter giving a SizeOnlyModel prediction for one model the table-entry interface."""

    method = "size_only"

    def __init__(self, model: SizeOnlyModel, num_parameters: float, num_gpus: int, name: str, active_parameters: Optional[float] = None) -> None:
        self.size_model = model
        self.num_parameters = float(num_parameters)
        self.active_parameters = active_parameters
        self.hardware = model.hardware_
        self.num_gpus = int(num_gpus)
        self.model = f"size_only:{name}"
        self.architecture = None

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        return self.size_model.predict(self.num_parameters, num_prompt_tokens, num_output_tokens, self.active_parameters)
