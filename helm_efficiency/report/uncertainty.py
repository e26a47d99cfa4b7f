"""Joint draws for a leaderboard that says how sure it is (numpy only, vectorized).

One draw (docs/leaderboard_uncertainty.md)
- resamples each stratum's instances (a stratum is one run group: a scenario, or one subject
  of it; Bayesian bootstrap weights, `resample_weights`), the same resample for every model,
  so comparisons are paired and the scenario mix stays fixed (stratified bootstrap);
- draws each model's reference-stack error for every efficiency measure: a standard normal
  z = a·z_stack + √(1−a²)·ε, where z_stack is drawn once per draw for all the models priced on
  one stack and ε for each model apart; the loading a = σ_shared / σ is the share of the
  model's log error its stack shares (`Measure.shared`). The measure is multiplied by exp(z·σ),
  σ from the stored 90% interval's upper or lower side (split log-normal), so each model's 5%
  and 95% points are exactly its stored interval's ends.

From the draws: 90% intervals of capability, efficiency and cost per correct answer, 90% rank
intervals (1 = best) and each model's probability of lying on the capability-vs-efficiency
Pareto frontier. Everything is computed in blocks of draws, so memory stays flat.
"""

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

LEVEL = 0.90
Z90 = 1.6448536269514722  # standard normal 95th percentile: a 90% interval is ±Z90·σ
DEFAULT_DRAWS = 2000
DEFAULT_SEED = 20240601
BLOCK = 500  # draws per block (fixed, so a seed gives the same numbers on every machine)
QUANTILES = ((1 - LEVEL) / 2, (1 + LEVEL) / 2)


@dataclass(frozen=True)
class Stratum:
    """One run group's instances, aligned across models. Arrays are (models, instances), NaN
    where a model has no value for an instance. `totals`: per efficiency measure, the instance's
    total over its requests (per train trial); `requests`: per measure, the requests behind each
    total (default: one per instance)."""

    scenario: int
    capability: np.ndarray
    totals: Mapping[str, np.ndarray] = field(default_factory=dict)
    requests: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    """An efficiency measure: per-request means per (model, scenario), and per model the stored
    90% interval as log standard deviations below and above the point (NaN: none stored) and
    the log standard deviation of the part of that error its stack shares (NaN: none shared)."""

    point: np.ndarray  # (models, scenarios)
    sigma_lo: np.ndarray  # (models,) log(point / lo) / Z90
    sigma_hi: np.ndarray  # (models,) log(hi / point) / Z90
    shared: Optional[np.ndarray] = None  # (models,)


@dataclass(frozen=True)
class Board:
    """What the draws need. capability: per (model, scenario) score; used: the scenarios each
    model's row averages; efficiency: the measure ranked and on the frontier's x axis;
    per_correct: measures whose cost per correct answer is wanted, over the `correctness`
    scenarios (0/1 metrics); instances: per (model, scenario) instance count, which weighs
    scenarios without per-instance values in cost per correct (NaN: weight 1)."""

    capability: np.ndarray
    used: np.ndarray
    measures: Mapping[str, Measure]
    efficiency: str
    strata: Sequence[Stratum] = ()
    stack: Optional[np.ndarray] = None  # (models,) int: models priced on one stack share its error
    win_rate: bool = False
    lower_is_better: Optional[np.ndarray] = None  # (scenarios,) bool: the scenario's metric ranks lower values first
    capability_lower_is_better: bool = False  # the row's capability (one such metric's mean; a win rate never is)
    correctness: Optional[np.ndarray] = None  # (scenarios,) bool
    per_correct: Sequence[str] = ()
    instances: Optional[np.ndarray] = None

    @property
    def shape(self) -> Tuple[int, int]:
        return self.capability.shape


@dataclass(frozen=True)
class Draws:
    """Per-draw values, (draws, models); per scenario (scenarios, draws, models) when asked.
    capability is NaN for a model whose instances could not be resampled."""

    capability: np.ndarray
    efficiency: np.ndarray
    per_correct: Dict[str, np.ndarray]
    scenario_capability: Optional[np.ndarray] = None
    scenario_efficiency: Optional[np.ndarray] = None
    scenario_per_correct: Optional[Dict[str, np.ndarray]] = None


