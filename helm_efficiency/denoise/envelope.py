"""Lower-envelope denoising of per-request timings.

Model: runtime = a + b·p + g·(o−1) + noise, noise ≥ 0 (contention, queueing and network only
ever add time). The noise-free surface is the lower envelope of the timings, estimated by
quantile regression (statsmodels QuantReg) at a low quantile, which ignores heavy upper tails.

Every cost is physical: overhead, per-prompt-token and per-output-token costs are ≥ 0. Where
the unconstrained fit breaks that (small samples, little spread), the same relative quantile
loss is minimised again as a linear programme with those bounds (scipy's HiGHS), the terms at
zero drop out of the form (a simpler form), and the quality says `constrained`.

The fit is relative: each request's residual is measured as a fraction of its fitted runtime,
so a 10 ms request weighs as much as a 1 s one, and short requests are not left with large
relative errors. The check loss is positively homogeneous, ρ(r / w) = ρ(r) / w, so this is a
plain QuantReg on rows divided by the previous pass's fitted runtime (iterated a few times).
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from helm_efficiency.errors import check_fitted

# Usable timings above which the regression is fitted on a sample (LowerEnvelopeDenoiser.max_fit_requests).
MAX_FIT_REQUESTS = 100_000
QUALITY_OK = "ok"
QUALITY_TOO_FEW = "too_few_requests"
QUALITY_NO_OUTPUT_SPREAD = "output_length_not_identified"
QUALITY_NO_PROMPT_SPREAD = "prompt_length_not_identified"
QUALITY_NO_TIMINGS = "no_usable_timings"  # nothing to fit (all cached, failed or untimed): no fit attempted
QUALITY_CONTENDED = "contended"  # requests overlapped on the model's own hardware (denoise/requests.py)
QUALITY_CONSTRAINED = "constrained"  # the unconstrained fit had a negative cost; refitted with costs >= 0
# QuantReg's interval needs a density estimate at the quantile: with few requests below the
# envelope it comes out NaN. Said in the report rather than shown as NaN.
INTERVAL_NOTE = "QuantReg could not estimate an interval: too few requests near the envelope (about 60 or more are needed)"


def _has_spread(values: np.ndarray) -> bool:
    """At least two distinct values, and the spread is not a handful of outliers."""
    if len(values) and np.all((values >= 0) & (values < 1 << 20) & (values == np.floor(values))):  # token counts: count by bincount
        counts = np.bincount(values.astype(np.int64))
        counts = counts[counts > 0]
    else:
        counts = np.unique(values, return_counts=True)[1]
    return len(counts) >= 2 and (len(values) - counts.max()) >= 2


class LowerEnvelopeDenoiser:
    """Fit the noise-free runtime surface of one deployment from its own timings.

    quantile: the envelope quantile, or None for automatic: 10 requests' worth (10/n), kept
    within [0.02, 0.1]. A few timings below the surface absorb measurement jitter; with more
    requests the envelope can hug the quietest ones more tightly.
    min_requests: fewer usable timings than this → no fit.
    relative_passes: refits on rows divided by the previous fitted runtime (0: a plain absolute
    QuantReg, where long requests dominate the loss).
    max_fit_requests: above this many usable timings, the regression is fitted on a fixed-seed
    random sample of this many (the spread, observed ranges and count still come from all), so
    the fit's time and memory stop growing with the suite. At 1M timings a 100,000 sample moves
    predictions by a median 0.02% (p99 under 0.3%) from the full fit, against the fit's own
    1.6% error (docs/rescore_speed.md). None: always all.
    cap_by_repeats: predict no more than the fastest timing observed for the same (p, o). Off
    by default: it wins on simulated noise that only adds time (bench/denoise_simulation.py,
    designed grid: 0.65% against 0.68% for the minimum per configuration) but loses on most real
    contention sets (bench/denoise_contention.py --from-timings), whose timings jitter both ways,
    so the fastest repeat sits below the quiet truth.

    Learned attributes: n_, quality_, quantile_, params_ (pandas Series), conf_int_ (or None),
    uses_prompt_, uses_output_, observed_prompt_, observed_output_, fitted_rows_ (positions of
    the timings the regression used, None for all), fastest_ ({(p, o): s}, with cap_by_repeats).
    """

    def __init__(self, quantile: Optional[float] = None, min_requests: int = 8, alpha: float = 0.1, relative_passes: int = 3,
                 cap_by_repeats: bool = False, max_fit_requests: Optional[int] = MAX_FIT_REQUESTS):
        self.quantile = quantile
        self.min_requests = min_requests
        self.alpha = alpha
        self.relative_passes = relative_passes
        self.cap_by_repeats = cap_by_repeats
        self.max_fit_requests = max_fit_requests

    def _columns(self) -> List[str]:
        cols = ["overhead_s"]
        if self.uses_prompt_:
            cols.append("prefill_s_per_token")
        if self.uses_output_:
            cols.append("decode_s_per_token")
        return cols

    def _design(self, p: np.ndarray, o: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(p, dtype=float)]
        if self.uses_prompt_:
            cols.append(p.astype(float))
        if self.uses_output_:
            cols.append((o - 1).astype(float))
        return np.column_stack(cols)

    def fit(self, timings: pd.DataFrame) -> "LowerEnvelopeDenoiser":
        """timings: columns num_prompt_tokens, num_output_tokens, runtime_s (usable rows only)."""
        p = timings["num_prompt_tokens"].to_numpy(float)
        o = timings["num_output_tokens"].to_numpy(float)
        t = timings["runtime_s"].to_numpy(float)
        self.n_ = len(t)
        self.fitted_rows_ = None
        # The fastest timing seen for each (p, o): contention only adds time, so it bounds that
        # configuration's cost from above, wherever the fitted form runs high (see predict).
        self.fastest_ = pd.Series(t).groupby([p, o]).min().to_dict() if len(t) and self.cap_by_repeats else {}
        self.uses_prompt_ = _has_spread(p)
        self.uses_output_ = _has_spread(o)
        self.observed_prompt_ = (float(p.min()), float(p.max())) if len(p) else (np.nan, np.nan)
        self.observed_output_ = (float(o.min()), float(o.max())) if len(o) else (np.nan, np.nan)
        self.params_: Optional[pd.Series] = None
        self.conf_int_: Optional[pd.DataFrame] = None
        if self.n_ < self.min_requests:
            self.quality_ = QUALITY_NO_TIMINGS if self.n_ == 0 else QUALITY_TOO_FEW
            return self
        self.quality_ = QUALITY_OK
        if not self.uses_output_:
            self.quality_ = QUALITY_NO_OUTPUT_SPREAD
        elif not self.uses_prompt_:
            self.quality_ = QUALITY_NO_PROMPT_SPREAD
        if self.max_fit_requests is not None and self.n_ > self.max_fit_requests:
            self.fitted_rows_ = np.sort(np.random.default_rng(0).choice(self.n_, self.max_fit_requests, replace=False))
            p, o, t = p[self.fitted_rows_], o[self.fitted_rows_], t[self.fitted_rows_]
        x = self._design(p, o)
        self.quantile_ = self.quantile if self.quantile is not None else float(np.clip(10.0 / self.n_, 0.02, 0.1))
        result = self._relative_quantile_fit(x, t)
        names = self._columns()
        self.params_ = pd.Series(np.asarray(result.params), index=names)
        try:
            self.conf_int_ = pd.DataFrame(np.asarray(result.conf_int(alpha=self.alpha)), index=names, columns=["lo", "hi"])
        except (np.linalg.LinAlgError, ValueError):
            self.conf_int_ = None
        if self.conf_int_ is not None and not np.isfinite(self.conf_int_.to_numpy()).all():
            self.conf_int_ = None
        self.constrained_: List[str] = []
        if (self.params_ < 0).any():
            self.constrained_ = [name for name, value in self.params_.items() if value < 0]
            self.params_ = pd.Series(self._relative_bounded_fit(x, t), index=names)
            self.conf_int_ = None  # QuantReg's interval does not hold at a bound
            if self.quality_ == QUALITY_OK:
                self.quality_ = QUALITY_CONSTRAINED
        return self

    def _relative_bounded_fit(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The relative quantile fit with every coefficient >= 0: min Σ q·u⁺ + (1−q)·u⁻ subject to
        X·β + u⁺ − u⁻ = t (rows scaled as in _relative_quantile_fit), β, u ≥ 0, by HiGHS."""
        from scipy.optimize import linprog
        from scipy.sparse import eye, hstack, csr_matrix

        n, k = x.shape
        q = self.quantile_

        def solve(xs: np.ndarray, ts: np.ndarray) -> Optional[Tuple[np.ndarray, np.ndarray]]:
            cost = np.concatenate([np.zeros(k), np.full(n, q), np.full(n, 1.0 - q)])
            solved = linprog(cost, A_eq=hstack([csr_matrix(xs), eye(n), -eye(n)], format="csr"), b_eq=ts, bounds=(0, None), method="highs")
            return (solved.x[:k], solved.x[:k]) if solved.status == 0 else None

        beta = self._relative_passes(x, t, solve, floor=max(0.5 * t.min(), 1e-6))
        return np.zeros(k) if beta is None else beta

    def _relative_passes(self, x: np.ndarray, t: np.ndarray, solve: Callable[[np.ndarray, np.ndarray], Optional[Tuple[Any, np.ndarray]]],
                         floor: float) -> Any:
        """Fit `1 + relative_passes` times, each on rows divided by the previous fitted surface
        (floored at `floor`); `solve(x, t)` returns (fit, params) or None to stop. The last fit."""
        scale, fit = np.ones_like(t), None
        for _ in range(1 + self.relative_passes):
            step = solve(x / scale[:, None], t / scale)
            if step is None:
                break
            fit, params = step
            scale = np.maximum(x @ np.asarray(params), floor)
        return fit

    def _relative_quantile_fit(self, x: np.ndarray, t: np.ndarray) -> Any:  # statsmodels QuantRegResults
        """QuantReg of t on x with each row's residual relative to its fitted runtime: the first
        pass is absolute, each later pass divides the rows by the previous fitted surface
        (floored at half the fastest timing, so a surface near zero cannot blow a row up)."""
        def solve(xs: np.ndarray, ts: np.ndarray) -> Tuple[Any, np.ndarray]:
            from statsmodels.regression.quantile_regression import QuantReg  # here: importing it costs ~1 s at start-up

            result = QuantReg(ts, xs).fit(q=self.quantile_, max_iter=5000)
            return result, result.params

        return self._relative_passes(x, t, solve, floor=0.5 * t.min())

    @property
    def fitted(self) -> bool:
        return self.params_ is not None

    def predict(self, num_prompt_tokens: ArrayLike, num_output_tokens: ArrayLike) -> np.ndarray:
        """Denoised runtime (s). NaN where the fit cannot speak: no fit, or a prompt/output length
        that differs from the single one observed when that dimension was not identified, or a
        non-positive fitted value."""
        check_fitted(self, "quality_")
        p = np.asarray(num_prompt_tokens, float)
        o = np.asarray(num_output_tokens, float)
        if not self.fitted:
            return np.full(len(p), np.nan)
        value = self._design(p, o) @ self.params_.to_numpy()
        unknown = np.zeros(len(p), bool)
        if not self.uses_prompt_:
            unknown |= (p < self.observed_prompt_[0]) | (p > self.observed_prompt_[1])
        if not self.uses_output_:
            unknown |= (o < self.observed_output_[0]) | (o > self.observed_output_[1])
        unknown |= ~(value > 0)
        value = np.where(unknown, np.nan, value)
        if self.cap_by_repeats and self.fastest_:
            # On a designed grid with repeats, the envelope (one smooth form for all) can sit above
            # a configuration's fastest repeat; with noise that only adds time, the repeat is then
            # the better bound.
            fastest = np.array([self.fastest_.get((pi, oi), np.inf) for pi, oi in zip(p, o)])
            value = np.where(np.isfinite(value), np.minimum(value, fastest), value)
        return value

    def report(self) -> Dict[str, object]:
        """Per-deployment summary: params with intervals, implied latencies, requests used, quality."""
        check_fitted(self, "quality_")
        out: Dict[str, object] = {"num_requests_used": int(self.n_), "quality": self.quality_, "quantile": getattr(self, "quantile_", self.quantile)}
        if getattr(self, "fitted_rows_", None) is not None:
            out["num_requests_fitted"] = len(self.fitted_rows_)  # a fixed-seed sample (max_fit_requests)
        if not self.fitted:
            return out
        out["params"] = {k: float(v) for k, v in self.params_.items()}
        if self.constrained_:
            out["constrained"] = (f"{', '.join(self.constrained_)} came out negative in the unconstrained fit; refitted with every "
                                  "cost >= 0 (" + ", ".join(f"{k} = {v:.3g}" for k, v in self.params_.items()) + ")")
        if self.conf_int_ is not None:
            out["params_interval"] = {k: [float(r.lo), float(r.hi)] for k, r in self.conf_int_.iterrows()}
        else:
            out["params_interval"] = None
            out["params_interval_note"] = INTERVAL_NOTE
        p_mid = float(np.mean(self.observed_prompt_))
        out["time_to_first_token_s_at_mid_prompt"] = float(
            self.params_["overhead_s"] + self.params_.get("prefill_s_per_token", 0.0) * p_mid
        )
        out["mid_prompt_tokens"] = p_mid  # midpoint of the observed prompt lengths
        if self.uses_output_:
            out["time_per_output_token_s"] = float(self.params_["decode_s_per_token"])
        return out
