"""The leaderboard's uncertainty columns: from the run table and the runs' per-instance values
to the arrays uncertainty.py draws from, and back to per-model (and per-scenario) columns.

Capability is resampled only where per_instance_stats.json lists every instance stats.json
counts and at least MIN_INSTANCES of them; elsewhere the row says why it has no interval.
Efficiency intervals come from the stored 90% intervals (`_lo`/`_hi` stats) of the idealized
and served measures; measured runtimes carry none. docs/leaderboard_uncertainty.md has the rules.
"""

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm.metric_names import PER_REQUEST_STATS
from helm_efficiency.report.instance_stats import instance_count_note, stratum_key, suite_instances
from helm_efficiency.report.uncertainty import (DEFAULT_DRAWS, DEFAULT_SEED, LEVEL, Z90, Board, Measure, Stratum, draw, summarize,
                                               summarize_scenarios)
from helm_efficiency.util import data_paths

# With fewer instances per run the 90% rank intervals cover the true rank less than 85% of the time
# (one scenario of 20 instances: 85%; of 30: 89%; docs/leaderboard_uncertainty.md has the command).
MIN_INSTANCES = 30
# Per-instance 0/1 metrics: the share correct, so cost ÷ number correct is cost per correct answer.
CORRECTNESS_METRICS = ("exact_match", "quasi_exact_match", "prefix_exact_match", "quasi_prefix_exact_match",
                       "final_number_exact_match", "math_equiv", "math_equiv_chain_of_thought", "chain_of_thought_correctness")
# Each measure's stored 90% interval: (low column, high column, the point they bracket). Cost is
# runtime × GPUs × a fixed price, so it carries runtime's relative interval.
INTERVALS: Dict[str, Tuple[str, str, str]] = {
    "idealized_runtime_s": ("idealized_runtime_lo_s", "idealized_runtime_hi_s", "idealized_runtime_s"),
    "idealized_cost_usd": ("idealized_runtime_lo_s", "idealized_runtime_hi_s", "idealized_runtime_s"),
    "idealized_energy_j": ("idealized_energy_lo_j", "idealized_energy_hi_j", "idealized_energy_j"),
    "served_gpu_s": ("served_gpu_s_lo", "served_gpu_s_hi", "served_gpu_s"),
    "served_cost_usd": ("served_cost_usd_lo", "served_cost_usd_hi", "served_cost_usd"),
}
INTERVAL_COLUMNS = tuple(dict.fromkeys(c for lo, hi, _ in INTERVALS.values() for c in (lo, hi)))
PER_CORRECT = {"idealized_cost_usd": "cost_per_correct_usd", "served_cost_usd": "served_cost_per_correct_usd"}
STAT_OF_COLUMN = {s.column: s.name for s in PER_REQUEST_STATS if s.scale == 1.0}  # the stat in the column's own unit


@dataclass(frozen=True)
class Prepared:
    """The Board and what maps it back: model and scenario order, and why rows lack draws."""

    board: Board
    models: List[str]
    scenarios: List[str]
    notes: Dict[str, List[str]]


def is_correctness(metric: Optional[str]) -> bool:
    return isinstance(metric, str) and metric in CORRECTNESS_METRICS


def _means(runs: pd.DataFrame, column: str, models: Sequence[str], scenarios: Sequence[str], how: str = "mean") -> np.ndarray:
    """(models, scenarios) of a run column, runs of one scenario averaged (or summed)."""
    if column not in runs:
        return np.full((len(models), len(scenarios)), np.nan)
    values = pd.to_numeric(runs[column], errors="coerce")
    grouped = values.groupby([runs["model"], runs["scenario"]])
    table = grouped.sum(min_count=1) if how == "sum" else grouped.mean()
    return table.unstack().reindex(index=models, columns=scenarios).to_numpy(float)