# -- building blocks ------------------------------------------------------------------------------
def resample_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(size, n) instance weights of `size` bootstrap resamples of n instances: Rubin's Bayesian
    bootstrap, Dirichlet(1, ..., 1) weights scaled to sum to n (float32). It resamples like
    drawing n instances with replacement (the same spread of a mean, to a factor n/(n+1)), with
    smooth weights that take a tenth of the time to draw and never leave an instance set empty."""
    weights = rng.standard_exponential((size, n), dtype=np.float32)
    weights *= n / weights.sum(axis=1, keepdims=True)
    return weights


def min_ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Ranks along the last axis, 1 = best; ties share the best rank; NaN is not ranked."""
    missing = np.isnan(values)
    key = np.where(missing, np.inf, -values if higher_is_better else values)
    order = np.argsort(key, axis=-1, kind="stable")
    ordered = np.take_along_axis(key, order, axis=-1)
    position = np.broadcast_to(np.arange(key.shape[-1]), key.shape)
    starts = np.ones(key.shape, bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=-1)
    ranks = np.empty(key.shape)
    np.put_along_axis(ranks, order, first + 1.0, axis=-1)
    return np.where(missing, np.nan, ranks)


def win_rates(scores: np.ndarray, lower_is_better: bool = False) -> np.ndarray:
    """HELM's win rate along the last axis: the share of the other models beaten (ties half);
    0.5 when a model is alone; NaN where the score is."""
    valid = ~np.isnan(scores)
    n = valid.sum(axis=-1, keepdims=True)
    worst_first = min_ranks(scores, higher_is_better=lower_is_better)  # 1 = worst
    best_first = min_ranks(scores, higher_is_better=not lower_is_better)
    average_rank = (worst_first + n + 1 - best_first) / 2  # average rank, 1 = worst
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 1, (average_rank - 1) / np.maximum(n - 1, 1), 0.5)
    return np.where(valid, rate, np.nan)


