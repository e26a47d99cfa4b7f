"""HELM's aggregation of per-request stats, computed from the requests table in one pass.

The one path from requests-table rows to HELM stats, used by the live metric and by `rescore`,
so a run scored either way carries the same stats. It reproduces `Metric.evaluate` of crfm-helm
(checked against it in tests/test_aggregate.py):

- per-instance stats: one Stat per (instance, trial, perturbation) and stat name, in the
  instance's context (split, sub_split, perturbation); an instance with several requests
  (multiple_choice_separate adapters) gets one Stat over all of them;
- per trial: the mean over all of a context's requests; the aggregated Stat is over trials;
- HELM's worst-case copies (``compute_worst_case_metrics``): per instance, the minimum over the
  original and its perturbations (``computed_on: worst``) for ``robustness`` and ``fairness``
  (even when a run has no perturbations) and for each perturbation, plus the original values of
  the perturbed instances (``computed_on: original``). HELM takes the minimum whatever the stat's
  direction; so do we, for parity.

Names are produced by a ``render(stat, split, sub_split, perturbation_json, computed_on)``
callback, so rescore can write JSON dicts and the metric HELM `MetricName` objects.
pandas only: importing this loads neither helm nor torch.
"""

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.helm.metric_names import HELM_FILLED_STATS, PER_REQUEST_STATS
from helm_efficiency.helm.metric_names import STATS as STAT_SPECS
from helm_efficiency.helm.stats import run_count_values
from helm_efficiency.request_table.table import STATUS_OK

# HELM's PERTURBATION_WORST / PERTURBATION_ORIGINAL, and its two aggregate perturbations as
# `asdict_without_nones(PerturbationDescription(name=..., robustness/fairness=True))` writes them.
WORST = "worst"
ORIGINAL = "original"
ROBUSTNESS = json.dumps({"name": "robustness", "robustness": True, "fairness": False, "computed_on": "perturbed"}, sort_keys=True)
FAIRNESS = json.dumps({"name": "fairness", "robustness": False, "fairness": True, "computed_on": "perturbed"}, sort_keys=True)

# Measured timings are reported only for requests whose timing is usable (status ok).
TIMING_COLUMNS = ("raw_runtime_s",)
STAT_ORDER = {s.name: i for i, s in enumerate(PER_REQUEST_STATS)}
STAT_ORDER.update({name: len(PER_REQUEST_STATS) + i for i, name in enumerate(HELM_FILLED_STATS)})
COLUMN_OF = {s.name: s.column for s in PER_REQUEST_STATS}
CONTEXT = ["split", "sub_split", "perturbation_description"]
INSTANCE = ["instance_id", "train_trial_index"]
# Every requests-table column the aggregation reads (a caller may pass only these).
COLUMNS_READ = tuple(dict.fromkeys(INSTANCE + CONTEXT + ["status"] + [s.column for s in PER_REQUEST_STATS]))
MOMENTS = dict(count=("value", "size"), sum=("value", "sum"), sum_squared=("sq", "sum"), min=("value", "min"), max=("value", "max"))

Render = Callable[[str, Optional[str], Optional[str], Optional[str], Optional[str]], Any]
# A HELM Stat's numbers, in this order (a tuple per stat: runs have tens of thousands).
MOMENT_FIELDS = ("count", "sum", "sum_squared", "min", "max", "mean", "variance", "stddev")
Moments = Tuple[float, ...]


RUN = "run"
STATS: Tuple[Tuple[str, str], ...] = tuple((s.name, s.column) for s in PER_REQUEST_STATS)  # order = position
SCALES = np.array([s.scale for s in PER_REQUEST_STATS], float)  # a stat's value is its column × scale


def _none(value):
    """None for pandas' missing markers (NaN, None) in group keys."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _objects(column: pd.Series) -> np.ndarray:
    """A column as an object array, pandas' missing markers as None."""
    out = column.to_numpy(dtype=object, copy=True)
    out[pd.isna(column).to_numpy()] = None
    return out


def _moments(groups) -> List[Moments]:
    """HELM Stat fields (MOMENT_FIELDS order) from count/sum/sum_squared/min/max columns, with HELM's arithmetic."""
    columns = moment_arrays(groups["count"], groups["sum"], groups["sum_squared"], groups["min"], groups["max"])
    return list(zip(*(c.tolist() for c in columns)))