def _sigmas(runs: pd.DataFrame, measure: str, used: np.ndarray, models: Sequence[str], scenarios: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Per model, the stored interval's log standard deviations below and above the point,
    averaged over the model's used scenarios like the point itself (NaN where none is stored)."""
    if measure not in INTERVALS:
        nan = np.full(len(models), np.nan)
        return nan, nan.copy()
    lo_column, hi_column, point_column = INTERVALS[measure]

    def row(column: str) -> np.ndarray:  # mean over the used scenarios that have a value
        values = np.where(used, _means(runs, column, models, scenarios), np.nan)
        n = (~np.isnan(values)).sum(axis=1)
        return np.where(n > 0, np.nansum(values, axis=1) / np.maximum(n, 1), np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        point, lo, hi = row(point_column), row(lo_column), row(hi_column)
        sigma_lo = np.log(point / lo) / Z90
        sigma_hi = np.log(hi / point) / Z90
    ok = np.isfinite(sigma_lo) & np.isfinite(sigma_hi) & (sigma_lo >= 0) & (sigma_hi >= 0)
    return np.where(ok, sigma_lo, np.nan), np.where(ok, sigma_hi, np.nan)


@lru_cache(maxsize=None)
def shared_sigma(stack: Optional[str], measure: str) -> float:
    """The log standard deviation of the error every model priced on `stack` shares, for a
    measure: from the stored correction's variance components, the between-source variance τ²
    (a new deployment of the stack moves all its models alike) plus the error of the
    correction's mean, se², on the scale of the interval the tables store (the Student t
    quantile over Z90). Batch-1 measures read the stack framework's correction
    (tables/data/anchor_correction.json; the smaller of its two phases), served ones the served
    correction. NaN for a stack without a correction (the CPU table, the 2022 tables, a JSON
    path, several stacks): nothing is shared, models vary independently."""
    import json

    from scipy.stats import t as student_t

    from helm_efficiency.sources.aiconfigurator import STACKS

    if not isinstance(stack, str) or stack not in STACKS or measure not in INTERVALS:
        return float("nan")
    if measure.startswith("served"):
        from helm_efficiency.sources.served_correction import load_served_correction

        served = load_served_correction()
        components = [((served or {}).get("quantities") or {}).get("gpu", {}).get("variance_components")]
    else:
        with open(data_paths.ANCHOR_CORRECTION_PATH) as f:
            phases = json.load(f).get("frameworks", {}).get(STACKS[stack].backend, {})
        components = [phase.get("variance_components") for phase in phases.values()]
    sigmas = [float(student_t.ppf(0.95, max(1, int(c.get("sources", 2)) - 1))) / Z90 * np.sqrt(max(0.0, c["between"]) + max(0.0, c["se2"]))
              for c in components if c and "between" in c and "se2" in c]
    return min(sigmas) if sigmas else float("nan")


def _stack_codes(table: pd.DataFrame) -> np.ndarray:
    """Models priced on one stack share a code; a model without a stack has its own."""
    stacks = table["stack"] if "stack" in table else pd.Series([None] * len(table))
    codes, seen = [], {}
    for i, stack in enumerate(stacks):
        key = stack if isinstance(stack, str) and stack else f"\0{i}"
        codes.append(seen.setdefault(key, len(seen)))
    return np.array(codes, int)


def prepare(table: pd.DataFrame, runs: pd.DataFrame, instances: Optional[Mapping[str, object]], efficiency_column: str) -> Prepared:
    """The Board for `table` (model_table's rows, with attrs['used_scenarios']) from the run
    table and {run: per-instance table or why none} (None: no per-instance source at all)."""
    models = [str(m) for m in table["model"]]
    runs = runs[runs["model"].isin(models)].copy()
    runs["accuracy"] = pd.to_numeric(runs["accuracy"], errors="coerce")
    scenarios = sorted(runs["scenario"].astype(str).unique())
    runs["scenario"] = runs["scenario"].astype(str)
    m_index, s_index = {m: i for i, m in enumerate(models)}, {s: j for j, s in enumerate(scenarios)}
    used = np.zeros((len(models), len(scenarios)), bool)
    for model, names in table.attrs.get("used_scenarios", {}).items():
        for name in names:
            if model in m_index and str(name) in s_index:
                used[m_index[model], s_index[str(name)]] = True
    capability = _means(runs, "accuracy", models, scenarios)
    metric_of = runs.dropna(subset=["accuracy"]).groupby("scenario")["metric"].first() if "metric" in runs else pd.Series(dtype=object)
    win_rate = runs.loc[runs["accuracy"].notna(), "metric"].dropna().nunique() > 1 if "metric" in runs else False
    lower = np.array([bool(runs.loc[runs["scenario"] == s, "lower_is_better"].fillna(False).astype(bool).any()) if "lower_is_better" in runs else False
                      for s in scenarios])
    wanted = list(dict.fromkeys([efficiency_column, *PER_CORRECT]))
    measures = {}
    stacks = table["stack"] if "stack" in table else pd.Series([None] * len(table))
    for name in wanted:
        sigma_lo, sigma_hi = _sigmas(runs, name, used, models, scenarios)
        shared = np.array([shared_sigma(stack if isinstance(stack, str) else None, name) for stack in stacks])
        measures[name] = Measure(_means(runs, name, models, scenarios), sigma_lo, sigma_hi, shared)
    notes: Dict[str, List[str]] = {m: [] for m in models}
    strata, correct_ok = _strata(runs, instances, wanted, m_index, s_index, used, notes)
    correctness = np.array([is_correctness(metric_of.get(s)) for s in scenarios]) & correct_ok
    board = Board(capability=capability, used=used, measures=measures, efficiency=efficiency_column, strata=strata,
                  stack=_stack_codes(table), win_rate=bool(win_rate), lower_is_better=lower, correctness=correctness,
                  capability_lower_is_better=bool(table.attrs.get("capability_lower_is_better", False)),
                  per_correct=[m for m in PER_CORRECT if m in measures], instances=_means(runs, "num_instances", models, scenarios, "sum"))
    return Prepared(board, models, scenarios, notes)


def _strata(runs: pd.DataFrame, instances: Optional[Mapping[str, object]], wanted: Sequence[str], m_index: Dict[str, int],
            s_index: Dict[str, int], used: np.ndarray, notes: Dict[str, List[str]]) -> Tuple[List[Stratum], np.ndarray]:
    """Strata (one per run name without its model) with each model's per-instance values. A
    model whose run in a scenario cannot be resampled (no file, too few or missing instances)
    keeps no values in any stratum of that scenario, and its note says why. Also, per scenario,
    whether every per-instance capability value is a share in [0, 1] (a correctness metric)."""
    models, scenarios = len(m_index), len(s_index)
    share = np.ones(scenarios, bool)
    if instances is None:
        for model in notes:
            notes[model].append("no per-instance values in this source")
        return [], share
    runs = runs.assign(stratum=runs["run"].astype(str).map(stratum_key))
    blocked = np.zeros((models, scenarios), bool)
    tables: Dict[Tuple[str, int], pd.DataFrame] = {}
    for _, run in runs.iterrows():
        m, s = m_index[run["model"]], s_index[run["scenario"]]
        found = instances.get(run["run"], "no per-instance values read")
        reason = found if isinstance(found, str) else None
        if reason is None:
            values = found["capability"].dropna() if "capability" in found else pd.Series(dtype=float)
            reason = instance_count_note(len(values), run.get("num_instances"), run["metric"])
            if reason is None and len(values) < MIN_INSTANCES:
                reason = f"{len(values)} instances (fewer than {MIN_INSTANCES} cannot be resampled)"
            if reason is None:
                tables[(run["stratum"], m)] = found.set_index("instance_id")
                share[s] &= bool(((values >= 0) & (values <= 1)).all())
        if reason is not None:
            blocked[m, s] = True
            if used[m, s]:  # a scenario the row averages over
                notes[run["model"]].append(f"{run['run']}: {reason}")
    strata = []
    for key, group in runs.groupby("stratum", sort=True):
        s = s_index[group["scenario"].iloc[0]]
        members = [(m, tables[(key, m)]) for m in sorted({m_index[x] for x in group["model"]}) if (key, m) in tables and not blocked[m, s]]
        if not members:
            continue
        ids = sorted(set().union(*(t.index for _, t in members)))
        cap = np.full((models, len(ids)), np.nan)
        totals = {name: np.full((models, len(ids)), np.nan) for name in wanted}
        requests = {name: np.full((models, len(ids)), np.nan) for name in wanted}
        for m, t in members:
            t = t[~t.index.duplicated()].reindex(ids)
            cap[m] = t["capability"].to_numpy(float)
            for name in wanted:
                if name in t and t[name].notna().any():
                    totals[name][m] = t[name].to_numpy(float)
                    requests[name][m] = t[f"{name}_n"].to_numpy(float) if f"{name}_n" in t else np.where(t[name].isna(), np.nan, 1.0)
        strata.append(Stratum(s, cap, totals, requests))
    return strata, share


def uncertainty_columns(table: pd.DataFrame, runs: pd.DataFrame, instances: Optional[Mapping[str, object]], efficiency_column: str,
                        draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED, per_scenario: bool = False) -> Tuple[pd.DataFrame, Optional[pd.DataFrame]]:
    """The table with its uncertainty columns added (see docs/leaderboard_uncertainty.md), and,
    when per_scenario, one row per (model, scenario) with the scenario-level values."""
    prepared = prepare(table, runs, instances, efficiency_column)
    board = prepared.board
    result = draw(board, draws=draws, seed=seed, per_scenario=per_scenario)
    summary = summarize(board, result)
    out = table.copy()
    out["capability_lo"], out["capability_hi"] = summary["capability_lo"], summary["capability_hi"]
    out[f"{efficiency_column}_lo"], out[f"{efficiency_column}_hi"] = summary["efficiency_lo"], summary["efficiency_hi"]
    for prefix in ("capability", "efficiency"):
        for end in ("lo", "hi"):
            out[f"{prefix}_rank_{end}"] = pd.array(summary[f"{prefix}_rank_{end}"], dtype="Float64").round().astype("Int64")
    out["rank_lo"], out["rank_hi"] = out["capability_rank_lo"], out["capability_rank_hi"]
    out["pareto_probability"] = summary["pareto_probability"]
    for measure, column in PER_CORRECT.items():
        if measure in board.per_correct:
            out[column] = summary[f"{measure}_per_correct"]
            out[f"{column}_lo"], out[f"{column}_hi"] = summary[f"{measure}_per_correct_lo"], summary[f"{measure}_per_correct_hi"]
    out["uncertainty_note"] = [_note(prepared, i) for i in range(len(prepared.models))]
    out.attrs.update(table.attrs)
    out.attrs["uncertainty"] = _caption(out, draws, seed, efficiency_column)
    out.attrs["efficiency_column"] = efficiency_column
    scenario_table = _scenario_rows(prepared, summarize_scenarios(board, result)) if per_scenario else None
    return out, scenario_table


def add_uncertainty(source: str, table: pd.DataFrame, runs: pd.DataFrame, efficiency_column: str, draws: int = DEFAULT_DRAWS,
                    seed: int = DEFAULT_SEED, per_scenario: bool = False) -> Tuple[pd.DataFrame, Optional[pd.DataFrame]]:
    """uncertainty_columns for a leaderboard source: a suite folder's runs are read for their
    per-instance values; a HELM 2022 CSV has none (its rows then say so)."""
    if draws < 100:
        raise EfficiencyInputError(source, "--draws", f"{draws} draws cannot give 90% intervals; use 100 or more (default {DEFAULT_DRAWS})")
    instances = None
    if os.path.isdir(source) and "run" in runs:
        stats = {c: STAT_OF_COLUMN[c] for c in dict.fromkeys([efficiency_column, *PER_CORRECT]) if c in STAT_OF_COLUMN}
        instances = suite_instances(source, runs[runs["model"].isin(table["model"])], stats)
    return uncertainty_columns(table, runs, instances, efficiency_column, draws=draws, seed=seed, per_scenario=per_scenario)


def _note(prepared: Prepared, i: int) -> str:
    """Why a model's capability has no interval, or why its interval is a point."""
    model, board = prepared.models[i], prepared.board
    if np.isnan(np.where(board.used[i], board.capability[i], np.nan)).all():
        return ""  # no capability value: nothing to put an interval on
    notes = list(dict.fromkeys(prepared.notes[model]))
    if notes:
        return "no capability interval: " + "; ".join(notes[:3]) + (f" (+{len(notes) - 3} more)" if len(notes) > 3 else "")
    values = [s.capability[i][~np.isnan(s.capability[i])] for s in board.strata if board.used[i, s.scenario]]
    values = np.concatenate(values) if values else np.array([])
    if len(values) and np.all(values == values[0]):
        return f"every resampled instance scores {values[0]:g}: the bootstrap sees no spread, so the capability interval is a point"
    return ""


def _caption(out: pd.DataFrame, draws: int, seed: int, efficiency_column: str) -> str:
    """What the uncertainty columns are, and which the draws could not give, for the page."""
    text = (f"Intervals are {LEVEL:.0%}, from {draws} joint draws (seed {seed}): instances resampled per scenario, paired across "
            "models; efficiency from each model's stored interval, its stack's shared part drawn once per draw.")
    scored = out["capability"].notna()
    missing = out.loc[scored & out["capability_lo"].isna(), "model"].tolist()
    if missing:
        text += (f" No capability interval for {len(missing)} of {int(scored.sum())} models (their notes say why), "
                 "so no capability rank intervals or Pareto probabilities.")
    judged = out[efficiency_column].notna()
    fixed = out.loc[judged & out[f"{efficiency_column}_lo"].isna(), "model"].tolist()
    if fixed:
        text += (f" No stored interval for the {efficiency_column} of {len(fixed)} of {int(judged.sum())} models "
                 f"({', '.join(map(str, fixed[:3]))}{' ...' if len(fixed) > 3 else ''}), so no efficiency rank intervals or Pareto probabilities.")
    return text


def _scenario_rows(prepared: Prepared, summary: Mapping[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    present = ~np.isnan(prepared.board.capability)
    for i, model in enumerate(prepared.models):
        for j, scenario in enumerate(prepared.scenarios):
            if present[i, j]:
                rows.append({"model": model, "scenario": scenario, **{k: float(v[i, j]) for k, v in summary.items()}})
    return pd.DataFrame(rows)
