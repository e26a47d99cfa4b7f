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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.helm.metric_names import HELM_FILLED_STATS, PER_REQUEST_STATS, STATS
from helm_efficiency.helm.stats import run_count_values
from helm_efficiency.requests import STATUS_OK

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


def _none(value):
    """None for pandas' missing markers (NaN, None) in group keys."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _column_values(column: pd.Series) -> list:
    """A column as a list, pandas' missing markers as None."""
    out = column.to_numpy(dtype=object)
    out[pd.isna(column).to_numpy()] = None
    return out.tolist()


def long_values(rows: pd.DataFrame, helm_fill: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (request, stat) with a finite value: what the metric reports per request.
    helm_fill: HELM stat names (metric_names.HELM_FILLED_STATS) to report too, from our values."""
    for column in ("sub_split", "perturbation_description"):
        if column not in rows:
            rows = rows.assign(**{column: None})
    keys = rows[INSTANCE + CONTEXT].astype(object)
    keys = keys.where(keys.notna(), None)
    frames = []
    stats = [(s.name, s.column, s.scale) for s in PER_REQUEST_STATS]
    stats += [(helm_name, COLUMN_OF[HELM_FILLED_STATS[helm_name]], 1.0) for helm_name in HELM_FILLED_STATS if helm_name in helm_fill]
    for name, column, scale in stats:
        values = pd.to_numeric(rows[column], errors="coerce").astype(float)
        if scale != 1.0:
            values = values * scale
        keep = np.isfinite(values.to_numpy())
        if column in TIMING_COLUMNS:
            keep &= (rows["status"] == STATUS_OK).to_numpy()
        frames.append(keys[keep].assign(stat=name, value=values[keep].to_numpy(), order=STAT_ORDER[name]))
    values = pd.concat(frames, ignore_index=True)
    values["sq"] = values["value"] ** 2
    return values


def _moments(groups: pd.DataFrame) -> List[Moments]:
    """HELM Stat fields (MOMENT_FIELDS order) from count/sum/sum_squared/min/max columns, with HELM's arithmetic."""
    count = groups["count"].to_numpy(dtype=np.int64)
    total = groups["sum"].to_numpy(dtype=float)
    squares = groups["sum_squared"].to_numpy(dtype=float)
    mean = total / count
    variance = np.maximum(squares / count - mean**2, 0.0)
    return list(zip(count.tolist(), total.tolist(), squares.tolist(), groups["min"].astype(float).tolist(),
                    groups["max"].astype(float).tolist(), mean.tolist(), variance.tolist(), np.sqrt(variance).tolist()))


def stat_dict(name, moments: Moments) -> dict:
    """A Stat as HELM writes it to stats.json (fields without a value left out, as HELM does)."""
    return {field: value for field, value in zip(("name",) + MOMENT_FIELDS, (name,) + tuple(moments)) if value is not None}


def _flag(description: Optional[str], flag: str) -> bool:
    return bool(description) and bool(json.loads(description).get(flag))


def _worst_case_trial_means(per_instance: pd.DataFrame) -> pd.DataFrame:
    """HELM's compute_worst_case_metrics, then each trial's mean: columns train_trial_index,
    order, stat, split, sub_split, perturbation_description, computed_on, value."""
    key = ["train_trial_index", "order", "stat", "split", "sub_split", "instance_id"]
    original = per_instance[per_instance["perturbation_description"].isna()]
    perturbed = per_instance[per_instance["perturbation_description"].notna()]
    derived = []
    # robustness / fairness: min over the original and every perturbation carrying the flag.
    for flag, description in (("robustness", ROBUSTNESS), ("fairness", FAIRNESS)):
        flagged = perturbed[perturbed["perturbation_description"].map(lambda d, f=flag: _flag(d, f))]
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
            group = ["train_trial_index", "order", "stat", "split", "sub_split", "perturbation_description"]
            sums = before.groupby(group, dropna=False, sort=False)[["sum_original", "count_original"]].sum()
            means = (sums["sum_original"] / sums["count_original"]).rename("value").reset_index()
            derived.append(means.assign(computed_on=ORIGINAL))
    if not derived:
        return pd.DataFrame(columns=["train_trial_index", "order", "stat", *CONTEXT, "computed_on", "value"])
    derived = pd.concat(derived, ignore_index=True)
    group = ["train_trial_index", "order", "stat", *CONTEXT, "computed_on"]
    # "before" rows are already trial means; worst rows are per instance (one value each).
    return derived.groupby(group, dropna=False, sort=False)["value"].mean().reset_index()


def run_stats(rows: pd.DataFrame, render: Render, helm_fill: Sequence[str] = ()) -> Tuple[List[Tuple[Any, Moments]], Dict[tuple, List[Tuple[Any, Moments]]]]:
    """(aggregated stats, per-instance stats keyed by (instance_id, trial, perturbation JSON)),
    each stat a (rendered name, moments) pair, for the per-request stats of `rows` (and the
    HELM stats named in `helm_fill`, from the same values)."""
    values = long_values(rows, helm_fill)
    group = INSTANCE + CONTEXT + ["order", "stat"]
    keys = rows.reindex(columns=INSTANCE + ["perturbation_description"]).astype(object)
    one_request_per_instance = not keys.where(keys.notna(), None).duplicated().any()
    if one_request_per_instance:
        # One request per (instance, trial, perturbation), as HELM's generation adapters make:
        # each per-instance Stat holds one value, no grouping needed. long_values lists the
        # rows stat by stat, so each instance's stats come out in PER_REQUEST_STATS order.
        per_instance = values.rename(columns={"value": "sum", "sq": "sum_squared"}).assign(count=1)
        per_instance["min"] = per_instance["max"] = per_instance["sum"]
    else:  # several requests per instance (multiple_choice_separate adapters)
        per_instance = values.groupby(group, dropna=False, sort=True).agg(**MOMENTS).reset_index()
    by_instance: Dict[tuple, List[Tuple[Any, Moments]]] = {}
    names: Dict[tuple, Any] = {}  # one rendered name per (stat, context): a run has few, and many instances
    levels = [_column_values(per_instance[c]) for c in group]
    for instance_id, trial, split, sub_split, description, _, stat, moments in zip(*levels, _moments(per_instance)):
        key = (stat, split, sub_split, description)
        name = names.get(key)
        if name is None:
            name = names[key] = render(stat, split, sub_split, description, None)
        by_instance.setdefault((instance_id, int(trial), description), []).append((name, moments))

    trial = values.groupby(["train_trial_index", "order", "stat", *CONTEXT], dropna=False, sort=True)["value"].mean().reset_index()
    trial["computed_on"] = None
    if one_request_per_instance and per_instance["perturbation_description"].isna().all():
        # No perturbations and one value per instance: the robustness and fairness "worst" of an
        # instance is its own value, so their trial means are the plain ones (HELM adds them anyway).
        worst = pd.concat([trial.assign(perturbation_description=d, computed_on=WORST) for d in (ROBUSTNESS, FAIRNESS)])
    else:
        worst = _worst_case_trial_means(per_instance)
    trials = pd.concat([trial, worst], ignore_index=True)
    trials["sq"] = trials["value"] ** 2
    over_trials = trials.groupby(["order", "stat", *CONTEXT, "computed_on"], dropna=False, sort=True).agg(**MOMENTS)
    aggregated = []
    for key, moments in zip(over_trials.index.tolist(), _moments(over_trials)):
        _, stat, split, sub_split, description, computed_on = (_none(k) for k in key)
        aggregated.append((render(stat, split, sub_split, description, computed_on), moments))
    return aggregated, by_instance


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
    return [(render(spec.name, split, None, None, None), EMPTY_MOMENTS) for split in splits for spec in STATS
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
