"""`size_only` estimates: a model known only by its parameter count, on one reference stack.

Fitted on the stack's calibrated dense entries. At each calibration prompt length p_k, prefill
time T(p_k, 1) and the per-output-token decode time are regressed on parameter count in log-log
space (statsmodels OLS). A request is priced by interpolating both in log p. Using size alone,
rather than a made-up shape, keeps the assumption in plain sight: runtime at batch 1 scales
with the weights a GPU must read and multiply.

The 90% interval comes from leaving each model out: the refit without it predicts its
calibrated surface, and the log errors give the spread (Student t quantile, n − 1 degrees of
freedom). Learned attributes end in `_`.
"""

from typing import Any, List, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.analytic import flops as F
from helm_efficiency.errors import EfficiencyInputError, check_fitted

PROMPT_GRID = (1, 256, 1024, 2048, 4096, 8192)  # tokens; where the surfaces are compared
DECODE_OUTPUT_TOKENS = 128  # decode cost per token is read between o = 1 and this o
CHECK_OUTPUT_TOKENS = (1, 32, 256, 1024)


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
        usable = [e for e in entries if getattr(e, "architecture", None) and not e.architecture.get("num_experts")
                  and getattr(e, "method", "") == "calibrated"]
        if len(usable) < 3:
            raise EfficiencyInputError(source, "entries", f"size_only needs at least 3 calibrated dense entries, got {len(usable)}")
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
        from scipy.stats import t as student_t  # scipy on use: it costs a second of start-up

        self.half_width_ = float(student_t.ppf(1 - self.alpha / 2, df=max(len(sizes) - 1, 1)) * self.log_sd_)
        return self

    def _runtime(self, prefill_params: Sequence[np.ndarray], decode_params: Sequence[np.ndarray], size: float, p: np.ndarray, o: np.ndarray) -> np.ndarray:
        log_p = np.log(np.clip(p, self.prompt_grid_[0], self.prompt_grid_[-1]))
        grid = np.log(self.prompt_grid_)
        log_size = np.log(size)
        prefill = np.exp(np.interp(log_p, grid, [a + b * log_size for a, b in prefill_params]))
        decode = np.exp(np.interp(log_p, grid, [a + b * log_size for a, b in decode_params]))
        # Beyond the grid's longest prompt, prefill grows at least linearly in p.
        prefill = prefill * np.maximum(p / self.prompt_grid_[-1], 1.0)
        return cast(np.ndarray, prefill + decode * (np.maximum(o, 1.0) - 1))

    def predict(self, num_parameters: float, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike) -> pd.DataFrame:
        """Runtime (s) with a 90% interval; `extrapolated` outside the fitted sizes or prompt grid."""
        check_fitted(self, "prefill_params_")
        p = np.asarray(num_prompt_tokens, float)
        o = np.asarray(num_output_tokens, float)
        runtime = self._runtime(self.prefill_params_, self.decode_params_, float(num_parameters), p, o)
        outside = not (self.size_range_[0] <= num_parameters <= self.size_range_[1])
        return pd.DataFrame({
            "runtime_s": runtime,
            "runtime_lo_s": runtime * np.exp(-self.half_width_),
            "runtime_hi_s": runtime * np.exp(self.half_width_),
            "extrapolated": outside | (p > self.prompt_grid_[-1]),
        })


class SizeOnlyEntry:
    """Adapter giving a SizeOnlyModel prediction for one model the table-entry interface."""

    method = "size_only"

    def __init__(self, model: SizeOnlyModel, num_parameters: float, num_gpus: int, name: str) -> None:
        self.size_model = model
        self.num_parameters = float(num_parameters)
        self.hardware = model.hardware_
        self.num_gpus = int(num_gpus)
        self.model = f"size_only:{name}"
        self.architecture = None

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike, batch_size: int = 1) -> pd.DataFrame:
        return self.size_model.predict(self.num_parameters, num_prompt_tokens, num_output_tokens)
