"""RuntimeModel: fit a runtime surface T(p, o) to profiled points, predict with 90% intervals.

scikit-learn shape: parameters in ``__init__``, ``fit(measurements)`` returns self, learned
attributes end in ``_``, ``predict`` is pure. Fitting is statsmodels least squares;
prediction intervals are statsmodels' ``get_prediction(...).summary_frame(alpha)`` observation
intervals. Fits are weighted least squares with weights 1/runtime² (relative errors), since
profiled runtimes span orders of magnitude. Runtimes are seconds per request at the
measured batch size.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.costmodel.forms import FORMS, KNOT_FORMS, PrefillShape, design_matrix, param_names
from helm_efficiency.errors import EfficiencyInputError, check_fitted

AUTO_PREFERENCE = ("paper_context", "paper", "long_context")


@dataclass(frozen=True)
class LinearFit:
    """What prediction needs of a statsmodels WLS fit: parameters, their covariance, the residual
    scale and degrees of freedom. `prediction` is statsmodels' own `get_prediction(x, weights)`
    observation interval, written out (same operations, same floats), so a fit stored with a
    shipped table predicts without importing statsmodels (~1 s of a one-row estimate's start)."""

    params: np.ndarray
    cov_params: np.ndarray
    scale: float
    df_resid: float

    @classmethod
    def from_result(cls, result: Any) -> "LinearFit":  # a statsmodels RegressionResults
        return cls(np.asarray(result.params, float), np.asarray(result.cov_params(), float), float(result.scale), float(result.df_resid))

    def t_quantile(self, alpha: float) -> float:
        """The Student t quantile of a 1 − alpha two-sided interval with df_resid degrees of freedom."""
        from scipy.special import stdtrit  # scipy.stats.t.ppf's own kernel, without importing scipy.stats

        return float(stdtrit(self.df_resid, 1 - alpha / 2.0))

    def prediction(self, x: np.ndarray, weights: np.ndarray, q: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, lower, upper) of the prediction interval for new observations at rows `x` with
        observation weights (variance scale / weight); q = t_quantile(alpha)."""
        mean = np.dot(x, self.params)
        var_pred_mean = (x * np.dot(self.cov_params, x.T).T).sum(1)
        se_obs = np.sqrt(var_pred_mean + self.scale / np.asarray(weights, float))
        return mean, mean - q * se_obs, mean + q * se_obs

    def to_json(self) -> Dict[str, Any]:
        return {"params": self.params.tolist(), "cov_params": self.cov_params.tolist(), "scale": self.scale, "df_resid": self.df_resid}

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "LinearFit":
        return cls(np.asarray(raw["params"], float), np.asarray(raw["cov_params"], float), float(raw["scale"]), float(raw["df_resid"]))


def _full_rank(x: np.ndarray) -> bool:
    return cast(bool, x.shape[0] > x.shape[1] and np.linalg.matrix_rank(x) == x.shape[1])


class RuntimeModel:
    """Runtime surface for one model on one reference stack at one batch size.

    form: one of ``FORMS``, ``"auto"`` or ``"cv"``.
      - ``auto``: the first form the calibration points identify, in the order ``AUTO_PREFERENCE``
        (``paper_context`` first). Measured leave-one-model-out on the Megatron profiles and on
        simulator grids (``bench/costmodel_accuracy.py``, ``bench/simulated_calibration.py``), a
        fixed physical form beats choosing by cross-validation: with 3-6 prompt lengths, holding
        one out doubles the gap a knot form must bridge, so CV wrongly favours ``long_context``.
      - ``cv``: chosen by cross-validation on the calibration points, holding out one prompt
        length at a time (ties within 1% go to the simpler form). Kept as the benchmarks' baseline.
    alpha: 0.1 gives 90% prediction intervals.
    prefill_shape: optional hardware-specific shape of F(p) learned from other models.

    Learned attributes (after ``fit``): ``form_``, ``result_`` (statsmodels WLS results),
    ``knots_``, ``param_names_``, ``cv_errors_`` (mean |relative error| per form tried),
    ``noise_inflation_``, ``num_prompt_tokens_range_``, ``num_output_tokens_range_``, ``n_``.
    """

    def __init__(self, form: str = "auto", alpha: float = 0.1, prefill_shape: Optional[PrefillShape] = None) -> None:
        if form not in ("auto", "cv") and form not in FORMS:
            raise ValueError(f"unknown form {form!r}; expected 'auto', 'cv' or one of {FORMS}")
        self.form = form
        self.alpha = alpha
        self.prefill_shape = prefill_shape

    # -- fitting -----------------------------------------------------------------------------
    def _design(self, form: str, p: np.ndarray, o: np.ndarray, knots: np.ndarray) -> np.ndarray:
        return design_matrix(form, p, o, knots, self.prefill_shape if form in KNOT_FORMS else None)

    def _fit_form(self, form: str, p: np.ndarray, o: np.ndarray, t: np.ndarray) -> Tuple[Any, np.ndarray]:
        """(statsmodels WLS results, or None where the points cannot identify `form`; the knots)."""
        knots = np.unique(p) if form in KNOT_FORMS else np.array([])
        x = self._design(form, p, o, knots)
        if not _full_rank(x):
            return None, knots
        from statsmodels.regression.linear_model import WLS  # here, not at import: a stored fit predicts without it

        # Relative errors: weights 1/T² so short requests count as much as long ones.
        return WLS(t, x, weights=1.0 / t**2).fit(), knots

    def _cv_error(self, form: str, p: np.ndarray, o: np.ndarray, t: np.ndarray) -> Tuple[float, float]:
        """Mean absolute and mean squared relative error of `form`, holding out one interior
        prompt length at a time (or one point at a time with fewer than three prompt lengths)."""
        distinct = np.unique(p)
        folds = [p == q for q in distinct[1:-1]] if len(distinct) >= 3 else [np.arange(len(p)) == i for i in range(len(p))]
        errors: List[float] = []
        for held_out in folds:
            keep = ~held_out
            result, knots = self._fit_form(form, p[keep], o[keep], t[keep])
            if result is None:
                continue
            predicted = self._design(form, p[held_out], o[held_out], knots) @ result.params
            errors.extend(predicted / t[held_out] - 1)
        if not errors:
            return float("inf"), float("inf")
        relative = np.asarray(errors)
        return float(np.mean(np.abs(relative))), float(np.mean(relative**2))

    def fit(self, measurements: pd.DataFrame, source: str = "measurements") -> "RuntimeModel":
        df = measurements
        p = df["num_prompt_tokens"].to_numpy(float)
        o = df["num_output_tokens"].to_numpy(float)
        t = df["runtime_s"].to_numpy(float)
        if len(np.unique(o)) < 2:
            raise EfficiencyInputError(
                source, "num_output_tokens", "needs at least two distinct output lengths to identify decode cost"
            )
        candidates = FORMS if self.form == "cv" else AUTO_PREFERENCE if self.form == "auto" else (self.form,)
        self.cv_errors_: Dict[str, float] = {}
        cv_squared: Dict[str, float] = {}
        for form in candidates:
            self.cv_errors_[form], cv_squared[form] = self._cv_error(form, p, o, t)
        if self.form == "cv":
            # Ties (and near-ties within 1% relative) go to the simpler, earlier form.
            best = min(self.cv_errors_.values())
            self.form_ = next(f for f in candidates if self.cv_errors_[f] <= best * 1.01 + 1e-12)
        elif self.form == "auto":
            self.form_ = next((f for f in candidates if self._fit_form(f, p, o, t)[0] is not None), candidates[0])
        else:
            self.form_ = self.form
        result, knots = self._fit_form(self.form_, p, o, t)
        if result is None:
            raise EfficiencyInputError(
                source,
                "num_prompt_tokens",
                f"{len(t)} points with {len(np.unique(p))} prompt lengths cannot identify form '{self.form_}'",
            )
        # Interval honesty: the in-sample residuals of a knot form cannot show interpolation
        # error between prompt lengths. When cross-validation over held-out prompt lengths shows
        # a larger relative residual variance, the observation weights passed to statsmodels'
        # get_prediction are deflated by that ratio, so its intervals carry the CV variance.
        # Holding out a prompt length doubles the gap being interpolated; taking interpolation
        # error as proportional to the gap, the CV variance is divided by 2² = 4.
        self.cv_scale_ = cv_squared[self.form_] / 4.0
        ratio = self.cv_scale_ / result.scale if result.scale > 0 else np.inf
        self.noise_inflation_ = float(ratio) if np.isfinite(ratio) and ratio > 1 else 1.0
        self.result_ = result
        self.linear_ = LinearFit.from_result(result)
        self.t_quantile_ = self.linear_.t_quantile(self.alpha)
        self.knots_ = knots
        self.param_names_ = param_names(self.form_, knots)
        self.num_prompt_tokens_range_ = (int(p.min()), int(p.max()))
        self.num_output_tokens_range_ = (int(o.min()), int(o.max()))
        self.n_ = len(t)
        return self

    # -- prediction --------------------------------------------------------------------------
    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike) -> pd.DataFrame:
        """Columns: runtime_s, runtime_lo_s, runtime_hi_s (1−alpha prediction interval), extrapolated."""
        check_fitted(self, "linear_")
        p = np.asarray(num_prompt_tokens, float)
        o = np.asarray(num_output_tokens, float)
        x = self._design(self.form_, p, o, self.knots_)
        mean = x @ self.linear_.params
        # The fit's errors are relative, so a point's observation noise scales with its runtime.
        weights = 1.0 / np.maximum(np.abs(mean), 1e-12) ** 2 / self.noise_inflation_
        mean, lower, upper = self.linear_.prediction(x, weights, self.t_quantile_)
        p_lo, p_hi = self.num_prompt_tokens_range_
        o_lo, o_hi = self.num_output_tokens_range_
        return pd.DataFrame(
            {
                "runtime_s": mean,
                "runtime_lo_s": np.maximum(lower, 0.0),
                "runtime_hi_s": upper,
                "extrapolated": (p < p_lo) | (p > p_hi) | (o < o_lo) | (o > o_hi),
            }
        )

    # -- stored fits (shipped tables carry them: builders/fits.py) --------------------------------
    def to_stored(self) -> Dict[str, Any]:
        """What `predict` needs, as JSON (floats exact): the chosen form, knots, the linear fit,
        the interval's noise inflation and the valid ranges."""
        check_fitted(self, "linear_")
        return {"form": self.form_, "knots": self.knots_.tolist(), "linear": self.linear_.to_json(), "alpha": self.alpha,
                "t_quantile": self.t_quantile_,
                "noise_inflation": self.noise_inflation_, "num_prompt_tokens_range": list(self.num_prompt_tokens_range_),
                "num_output_tokens_range": list(self.num_output_tokens_range_)}

    @classmethod
    def from_stored(cls, raw: Dict[str, Any], prefill_shape: Optional[PrefillShape] = None) -> "RuntimeModel":
        """A model that predicts as the fit it was stored from did (`summary` needs a real fit)."""
        model = cls(form=raw["form"], alpha=raw["alpha"], prefill_shape=prefill_shape)
        model.form_ = raw["form"]
        model.knots_ = np.asarray(raw["knots"], float)
        model.linear_ = LinearFit.from_json(raw["linear"])
        model.t_quantile_ = float(raw["t_quantile"])  # stored: computing it would import scipy.special
        model.noise_inflation_ = float(raw["noise_inflation"])
        model.num_prompt_tokens_range_ = cast(Tuple[int, int], tuple(int(v) for v in raw["num_prompt_tokens_range"]))
        model.num_output_tokens_range_ = cast(Tuple[int, int], tuple(int(v) for v in raw["num_output_tokens_range"]))
        return model

    def summary(self) -> Dict[str, Any]:
        """Fit statistics for a CostTable entry: form, parameters with standard errors, fit quality."""
        check_fitted(self, "result_")
        r = self.result_
        return {
            "form": self.form_,
            "params": {n: float(v) for n, v in zip(self.param_names_, r.params)},
            "params_se": {n: float(v) for n, v in zip(self.param_names_, r.bse)},
            "n": int(self.n_),
            "rsquared": float(r.rsquared),
            "residual_std_s": float(np.sqrt(r.scale)) if r.df_resid > 0 else None,
            "cv_mean_abs_rel_error": {k: (v if np.isfinite(v) else None) for k, v in self.cv_errors_.items()},
            "valid_range": {
                "num_prompt_tokens": list(self.num_prompt_tokens_range_),
                "num_output_tokens": list(self.num_output_tokens_range_),
            },
        }


def learn_prefill_shape(measurements: pd.DataFrame, exclude_models: Sequence[str] = ()) -> Optional[PrefillShape]:
    """The typical shape of prefill cost F(p) on one hardware stack, from dense profiles.

    For each model with at least 5 prompt lengths: F(p) ≈ runtime at its smallest output length,
    rescaled to 0 at the smallest and 1 at the largest prompt length. The median across models
    (per prompt length) is the shape. Returns None when no model qualifies.
    """
    curves = []
    for model, rows in measurements.groupby("model"):
        if model in exclude_models:
            continue
        rows = rows[rows["batch_size"].fillna(1) == 1] if "batch_size" in rows else rows
        first = rows[rows["num_output_tokens"] == rows["num_output_tokens"].min()]
        prefill = first.groupby("num_prompt_tokens")["runtime_s"].mean().sort_index()
        if len(prefill) < 5 or prefill.iloc[-1] <= prefill.iloc[0]:
            continue
        curves.append((prefill - prefill.iloc[0]) / (prefill.iloc[-1] - prefill.iloc[0]))
    if not curves:
        return None
    # Normalise every curve on the common grid: the prompt lengths all qualifying models share.
    shared = pd.concat(curves, axis=1, join="inner")
    if len(shared) < 5:
        return None
    shape = shared.median(axis=1).sort_index()
    return PrefillShape(tuple(float(v) for v in shape.index), tuple(float(v) for v in shape.to_numpy()))