def pareto_front(capability: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """True along the last axis where no other entry has capability ≥ and cost ≤ with one strict
    (exact ties are all on the front). Entries missing either value are False and dominate none."""
    valid = np.isfinite(capability) & np.isfinite(cost)
    cap = np.where(valid, capability, -np.inf)
    cst = np.where(valid, cost, np.inf)
    order = np.lexsort((-cap, cst), axis=-1)  # cheapest first, the more capable first among equal costs
    c = np.take_along_axis(cap, order, axis=-1)
    k = np.take_along_axis(cst, order, axis=-1)
    before = np.concatenate([np.full(c.shape[:-1] + (1,), -np.inf), np.maximum.accumulate(c, axis=-1)[..., :-1]], axis=-1)
    position = np.broadcast_to(np.arange(c.shape[-1]), c.shape)
    new_cost = np.ones(c.shape, bool)
    new_cost[..., 1:] = k[..., 1:] != k[..., :-1]
    group_start = np.maximum.accumulate(np.where(new_cost, position, 0), axis=-1)
    cheaper_best = np.take_along_axis(before, group_start, axis=-1)  # best capability at a strictly lower cost
    dominated = (before > c) | (cheaper_best >= c)
    front = np.empty(c.shape, bool)
    np.put_along_axis(front, order, ~dominated, axis=-1)
    return front & valid


def loading(measure: Measure) -> np.ndarray:
    """Each model's loading on its stack's shared error: σ_shared / σ, σ the mean of the stored
    interval's two sides; 0 where nothing is shared, at most 1."""
    sigma = (measure.sigma_lo + measure.sigma_hi) / 2
    shared = measure.shared if measure.shared is not None else np.full(sigma.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(sigma > 0, shared / sigma, 1.0)
    return np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)


def stack_error(z_shared: np.ndarray, z_own: np.ndarray, stack: np.ndarray, measure: Measure) -> np.ndarray:
    """(draws, models) multiplicative factors exp(z·σ) of one measure (1 where no interval is stored)."""
    a = loading(measure)
    z = a * z_shared[:, stack] + np.sqrt(1 - a ** 2) * z_own
    log_factor = np.where(z > 0, z * measure.sigma_hi, z * measure.sigma_lo)
    return np.exp(np.nan_to_num(log_factor, nan=0.0))


def interval(draws: np.ndarray, axis: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """The 5% and 95% points (`inverted_cdf`: values the draws took, so ranks stay whole)."""
    lo, hi = np.quantile(draws, QUANTILES, axis=axis, method="inverted_cdf")
    return lo, hi


def rank_interval(ranks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per column of (draws, models) whole ranks: the narrowest run of ranks lo..hi that holds at
    least 90% of the draws (ranks are discrete, so equal tails would hold far more than 90%:
    a model ranked 3 in 93% of draws and 4 in 7% gets 3..3, not 3..4). Of equally narrow runs,
    the one holding the most draws; NaN columns give NaN."""
    draws, models = ranks.shape
    valid = ~np.isnan(ranks).any(axis=0)
    top = int(np.nanmax(ranks)) if np.isfinite(ranks).any() else 1
    whole = np.where(np.isnan(ranks), 0, ranks).astype(int)
    histogram = np.zeros((models, top + 1))
    np.add.at(histogram, (np.broadcast_to(np.arange(models), whole.shape), whole), 1.0)
    cumulative = np.concatenate([np.zeros((models, 1)), np.cumsum(histogram, axis=1)], axis=1)  # [m, r] = draws with rank < r
    out_lo, out_hi = np.full(models, np.nan), np.full(models, np.nan)
    open_ = valid.copy()
    for width in range(top):  # widen until a run holds 90%; memory stays (models, ranks)
        starts = np.arange(1, top + 1 - width)
        held = cumulative[:, starts + width + 1] - cumulative[:, starts]  # (models, starts)
        best = held.argmax(axis=1)
        done = open_ & (held[np.arange(models), best] >= LEVEL * draws - 1e-9)
        out_lo[done], out_hi[done] = starts[best[done]], starts[best[done]] + width
        open_ &= ~done
        if not open_.any():
            break
    return out_lo, out_hi


# -- the draws ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    """A stratum's values as one contiguous (instances, columns) matrix, so each block of
    draws is a single product weights @ columns, and where each quantity's columns sit."""

    scenario: int
    columns: np.ndarray
    slices: Dict[str, slice]
    has: Dict[str, np.ndarray]  # quantity → (models,) bool: the model has values in this stratum


def _prepare(stratum: Stratum, wanted: Sequence[str], dtype=np.float32) -> _Prepared:
    """Columns: capability sums, then per wanted measure its totals; each followed by its counts
    (`_n`) unless every model has every instance once (then the count is the weights' sum, n)."""
    parts: Dict[str, np.ndarray] = {}
    has = {"capability": ~np.isnan(stratum.capability).all(axis=1)}
    parts["capability"] = np.nan_to_num(stratum.capability)
    if np.isnan(stratum.capability).any():
        parts["capability_n"] = (~np.isnan(stratum.capability)).astype(float)
    for name in wanted:
        values = stratum.totals.get(name)
        if values is None:
            continue
        has[name] = ~np.isnan(values).all(axis=1)
        parts[name] = np.nan_to_num(values)
        requests = np.where(np.isnan(values), 0.0, np.nan_to_num(stratum.requests.get(name, np.ones(values.shape))))
        if (requests != 1).any():
            parts[f"{name}_n"] = requests
    slices, start = {}, 0
    for key, values in parts.items():
        slices[key] = slice(start, start + values.shape[0])
        start += values.shape[0]
    columns = np.ascontiguousarray(np.concatenate(list(parts.values()), axis=0).T, dtype=dtype)
    return _Prepared(stratum.scenario, columns, slices, has)


SMALL_PRODUCT = 20_000_000  # multiply-adds below which numpy's own loop beats BLAS's thread hand-off (on busy cores by 10-40x)


def _product(weights: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """weights @ columns in float64: BLAS for large products, numpy's single-threaded loop for small."""
    if weights.shape[0] * weights.shape[1] * columns.shape[1] < SMALL_PRODUCT:
        return np.einsum("bn,nk->bk", weights, columns).astype(float)
    return (weights @ columns).astype(float)


def _block(board: Board, prepared: Sequence[_Prepared], weights: Sequence[np.ndarray], factors: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One block of draws: per scenario capability, efficiency and per-correct totals, (b, M, S).
    Sums build up scenario-first, (S, b, M), so each stratum adds to one contiguous slab."""
    models, scenarios = board.shape
    b = next(iter(factors.values())).shape[0]
    correctness = board.correctness if board.correctness is not None else np.zeros(scenarios, bool)
    cap_sum, cap_strata = np.zeros((scenarios, b, models)), np.zeros((scenarios, models))
    eff = {k: (np.zeros((scenarios, b, models)), np.zeros((scenarios, models))) for k in board.measures}
    totals = {k: np.zeros((scenarios, b, models)) for k in board.per_correct}
    correct = np.zeros((scenarios, b, models))
    counted = {k: np.zeros((scenarios, models), bool) for k in board.per_correct}  # per-instance cost and correctness
    with np.errstate(invalid="ignore", divide="ignore"):
        for p, w in zip(prepared, weights):
            s, y = p.scenario, _product(w, p.columns)
            n = float(w.shape[1])  # the weights of a resample sum to n
            number = (lambda key: y[:, p.slices[key]] if key in p.slices else n)
            has = p.has["capability"]
            total = y[:, p.slices["capability"]]
            cap_sum[s] += np.where(has, total / number("capability_n"), 0.0)
            cap_strata[s] += has
            if correctness[s]:
                correct[s] += np.where(has, total, 0.0)
            for name in board.measures:
                if name not in p.slices:
                    continue
                t, with_values = y[:, p.slices[name]], p.has[name]
                if name in eff:
                    eff[name][0][s] += np.where(with_values, t / number(f"{name}_n"), 0.0)
                    eff[name][1][s] += with_values
                if name in totals and correctness[s]:
                    totals[name][s] += np.where(with_values, t, 0.0)
                    counted[name][s] |= with_values & has
        last = lambda a: np.moveaxis(a, 0, -1)  # (S, b, M) → (b, M, S)
        out = {"capability": last(np.where(cap_strata[:, None, :] > 0, cap_sum / cap_strata[:, None, :], np.nan))}
        for name, (value, strata) in eff.items():
            point = board.measures[name].point.T[:, None, :]
            out[name] = last(np.where(strata[:, None, :] > 0, value / strata[:, None, :], point)) * factors[name][:, :, None]
    weight = np.nan_to_num(board.instances, nan=1.0) if board.instances is not None else np.ones((models, scenarios))
    for name in board.per_correct:  # scenarios without per-instance values: mean × instances
        here = counted[name].T
        out[f"correct:{name}"] = np.where(here, last(correct), board.capability * weight)
        out[f"total:{name}"] = np.where(here, last(totals[name]), board.measures[name].point * weight) * factors[name][:, :, None]
    return out


def _row_means(values: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Mean over each model's used scenarios: values (b, M, S) → (b, M); NaN if a used one is."""
    n = used.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(used, values, 0.0).sum(axis=-1) / n, np.nan)


def _scenario_scores(board: Board, capability: np.ndarray) -> np.ndarray:
    """Per scenario scores that average into capability: the values, or win rates (b, M, S)."""
    if not board.win_rate:
        return capability
    present = ~np.isnan(board.capability)
    lower = board.lower_is_better if board.lower_is_better is not None else np.zeros(board.shape[1], bool)
    out = np.full(capability.shape, np.nan)
    for s in range(board.shape[1]):
        scores = np.where(present[:, s], capability[:, :, s], np.nan)
        if np.isnan(scores[:, present[:, s]]).any():  # a model in this scenario has no draws
            continue
        out[:, :, s] = win_rates(scores, lower_is_better=bool(lower[s]))
    return out


def _per_correct(block: Dict[str, np.ndarray], name: str, used: np.ndarray, correctness: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Cost per correct answer over each model's used correctness scenarios, and per scenario."""
    total, right = block[f"total:{name}"], block[f"correct:{name}"]
    mask = used & correctness[None, :] & ~np.isnan(right[0]) & ~np.isnan(total[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = np.where(mask, total, 0.0).sum(-1) / np.where(mask, right, 0.0).sum(-1)
        overall = np.where(mask.any(axis=1), overall, np.nan)
        scenario = total / right
    return overall, scenario


def draw(board: Board, draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED, per_scenario: bool = False) -> Draws:
    """`draws` joint draws of every model's capability, efficiency and cost per correct answer."""
    rng = np.random.default_rng(seed)
    models, scenarios = board.shape
    stack = board.stack if board.stack is not None else np.zeros(models, int)
    stacks = int(stack.max()) + 1 if models else 1
    correctness = board.correctness if board.correctness is not None else np.zeros(scenarios, bool)
    used = board.used.astype(bool)
    prepared = [_prepare(s, list(board.measures)) for s in board.strata]
    parts: Dict[str, list] = {"capability": [], "efficiency": [], "s_capability": [], "s_efficiency": []}
    for name in board.per_correct:
        parts[f"pc:{name}"], parts[f"s_pc:{name}"] = [], []
    for start in range(0, draws, BLOCK):
        b = min(BLOCK, draws - start)
        weights = [resample_weights(rng, p.columns.shape[0], b) for p in prepared]
        z_shared, z_own = rng.standard_normal((b, stacks)), rng.standard_normal((b, models))
        factors = {k: stack_error(z_shared, z_own, stack, m) for k, m in board.measures.items()}
        block = _block(board, prepared, weights, factors)
        scores = _scenario_scores(board, block["capability"])
        parts["capability"].append(_row_means(scores, used))
        parts["efficiency"].append(_row_means(block[board.efficiency], used))
        for name in board.per_correct:
            overall, scenario = _per_correct(block, name, used, correctness)
            parts[f"pc:{name}"].append(overall)
            if per_scenario:
                parts[f"s_pc:{name}"].append(np.moveaxis(scenario, -1, 0).astype(np.float32))
        if per_scenario:
            parts["s_capability"].append(np.moveaxis(block["capability"], -1, 0).astype(np.float32))
            parts["s_efficiency"].append(np.moveaxis(block[board.efficiency], -1, 0).astype(np.float32))
    join = (lambda key, axis=0: np.concatenate(parts[key], axis=axis) if parts[key] else np.empty((0, models)))
    return Draws(
        capability=join("capability"), efficiency=join("efficiency"),
        per_correct={name: join(f"pc:{name}") for name in board.per_correct},
        scenario_capability=join("s_capability", 1) if per_scenario else None,
        scenario_efficiency=join("s_efficiency", 1) if per_scenario else None,
        scenario_per_correct={name: join(f"s_pc:{name}", 1) for name in board.per_correct} if per_scenario else None,
    )


def _point_block(board: Board) -> Dict[str, np.ndarray]:
    """The block for the observed instances themselves (each counted once, no stack error)."""
    prepared = [_prepare(s, list(board.measures), np.float64) for s in board.strata]
    weights = [np.ones((1, p.columns.shape[0])) for p in prepared]
    return _block(board, prepared, weights, {k: np.ones((1, board.shape[0])) for k in board.measures})


def point_per_correct(board: Board) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Cost per correct answer on the observed instances: per measure, (M,) over each model's
    used correctness scenarios and (M, S) per scenario."""
    block = _point_block(board)
    correctness = board.correctness if board.correctness is not None else np.zeros(board.shape[1], bool)
    out = {}
    for name in board.per_correct:
        overall, scenario = _per_correct(block, name, board.used.astype(bool), correctness)
        out[name] = (overall[0], np.where(correctness[None, :], scenario[0], np.nan))
    return out


# -- summaries ------------------------------------------------------------------------------------
def summarize(board: Board, result: Draws) -> Dict[str, np.ndarray]:
    """Per model (M,): 90% intervals of capability and efficiency, 90% rank intervals on each
    (1 = best), the probability of lying on the Pareto frontier, and cost per correct answer
    with its interval. NaN where the draws cannot say (the caller says why)."""
    models, _ = board.shape
    nan = np.full(models, np.nan)
    capability, efficiency = result.capability, result.efficiency
    has_capability = ~np.isnan(_row_means(board.capability[None], board.used.astype(bool))[0])
    has_efficiency = ~np.isnan(efficiency).all(axis=0) if len(efficiency) else np.zeros(models, bool)
    out: Dict[str, np.ndarray] = {}
    drawn = ~np.isnan(capability).any(axis=0) & has_capability
    lo, hi = interval(np.where(drawn, capability, 0.0)) if len(capability) else (nan, nan)
    out["capability_lo"], out["capability_hi"] = np.where(drawn, lo, np.nan), np.where(drawn, hi, np.nan)
    measure = board.measures[board.efficiency]
    uncertain = np.isfinite(measure.sigma_lo) | np.isfinite(measure.sigma_hi) | _has_instances(board, board.efficiency)
    lo, hi = interval(np.nan_to_num(efficiency)) if len(efficiency) else (nan, nan)
    keep = uncertain & has_efficiency
    out["efficiency_lo"], out["efficiency_hi"] = np.where(keep, lo, np.nan), np.where(keep, hi, np.nan)
    # Ranks and the front need every judged model's draws: one held fixed would fake certainty for all.
    cap_ok = has_capability.any() and not (has_capability & ~drawn).any()
    eff_ok = has_efficiency.any() and not (has_efficiency & ~uncertain).any()
    for prefix, values, judged, higher, ok in (("capability", capability, has_capability, not board.capability_lower_is_better, cap_ok),
                                                ("efficiency", efficiency, has_efficiency, False, eff_ok)):
        out[f"{prefix}_rank_lo"], out[f"{prefix}_rank_hi"] = nan.copy(), nan.copy()
        if ok and len(values):
            lo, hi = rank_interval(min_ranks(np.where(judged, values, np.nan), higher_is_better=higher))
            out[f"{prefix}_rank_lo"], out[f"{prefix}_rank_hi"] = lo, hi
    both = has_capability & has_efficiency
    out["pareto_probability"] = nan.copy()
    if len(capability) and both.any() and not (both & ~(drawn & uncertain)).any():
        better = capability if not board.capability_lower_is_better else -capability
        front = pareto_front(np.where(both, better, np.nan), np.where(both, efficiency, np.nan))
        out["pareto_probability"] = np.where(both, front.mean(axis=0), np.nan)
    points = point_per_correct(board)
    for name in board.per_correct:
        values = result.per_correct[name]
        out[f"{name}_per_correct"] = points[name][0]
        finite = ~np.isnan(values).any(axis=0) & _per_correct_drawn(board, name) if len(values) else np.zeros(models, bool)
        lo, hi = interval(np.where(finite, values, 0.0)) if len(values) else (nan, nan)  # a draw with none correct: inf
        out[f"{name}_per_correct_lo"], out[f"{name}_per_correct_hi"] = np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)
    return out


def _has_instances(board: Board, name: str) -> np.ndarray:
    """Models with per-instance values of a measure in some stratum."""
    found = np.zeros(board.shape[0], bool)
    for stratum in board.strata:
        if name in stratum.totals:
            found |= ~np.isnan(stratum.totals[name]).all(axis=1)
    return found


def _per_correct_drawn(board: Board, name: str) -> np.ndarray:
    """Models whose every used correctness scenario has per-instance capability and cost."""
    models, scenarios = board.shape
    have = np.zeros((models, scenarios), bool)
    for stratum in board.strata:
        values = stratum.totals.get(name)
        if values is not None:
            have[:, stratum.scenario] |= ~np.isnan(stratum.capability).all(axis=1) & ~np.isnan(values).all(axis=1)
    correctness = board.correctness if board.correctness is not None else np.zeros(scenarios, bool)
    needed = board.used.astype(bool) & correctness[None, :] & ~np.isnan(board.measures[name].point) & ~np.isnan(board.capability)
    return needed.any(axis=1) & ~(needed & ~have).any(axis=1)


def summarize_scenarios(board: Board, result: Draws) -> Dict[str, np.ndarray]:
    """Per (model, scenario), from per-scenario draws: capability interval, capability rank
    interval and Pareto probability among the scenario's models, cost per correct interval."""
    models, scenarios = board.shape
    out = {k: np.full((models, scenarios), np.nan) for k in ("capability_lo", "capability_hi", "capability_rank_lo", "capability_rank_hi",
                                                              "pareto_probability")}
    points = point_per_correct(board)
    for name in board.per_correct:
        out[f"{name}_per_correct"] = points[name][1]
        out[f"{name}_per_correct_lo"], out[f"{name}_per_correct_hi"] = np.full((models, scenarios), np.nan), np.full((models, scenarios), np.nan)
    if result.scenario_capability is None:
        return out
    correctness = board.correctness if board.correctness is not None else np.zeros(scenarios, bool)
    for s in range(scenarios):
        cap = result.scenario_capability[s].astype(float)
        eff = result.scenario_efficiency[s].astype(float)
        present = ~np.isnan(board.capability[:, s])
        drawn = present & ~np.isnan(cap).any(axis=0)
        if not drawn.any():
            continue
        lo, hi = interval(np.nan_to_num(cap))
        out["capability_lo"][drawn, s], out["capability_hi"][drawn, s] = lo[drawn], hi[drawn]
        lower = bool(board.lower_is_better[s]) if board.lower_is_better is not None else False
        if drawn[present].all():
            ranks = min_ranks(np.where(present, cap, np.nan), higher_is_better=not lower)
            lo, hi = rank_interval(ranks)
            out["capability_rank_lo"][present, s], out["capability_rank_hi"][present, s] = lo[present], hi[present]
            both = present & ~np.isnan(eff).any(axis=0)
            if both.any():
                front = pareto_front(np.where(both, -cap if lower else cap, np.nan), np.where(both, eff, np.nan))
                out["pareto_probability"][both, s] = front.mean(axis=0)[both]
        if correctness[s]:
            for name in board.per_correct:
                values = result.scenario_per_correct[name][s].astype(float)
                finite = drawn & ~np.isnan(values).any(axis=0)
                if finite.any():
                    lo, hi = interval(np.where(finite, values, 0.0))
                    out[f"{name}_per_correct_lo"][finite, s], out[f"{name}_per_correct_hi"][finite, s] = lo[finite], hi[finite]
    return out