def moment_arrays(count, total, squares, low, high) -> Tuple[np.ndarray, ...]:
    """HELM Stat fields (MOMENT_FIELDS order) as arrays, elementwise, with HELM's arithmetic
    (Stat.add's sums; mean, population variance floored at 0, its square root)."""
    count = np.asarray(count, dtype=np.int64)
    total, squares = np.asarray(total, dtype=float), np.asarray(squares, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = total / count
        variance = np.maximum(squares / count - mean**2, 0.0)
        stddev = np.sqrt(variance)
    return count, total, squares, np.asarray(low, dtype=float), np.asarray(high, dtype=float), mean, variance, stddev


def stat_dict(name, moments: Moments) -> dict:
    """A Stat as HELM writes it to stats.json (fields without a value left out, as HELM does)."""
    return {field: value for field, value in zip(("name",) + MOMENT_FIELDS, (name,) + tuple(moments)) if value is not None}


def _flag(description: Optional[str], flag: str) -> bool:
    return bool(description) and bool(json.loads(description).get(flag))


def _worst_case_trial_means(per_instance: pd.DataFrame) -> pd.DataFrame:
    """HELM's compute_worst_case_metrics, then each trial's mean, per run: columns run,
    train_trial_index, order, stat, split, sub_split, perturbation_description, computed_on, value."""
    key = [RUN, "train_trial_index", "order", "stat", "split", "sub_split", "instance_id"]
    original = per_instance[per_instance["perturbation_description"].isna()]
    perturbed = per_instance[per_instance["perturbation_description"].notna()]
    derived = []
    # robustness / fairness: min over the original and every perturbation carrying the flag.
    for flag, description in (("robustness", ROBUSTNESS), ("fairness", FAIRNESS)):
        flags = {d: _flag(d, flag) for d in perturbed["perturbation_description"].unique()}
        flagged = perturbed[perturbed["perturbation_description"].map(flags).astype(bool)]
        pool = pd.concat([original, flagged])
        if len(pool):
            worst = pool.groupby(key, dropna=False, sort=False)["min"].min().rename("value").reset_index()
            derived.append(worst.assign(perturbation_description=description, computed_on=WORST))
    # each perturbation: min over it and the original; and the original's values ("before").
    if len(perturbed):
        joined = perturbed.merge(original, on=key, how="left", suffixes=("", "_original"))
        worst = joined.assign(value=np.fmin(joined["min"], joined["min_original"]))
        derived.append(worst[key + ["perturbation_description", "value"]].assign(computed_on=WORST))
        before = joined[joined["count_original"].notna()]
        if len(before):
            group = [RUN, "train_trial_index", "order", "stat", "split", "sub_split", "perturbation_description"]
            sums = before.groupby(group, dropna=False, sort=False)[["sum_original", "count_original"]].sum()
            means = (sums["sum_original"] / sums["count_original"]).rename("value").reset_index()
            derived.append(means.assign(computed_on=ORIGINAL))
    if not derived:
        return pd.DataFrame(columns=[RUN, "train_trial_index", "order", "stat", *CONTEXT, "computed_on", "value"])
    derived = pd.concat(derived, ignore_index=True)
    group = [RUN, "train_trial_index", "order", "stat", *CONTEXT, "computed_on"]
    # "before" rows are already trial means; worst rows are per instance (one value each).
    return derived.groupby(group, dropna=False, sort=False)["value"].mean().reset_index()


@dataclass
class PerInstance:
    """Per-instance stats of some runs: one row per (run, instance, trial, context), in the order
    the entries are written, one column per per-request stat (STATS order). Either `values` (one
    request per row: its value, NaN where not reported) or the sums over a row's requests
    (`count` 0 where not reported)."""

    run: np.ndarray
    instance_id: np.ndarray
    trial: np.ndarray
    split: np.ndarray
    sub_split: np.ndarray
    description: np.ndarray
    values: Optional[np.ndarray] = None
    count: Optional[np.ndarray] = None
    total: Optional[np.ndarray] = None
    squares: Optional[np.ndarray] = None
    low: Optional[np.ndarray] = None
    high: Optional[np.ndarray] = None

    def take(self, rows) -> "PerInstance":
        return PerInstance(**{k: (v[rows] if v is not None else None) for k, v in self.__dict__.items()})

    def present(self) -> np.ndarray:
        """(rows × stats) whether each stat is reported."""
        return ~np.isnan(self.values) if self.values is not None else self.count > 0

    def moments(self) -> Tuple[np.ndarray, ...]:
        """The Stat fields (MOMENT_FIELDS order), each (rows × stats), with HELM's arithmetic."""
        if self.values is not None:
            v = self.values
            return moment_arrays(np.ones(v.shape, np.int64), v, v**2, v, v)
        return moment_arrays(self.count, self.total, self.squares, self.low, self.high)

    def keys(self) -> List[tuple]:
        """Each row's per-instance entry key: (instance_id, trial, perturbation JSON)."""
        return list(zip(self.instance_id.tolist(), [int(t) for t in self.trial.tolist()], self.description.tolist()))


@dataclass
class RunStats:
    """One run's stats, from suite_stats: aggregated rows (run, order, stat, context,
    computed_on, Stat fields), sorted as HELM lists them, and its per-instance stats."""

    aggregated: pd.DataFrame
    per_instance: PerInstance

    def aggregated_stats(self, render: Render, helm_fill: Sequence[str] = ()) -> List[Tuple[Any, Moments]]:
        """(rendered name, moments) of every aggregated stat, then the HELM stats in
        `helm_fill` (from the same values, after ours, as HELM's order puts them)."""
        keys = self.aggregated[["stat", *CONTEXT, "computed_on"]].itertuples(index=False, name=None)
        rows = list(zip(keys, _moments(self.aggregated)))
        out = [(render(stat, *(_none(k) for k in context)), moments) for (stat, *context), moments in rows]
        for helm_name, ours in HELM_FILLED_STATS.items():
            if helm_name in helm_fill:
                out += [(render(helm_name, *(_none(k) for k in context)), moments) for (stat, *context), moments in rows if stat == ours]
        return out

    def per_instance_stats(self, render: Render, helm_fill: Sequence[str] = ()) -> Dict[tuple, List[Tuple[Any, Moments]]]:
        """{(instance_id, trial, perturbation JSON): [(rendered name, moments)]}: each entry's
        stats in STATS order, then the HELM stats in `helm_fill`."""
        part = self.per_instance
        present = part.present()
        moments = [m.tolist() for m in part.moments()]
        stats = list(enumerate(STATS)) + [(STAT_ORDER[HELM_FILLED_STATS[h]], (h, None)) for h in HELM_FILLED_STATS if h in helm_fill]
        names: Dict[tuple, Any] = {}
        out: Dict[tuple, List[Tuple[Any, Moments]]] = {}
        for row, key in enumerate(part.keys()):
            context = (part.split[row], part.sub_split[row], part.description[row])
            entry = out.setdefault(key, [])
            for j, (stat, _) in stats:
                if present[row, j]:
                    name = names.get((stat, context))
                    if name is None:
                        name = names[(stat, context)] = render(stat, *context, None)
                    entry.append((name, tuple(m[row][j] for m in moments)))
        return out


@dataclass
class SuiteStats:
    """The aggregation of every run of a suite (suite_stats), read back one run at a time."""

    aggregated: pd.DataFrame
    parts: List[PerInstance]
    aggregated_bounds: Dict[int, Tuple[int, int]]
    part_bounds: Dict[int, Tuple[int, int, int]]

    def run(self, code: int) -> RunStats:
        """Run `code` (its position among the suite's runs, in table order)."""
        a, b = self.aggregated_bounds.get(code, (0, 0))
        part, start, end = self.part_bounds.get(code, (0, 0, 0))
        return RunStats(self.aggregated.iloc[a:b], self.parts[part].take(slice(start, end)))


def _bounds(codes: np.ndarray) -> Dict[int, Tuple[int, int]]:
    """{code: (start, end)} of each run in rows sorted by run."""
    if not len(codes):
        return {}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    return {int(codes[a]): (int(a), int(b)) for a, b in zip(starts, ends)}


def stat_values(rows: pd.DataFrame) -> np.ndarray:
    """(requests × STATS) values the metric reports per request: finite values only (NaN
    elsewhere), measured timings only where the request's timing is usable (status ok)."""
    ok = (rows["status"] == STATUS_OK).to_numpy()
    values = np.empty((len(rows), len(STATS)))
    for j, (_, column) in enumerate(STATS):
        v = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(v)
        if column in TIMING_COLUMNS:
            keep &= ok
        values[:, j] = np.where(keep, v * SCALES[j] if SCALES[j] != 1.0 else v, np.nan)
    return values


def suite_stats(rows: pd.DataFrame, run: Optional[np.ndarray] = None) -> SuiteStats:
    """HELM's aggregation of every run in `rows` at once, vectorized over runs: per-instance
    stats, each trial's means, the worst-case copies and the aggregated stats. `run`: each
    row's run code (0, 1, ... in table order, rows of a run contiguous); default one run."""
    n = len(rows)
    run = np.zeros(n, np.int64) if run is None else np.asarray(run, np.int64)
    keys = {c: (_objects(rows[c]) if c in rows else np.full(n, None, dtype=object)) for c in INSTANCE + CONTEXT}
    values = stat_values(rows)
    runs = int(run.max()) + 1 if n else 0
    # Runs where an (instance, trial, perturbation) has several requests (multiple_choice_separate)
    # sum them per instance; others take each request as its instance's one value.
    duplicated = pd.DataFrame({RUN: run, "i": keys["instance_id"], "t": keys["train_trial_index"],
                               "d": keys["perturbation_description"]}).duplicated().to_numpy()
    grouped_run = np.zeros(runs, bool)
    grouped_run[run[duplicated]] = True
    perturbed_run = np.zeros(runs, bool)
    perturbed_run[run[keys["perturbation_description"] != None]] = True  # noqa: E711 (elementwise)
    grouped_row = grouped_run[run]

    parts, part_bounds, long_parts = [], {}, []
    one = np.flatnonzero(~grouped_row)
    if len(one):
        present = ~np.isnan(values[one])
        has = present.any(axis=1)
        first = np.argmax(present, axis=1)
        # Entries in the order HELM's per-request listing first reaches them: by the first stat
        # they report, then request order.
        perm = np.lexsort((one, first, run[one]))
        order = one[perm[has[perm]]]
        part = PerInstance(run[order], *(keys[c][order] for c in INSTANCE + CONTEXT), values=values[order])
        parts.append(part)
        part_bounds.update({code: (len(parts) - 1, a, b) for code, (a, b) in _bounds(part.run).items()})
        worst_rows = one[perturbed_run[run[one]]]
        if len(worst_rows):  # HELM's listing order (stat by stat), for its worst-case copies
            long_parts.append(_long(run[worst_rows], {c: keys[c][worst_rows] for c in INSTANCE + CONTEXT},
                                    np.ones((len(worst_rows), len(STATS)), np.int64), values[worst_rows], values[worst_rows],
                                    ~np.isnan(values[worst_rows]), stat_major=True))
    several = np.flatnonzero(grouped_row)
    if len(several):
        part = _grouped(run[several], {c: keys[c][several] for c in INSTANCE + CONTEXT}, values[several])
        parts.append(part)
        part_bounds.update({code: (len(parts) - 1, a, b) for code, (a, b) in _bounds(part.run).items()})
        long_parts.append(_long(part.run, {"instance_id": part.instance_id, "train_trial_index": part.trial, "split": part.split,
                                           "sub_split": part.sub_split, "perturbation_description": part.description},
                                part.count, part.total, part.low, part.count > 0, stat_major=False))

    trial = _trial_means(run, keys, values)
    plain = trial[~(grouped_run | perturbed_run)[trial[RUN].to_numpy()]]
    # No perturbations and one value per instance: the robustness and fairness "worst" of an
    # instance is its own value, so their trial means are the plain ones (HELM adds them anyway).
    worst = [plain.assign(perturbation_description=d, computed_on=WORST) for d in (ROBUSTNESS, FAIRNESS)]
    if long_parts:
        worst.append(_worst_case_trial_means(pd.concat(long_parts, ignore_index=True)))
    trials = pd.concat([trial] + worst, ignore_index=True)
    trials["sq"] = trials["value"] ** 2
    over_trials = trials.groupby([RUN, "order", "stat", *CONTEXT, "computed_on"], dropna=False, sort=True).agg(**MOMENTS).reset_index()
    return SuiteStats(over_trials, parts, _bounds(over_trials[RUN].to_numpy()), part_bounds)


def _long(run, keys, count, total, low, present, stat_major: bool) -> pd.DataFrame:
    """Per-instance stats one row per (entry, stat) reported, for the worst-case copies: stat
    by stat (HELM's per-request listing) or entry by entry (sorted groups)."""
    rows, stats = np.nonzero(present.T if stat_major else present)
    if stat_major:
        rows, stats = stats, rows
    frame = pd.DataFrame({RUN: run[rows], **{c: keys[c][rows] for c in keys}, "order": stats,
                          "stat": np.array([name for name, _ in STATS], dtype=object)[stats]})
    return frame.assign(count=count[rows, stats], sum=total[rows, stats], min=low[rows, stats])


def _grouped(run, keys, values) -> PerInstance:
    """Per-instance sums of runs with several requests per instance, entries sorted by key."""
    columns = list(range(len(STATS)))
    frame = pd.DataFrame(values, columns=columns)
    squares = pd.DataFrame(values**2, columns=columns)
    by = [run] + [keys[c] for c in INSTANCE + CONTEXT]
    grouped, grouped_squares = frame.groupby(by, dropna=False, sort=True), squares.groupby(by, dropna=False, sort=True)
    count = grouped.count()
    index = count.index.to_frame(index=False)
    part = PerInstance(index.iloc[:, 0].to_numpy(np.int64), *(_objects(index.iloc[:, i + 1]) for i in range(5)),
                       count=count.to_numpy(np.int64), total=grouped.sum().to_numpy(float), squares=grouped_squares.sum().to_numpy(float),
                       low=grouped.min().to_numpy(float), high=grouped.max().to_numpy(float))
    return part.take(np.flatnonzero((part.count > 0).any(axis=1)))


def _trial_means(run, keys, values) -> pd.DataFrame:
    """Each (run, trial, context)'s mean of each stat over its requests: columns run,
    train_trial_index, order, stat, split, sub_split, perturbation_description, value, computed_on."""
    by = [run] + [keys[c] for c in ("train_trial_index", *CONTEXT)]
    grouped = pd.DataFrame(values).groupby(by, dropna=False, sort=True)
    means, counts = grouped.mean(), grouped.count().to_numpy()
    groups, stats = np.nonzero(counts > 0)
    index = means.index.to_frame(index=False)
    out = {name: (index.iloc[groups, i].to_numpy() if i else index.iloc[groups, 0].to_numpy(np.int64))
           for i, name in enumerate([RUN, "train_trial_index", *CONTEXT])}
    trial = pd.DataFrame({RUN: out[RUN], "train_trial_index": out["train_trial_index"], "order": stats,
                          "stat": np.array([name for name, _ in STATS], dtype=object)[stats],
                          **{c: out[c] for c in CONTEXT}, "value": means.to_numpy()[groups, stats]})
    trial["computed_on"] = None
    return trial


def run_stats(rows: pd.DataFrame, render: Render, helm_fill: Sequence[str] = ()) -> Tuple[List[Tuple[Any, Moments]], Dict[tuple, List[Tuple[Any, Moments]]]]:
    """(aggregated stats, per-instance stats keyed by (instance_id, trial, perturbation JSON)),
    each stat a (rendered name, moments) pair, for the per-request stats of one run's `rows` (and
    the HELM stats named in `helm_fill`, from the same values)."""
    stats = suite_stats(rows).run(0)
    return stats.aggregated_stats(render, helm_fill), stats.per_instance_stats(render, helm_fill)


def run_count_stats(rows: pd.DataFrame, render: Render) -> List[Tuple[Any, Moments]]:
    """The run-level counts (helm/stats.py), one Stat per split, as (rendered name, moments)."""
    return [(render(name, split, None, None, None), run_count_moments(value))
            for split, group in rows.groupby(rows["split"].fillna("test"), sort=True) for name, value in run_count_values(group)]


# A Stat computed with no value (HELM's "count 0, mean undefined", as its bias metrics write for 0/0).
EMPTY_MOMENTS: Moments = (0, 0.0, 0.0, None, None, None, None, None)


def placeholder_stats(rows: pd.DataFrame, render: Render, present: set) -> List[Tuple[Any, Moments]]:
    """A count-0 Stat for each of our stats that a split of the run has no value for (main
    context: no sub_split, no perturbation), so helm-summarize shows an empty cell where it
    would otherwise warn that the stat is missing (a CPU table has no energy, say).
    `present`: the (stat name, split) pairs already written."""
    splits = sorted(set(rows["split"].fillna("test"))) if "split" in rows else ["test"]
    return [(render(spec.name, split, None, None, None), EMPTY_MOMENTS) for split in splits for spec in STAT_SPECS
            if (spec.name, split) not in present]


def run_count_moments(value: float) -> Moments:
    """Moments of a Stat holding one value (the run-level counts)."""
    return (1, value, value * value, value, value, value, 0.0, 0.0)


def json_name(stat: str, split: Optional[str], sub_split: Optional[str], description: Optional[str],
              computed_on: Optional[str]) -> dict:
    """A MetricName as HELM writes it to stats.json (None fields dropped)."""
    out: Dict[str, Any] = {"name": stat}
    if split is not None:
        out["split"] = split
    if sub_split is not None:
        out["sub_split"] = sub_split
    if description is not None:
        perturbation = json.loads(description)
        if computed_on is not None:
            perturbation["computed_on"] = computed_on
        out["perturbation"] = perturbation
    return out
