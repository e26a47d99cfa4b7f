"""Functional forms for a runtime surface T(p, o), all linear in their parameters.

p = prompt tokens, o = output tokens, T in seconds. Each form builds a design matrix so that
T = X(p, o) @ params; statsmodels then does the fitting and the intervals.

- ``paper``:         T = F(p) + g·(o−1), F interpolated between profiled prompt lengths (knots).
- ``paper_context``: T = F(p) + g·(o−1) + h·Σ_{i=1}^{o−1}(p+i), i.e. decode cost per token grows
                     with the current context (p + tokens generated so far).
- ``long_context``:  T = a + b·p + c·p² + g·(o−1) + h·Σ_{i=1}^{o−1}(p+i): parametric, super-linear
                     prefill that extrapolates to long prompts.

F(p) between knots is interpolated linearly in a *warped* coordinate u(p), the typical shape of
prefill cost on the same hardware learned from other models' dense profiles (GPU tile
quantization makes F(p) step at multiples of the tile size). Without a shape, u(p) = p.
"""

from dataclasses import dataclass
from typing import Iterable, Optional, Tuple, cast

import numpy as np
from numpy.typing import ArrayLike

KNOT_FORMS = ("paper", "paper_context")
FORMS = KNOT_FORMS + ("long_context",)


@dataclass(frozen=True)
class PrefillShape:
    """A monotone map u(p) from prompt tokens to relative prefill cost, on one hardware stack."""

    num_prompt_tokens: Tuple[float, ...]
    relative_cost: Tuple[float, ...]

    def __call__(self, p: np.ndarray) -> np.ndarray:
        grid = np.asarray(self.num_prompt_tokens, float)
        u = np.maximum.accumulate(np.asarray(self.relative_cost, float))
        u = u + 1e-6 * grid / grid.max()  # strictly increasing, so every knot interval has width
        p = np.asarray(p, float)
        inside = np.interp(p, grid, u)
        # Beyond the shape's grid, continue linearly in p (no structure known there).
        lo_slope = (u[1] - u[0]) / (grid[1] - grid[0])
        hi_slope = (u[-1] - u[-2]) / (grid[-1] - grid[-2])
        inside = np.where(p < grid[0], u[0] + (p - grid[0]) * lo_slope, inside)
        return cast(np.ndarray, np.where(p > grid[-1], u[-1] + (p - grid[-1]) * hi_slope, inside))


def knot_weights(p: np.ndarray, knots: ArrayLike, shape: Optional[PrefillShape] = None) -> np.ndarray:
    """Weights W (len(p) × len(knots)) so that F(p) = W @ F(knots).

    Piecewise-linear in u(p) between neighbouring knots; beyond the outer knots the end segment
    is extended linearly (callers flag those rows as extrapolated).
    """
    p = np.asarray(p, float)
    knots = np.asarray(knots, float)
    if len(knots) == 1:
        return np.ones((len(p), 1))
    warp = shape if shape is not None else (lambda x: np.asarray(x, float))
    u_knots = warp(knots)
    u_p = warp(p)
    segment = np.clip(np.searchsorted(knots, p, side="right") - 1, 0, len(knots) - 2)
    left, right = u_knots[segment], u_knots[segment + 1]
    t = (u_p - left) / (right - left)
    weights = np.zeros((len(p), len(knots)))
    rows = np.arange(len(p))
    weights[rows, segment] = 1 - t
    weights[rows, segment + 1] = t
    return weights


def context_decode_sum(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Σ_{i=1}^{o−1} (p + i): total context seen by the o−1 decode steps after the first token."""
    p = np.asarray(p, float)
    o = np.asarray(o, float)
    return cast(np.ndarray, (o - 1) * p + (o - 1) * o / 2)


def param_names(form: str, knots: Iterable[float]) -> Tuple[str, ...]:
    decode = ("decode_s_per_token",)
    context = ("decode_s_per_token_per_context_token",)
    if form == "paper":
        return tuple(f"prefill_s_at_{int(k)}" for k in knots) + decode
    if form == "paper_context":
        return tuple(f"prefill_s_at_{int(k)}" for k in knots) + decode + context
    if form == "long_context":
        return ("overhead_s", "prefill_s_per_token", "prefill_s_per_token_squared") + decode + context
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")


def design_matrix(
    form: str, p: np.ndarray, o: np.ndarray, knots: ArrayLike, shape: Optional[PrefillShape] = None
) -> np.ndarray:
    """The exog matrix X(p, o) for `form`, columns in `param_names(form, knots)` order."""
    p = np.asarray(p, float)
    o = np.asarray(o, float)
    decode = (o - 1)[:, None]
    if form == "paper":
        return np.hstack([knot_weights(p, knots, shape), decode])
    if form == "paper_context":
        return np.hstack([knot_weights(p, knots, shape), decode, context_decode_sum(p, o)[:, None]])
    if form == "long_context":
        return np.column_stack([np.ones_like(p), p, p**2, o - 1, context_decode_sum(p, o)])
    raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
