"""Capability vs efficiency leaderboard: per-model table, Pareto flags, ranks, plots, HTML.

Input: a suite folder (stats written by the plugin or by `rescore`) or a CSV in HELM's 2022
runtime/accuracy format (imported with import_helm_csv). Both become one per-run table,
then everything below is shared.
"""

import base64
import io
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.helm.metric_names import LEADERBOARD_STATS
from helm_efficiency.report import uncertainty_display
from helm_efficiency.report.board_uncertainty import add_uncertainty
from helm_efficiency.report.leaderboard_data import EFFICIENCY_STATS, suite_run_table
from helm_efficiency.report.pareto import pareto_optimal, rank_correlation, rank_lower_better
from helm_efficiency.report.uncertainty import DEFAULT_DRAWS, DEFAULT_SEED

EFFICIENCY_COLUMNS: Dict[str, str] = {s.leaderboard: s.column for s in LEADERBOARD_STATS}  # --efficiency choice → column
LABELS: Dict[str, str] = {s.column: s.axis_label for s in LEADERBOARD_STATS}
RUNTIME_NOTIONS = ("raw_runtime_s", "denoised_runtime_s", "idealized_runtime_s")
MEASURED_COLUMNS = ("raw_runtime_s", "denoised_runtime_s")  # timed, not estimated: a blank one is "not measured"


IDEALIZED_COLUMNS = ("idealized_runtime_s", "idealized_energy_j", "idealized_cost_usd", "served_gpu_s", "served_cost_usd")  # estimated on a reference stack


def load_runs(source: str, metric: str, schema_files: Sequence[str] = ()) -> pd.DataFrame:
    if os.path.isdir(source):
        return suite_run_table(source, metric, schema_files)
    from helm_efficiency.report.import_helm_csv import import_helm_runtime_csv

    return import_helm_runtime_csv(source, metric)


def _reason(group: pd.DataFrame, column: str) -> str:
    if "has_efficiency_stats" in group and not group["has_efficiency_stats"].fillna(False).any():
        return "no efficiency stats in its runs (add efficiency=true or run rescore)"
    if (column.startswith("served") or column.startswith("idealized")) and (group.get("num_media_requests", pd.Series(dtype=float)).fillna(0) > 0).any():
        return "media not priced (its requests carry images, audio or video; efficiency_requests.csv's unestimated_reason says why)"
    if column.startswith("served"):
        return _recorded(group, "unserved_reason", "no served numbers (no served table covers this model, or no point meets the latency target)")
    if column == "idealized_runtime_s":
        return _recorded(group, "unestimated_reason", "no reference table covers this model")
    if column.startswith("idealized"):
        return "no GPU count or power/price assumption"
    return "no usable timings"


def _recorded(group: pd.DataFrame, column: str, otherwise: str) -> str:
    """The most frequent reason the group's runs recorded in `column`, else `otherwise`."""
    reasons = group[column].dropna() if column in group else pd.Series(dtype=object)
    return str(reasons.mode().iloc[0]) if len(reasons) else otherwise


def _note(group: pd.DataFrame, column: str, efficiency: str) -> str:
    """Why a model is not judged: alone in its scenarios (no win rate), no capability value where
    it has the measure, or no measure (with the reason)."""
    notes = []
    if group["accuracy"].notna().any() and group["score"].isna().all():
        notes.append("alone in its scenarios: a win rate needs another model to compare with")
    if not group[column].notna().any():
        notes.append(f"{efficiency} not estimated: {_reason(group, column)}")
    elif not notes:
        notes.append(f"no capability value in the scenarios that have its {efficiency} numbers")
    return "; ".join(notes)


def _lower_is_better(rows: pd.DataFrame) -> bool:
    """Whether the rows' capability metric ranks lower values first (its schema's lower_is_better)."""
    return bool(rows["lower_is_better"].fillna(False).astype(bool).any()) if "lower_is_better" in rows else False


def win_rates(runs: pd.DataFrame) -> pd.Series:
    """HELM's mean-win-rate ingredient: in each scenario, the share of the other models a model
    beats on capability (ties count half), a lower value beating a higher one where the
    scenario's metric is lower-is-better. NaN where the model has no capability value or is the
    scenario's only model."""
    def per_scenario(rows: pd.DataFrame) -> pd.Series:
        values = rows["accuracy"]
        valid = values.dropna()
        if len(valid) < 2:  # alone in the scenario: nobody to beat or lose to, so no win rate
            return pd.Series(np.nan, index=values.index)
        ranks = valid.rank(method="average", ascending=not _lower_is_better(rows))  # 1 = worst; beaten others = rank - 1 (ties half)
        return ((ranks - 1) / (len(valid) - 1)).reindex(values.index)

    return pd.concat([per_scenario(rows) for _, rows in runs.groupby("scenario", sort=False)]).reindex(runs.index)


def capability_label(runs: pd.DataFrame) -> str:
    """What the capability column is: one metric's mean, or HELM's mean win rate over mixed
    metrics, with the direction each metric was ranked in and the schemas that gave them."""
    scored = runs[runs["accuracy"].notna()] if "accuracy" in runs else runs
    metrics = sorted(scored["metric"].dropna().unique()) if "metric" in scored else []
    if not metrics:
        return "mean capability"
    directions = [f"{m}: {'lower' if _lower_is_better(scored[scored['metric'] == m]) else 'higher'} is better" for m in metrics]
    sources = sorted({str(v) for v in scored.get("direction_source", pd.Series(dtype=object)).dropna()})
    per = f", per {' and '.join(sources)}" if sources else ""
    if len(metrics) == 1:
        return f"mean {metrics[0]} ({directions[0].split(': ')[1]}{per})"
    return f"mean win rate ({'; '.join(directions)}{per})"


def model_table(runs: pd.DataFrame, efficiency: str = "idealized", common_scenarios: bool = False) -> pd.DataFrame:
    """One row per model: capability and each efficiency measure averaged over the *same*
    scenarios (those where the model has both capability and the chosen measure), the Pareto
    flag against the chosen measure, ranks, the reference stack and the method.

    Capability is the mean of the metric when every scenario uses one metric, else HELM's mean
    win rate (scenario metrics differ in scale, so their values cannot be averaged).
    common_scenarios: use only the scenarios in which every judged model has both values."""
    runs = runs[runs["model"].notna()].copy() if "model" in runs else runs.copy()
    if "metric" not in runs:
        runs["metric"] = None
    chosen = EFFICIENCY_COLUMNS[efficiency]
    for column in list(EFFICIENCY_STATS) + ["accuracy"]:
        runs[column] = pd.to_numeric(runs.get(column), errors="coerce")
    runs = _per_model_scenario(runs)
    mixed_metrics = runs.loc[runs["accuracy"].notna(), "metric"].dropna().nunique() > 1  # metrics that have values
    runs["score"] = win_rates(runs) if mixed_metrics else runs["accuracy"]
    lower = not mixed_metrics and _lower_is_better(runs[runs["accuracy"].notna()])  # a win rate is higher-is-better
    paired = runs["score"].notna() & runs[chosen].notna()
    if common_scenarios:
        judged = runs.loc[paired, "model"].unique()
        shared = [sc for sc, g in runs[paired].groupby("scenario") if set(judged) <= set(g["model"])]
        paired &= runs["scenario"].isin(shared)
    rows, used_scenarios = [], {}
    for model, group in runs.groupby("model", sort=True):
        used = group[paired.loc[group.index]]
        fallback = used.empty
        if fallback:  # the chosen measure is missing everywhere: not judged; average what there is
            used = group[group["score"].notna()] if group["score"].notna().any() else group
        used_scenarios[model] = [str(sc) for sc in used.loc[used["score"].notna(), "scenario"]]  # what the uncertainty draws average
        row = {"model": model, "capability": used["score"].mean() if len(used) else np.nan, "num_scenarios": int(used["score"].notna().sum()),
               "scenarios": ", ".join(sorted(used["scenario"].astype(str).unique()))}
        for column in EFFICIENCY_STATS:
            row[column] = used[column].mean() if len(used) else np.nan
        stacks = sorted({str(v) for v in used.get("stack", pd.Series(dtype=object)).dropna() if str(v)})
        row["stack"] = "+".join(stacks) if stacks else None
        methods = used.get("method", pd.Series(dtype=object)).dropna()
        row["method"] = methods.mode().iloc[0] if len(methods) else None
        row["note"] = _note(group, chosen, efficiency) if fallback else ""
        # What batching buys: batch-1 cost over served cost (both on the reference stack).
        row["batching_dividend"] = row.get("idealized_cost_usd", np.nan) / row["served_cost_usd"] if row.get("served_cost_usd") else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["pareto_optimal"] = pareto_optimal(table["capability"], table[chosen], lower_is_better=lower)
    for column in RUNTIME_NOTIONS:
        table[f"rank_{column.replace('_runtime_s', '')}"] = rank_lower_better(table[column])
    table = table.sort_values(["pareto_optimal", "capability"], ascending=[False, lower], na_position="last").reset_index(drop=True)
    table.attrs["capability_label"] = capability_label(runs)
    table.attrs["capability_lower_is_better"] = lower
    table.attrs["common_scenarios"] = common_scenarios
    table.attrs["used_scenarios"] = used_scenarios
    return table


def _per_model_scenario(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, scenario): runs of one scenario (e.g. MMLU subjects) averaged."""
    numeric = ["accuracy"] + list(EFFICIENCY_STATS) + [c for c in ("num_media_requests",) if c in runs]
    text = [c for c in ("metric", "lower_is_better", "direction_source", "stack", "method", "has_efficiency_stats", "unestimated_reason",
                                "unserved_reason") if c in runs]
    grouped = runs.groupby(["model", "scenario"], sort=True, dropna=False)
    out = grouped[numeric].mean()
    for column in text:
        out[column] = grouped[column].agg(lambda v: v.dropna().iloc[0] if v.notna().any() else None)
    if "stack" in runs:  # every stack behind the averaged runs, so a mix is seen (and refused)
        out["stack"] = grouped["stack"].agg(lambda v: "+".join(sorted({p for s in v.dropna() for p in str(s).split("+") if p})) or None)
    return out.reset_index()


def stacks_in(table: pd.DataFrame, efficiency: str) -> List[str]:
    """The reference stacks behind the table's estimated (idealized) numbers."""
    chosen = EFFICIENCY_COLUMNS[efficiency]
    if chosen not in IDEALIZED_COLUMNS or "stack" not in table:
        return []
    return sorted({part for s in table.loc[table[chosen].notna(), "stack"].dropna() for part in str(s).split("+") if part})


def rank_correlations(table: pd.DataFrame) -> pd.DataFrame:
    pairs = [("raw_runtime_s", "idealized_runtime_s"), ("raw_runtime_s", "denoised_runtime_s"), ("denoised_runtime_s", "idealized_runtime_s")]
    return pd.DataFrame([{"a": a, "b": b, "spearman": rank_correlation(table[a], table[b]),
                          "n": int(table[[a, b]].dropna().shape[0])} for a, b in pairs])


# -- plots ----------------------------------------------------------------------------------------
SCENARIOS_PER_PAGE = 12


def _log_scale(values: pd.Series) -> bool:
    """Log x when positive values span more than 20x (one rule for every panel of a leaderboard)."""
    positive = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(positive)) and (positive > 0).all() and positive.max() / positive.min() > 20


def scatter(ax, data: pd.DataFrame, x: str, title: str, capability: str, log_x: bool, lower_is_better: bool = False) -> None:
    """Capability vs `x`, Pareto-optimal points in red joined by the frontier, labelled points."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    sub = data.assign(**{c: pd.to_numeric(data[c], errors="coerce") for c in ("capability", x)}).dropna(subset=["capability", x])
    optimal = pareto_optimal(sub["capability"], sub[x], lower_is_better).fillna(False).astype(bool)
    ax.scatter(sub.loc[~optimal, x], sub.loc[~optimal, "capability"], c="tab:blue", s=36, zorder=3, label="dominated")
    ax.scatter(sub.loc[optimal, x], sub.loc[optimal, "capability"], c="tab:red", s=36, zorder=3, label="Pareto-optimal")
    points = sorted(zip(sub.loc[optimal, x], sub.loc[optimal, "capability"]))
    if len(points) > 1:
        xs, ys = zip(*points)
        ax.step(xs, ys, where="post", color="tab:red", lw=1.2, alpha=0.6, label="Pareto frontier")
    uncertainty_display.draw_uncertainty(ax, sub, x)  # 90% error bars, points shaded by P(on the frontier)
    # Alternate label offsets by vertical order, so neighbouring labels do not sit on each other.
    for i, (_, r) in enumerate(sub.sort_values("capability").iterrows()):
        ax.annotate(str(r["model"]), (r[x], r["capability"]), fontsize=7, xytext=(4, 4 if i % 2 else -9), textcoords="offset points")
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    values = sub["capability"]
    if len(values) and values.min() >= 0 and values.max() <= 1:  # a proportion: show its scale
        ax.set_ylim(-0.02, max(1.02, values.max() + 0.02) if values.max() > 0.5 or values.max() == 0 else values.max() * 1.25 + 0.02)
    ax.set(xlabel=LABELS.get(x, x), ylabel=capability, title=title)
    ax.grid(True, alpha=0.3)
    if len(sub):
        ax.legend(fontsize=7, loc="best")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def plots(runs: pd.DataFrame, table: pd.DataFrame, efficiency: str, stack_text: str = "") -> Dict[str, Tuple[str, bytes]]:
    """{file name: (caption, PNG bytes)}: the overall scatter, per-scenario pages of 12 panels
    (every scenario with two or more models), and the raw-vs-idealized rank plot. Each title
    names the reference stack (`stack_text`) behind estimated numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = EFFICIENCY_COLUMNS[efficiency]
    capability = table.attrs.get("capability_label", "capability")
    log_x = _log_scale(runs[x]) if x in runs else False
    out = {}
    fig, ax = plt.subplots(figsize=(9, 6))
    plotted = int(table[["capability", x]].notna().all(axis=1).sum())
    on_stack = f" on {stack_text}" if stack_text and x in IDEALIZED_COLUMNS else ""
    scatter(ax, table, x, f"Capability vs {LABELS[x]}{on_stack}: {plotted} of {len(table)} models have both", capability, log_x,
            table.attrs.get("capability_lower_is_better", False))
    out[f"overall_{efficiency}.png"] = (f"Capability ({capability}) against {LABELS[x]}, over each model's scenarios", _png(fig))
    plt.close(fig)

    per_scenario = runs.rename(columns={"accuracy": "capability"})
    scenarios = [sc for sc, g in per_scenario.groupby("scenario") if g[["capability", x]].apply(pd.to_numeric, errors="coerce").dropna().shape[0] >= 2]
    pages = [scenarios[i:i + SCENARIOS_PER_PAGE] for i in range(0, len(scenarios), SCENARIOS_PER_PAGE)]
    for number, page in enumerate(pages, 1):
        cols = min(3, len(page))
        nrows = int(np.ceil(len(page) / cols))
        fig, axes = plt.subplots(nrows, cols, figsize=(5.8 * cols, 4.4 * nrows), squeeze=False)
        for ax, scenario in zip(axes.flat, page):
            sub = per_scenario[per_scenario["scenario"] == scenario]
            metric = sub["metric"].dropna().iloc[0] if "metric" in sub and sub["metric"].notna().any() else "capability"
            lower = _lower_is_better(sub)
            sub = sub.groupby("model", as_index=False)[["capability", x]].mean()
            scatter(ax, sub, x, scenario, f"{metric} ({'lower' if lower else 'higher'} is better)", log_x, lower)
        for ax in list(axes.flat)[len(page):]:
            ax.axis("off")
        if on_stack:
            fig.suptitle(f"{LABELS[x]}{on_stack}", fontsize=11)
        fig.tight_layout()
        name = f"per_scenario_{efficiency}.png" if len(pages) == 1 else f"per_scenario_{efficiency}_{number}.png"
        out[name] = (f"Per scenario, page {number} of {len(pages)} ({len(page)} of {len(scenarios)} scenarios with two or more models)", _png(fig))
        plt.close(fig)

    both = table[["model", "raw_runtime_s", "idealized_runtime_s"]].dropna()
    if len(both) >= 2:
        # Ranked among the same models on both sides, so a model moves only if its order changes.
        # Tied models share a rank (shown in brackets) but get their own row, so labels do not overlap.
        both = both.assign(rank_raw=rank_lower_better(both["raw_runtime_s"]), rank_idealized=rank_lower_better(both["idealized_runtime_s"]),
                           row_raw=both["raw_runtime_s"].rank(method="first"), row_idealized=both["idealized_runtime_s"].rank(method="first"))
        fig, ax = plt.subplots(figsize=(9, 0.42 * len(both) + 2))
        for _, r in both.iterrows():
            moved = r["rank_raw"] != r["rank_idealized"]
            ax.plot([0, 1], [r["row_raw"], r["row_idealized"]], marker="o", color="tab:orange" if moved else "tab:gray", alpha=0.8)
            ax.annotate(f"{r['model']} ({r['rank_raw']})", (0, r["row_raw"]), xytext=(-6, 0), textcoords="offset points", ha="right", va="center", fontsize=8)
            ax.annotate(f"({r['rank_idealized']}) {r['model']}", (1, r["row_idealized"]), xytext=(6, 0), textcoords="offset points", ha="left", va="center", fontsize=8)
        ax.set_xticks([0, 1], ["by raw runtime", "by idealized runtime"], fontsize=9)
        ax.set_xlim(-1.3, 2.3)
        ax.set_ylim(len(both) + 0.5, 0.5)
        ax.set_yticks(range(1, len(both) + 1))
        ax.set_ylabel("rank (1 = fastest)")
        ax.set_title(f"{len(both)} models with both numbers, ranked by raw and by idealized runtime on {stack_text or 'the reference stack'} "
                     "(orange: rank changes)", fontsize=9)
        out["rank_raw_vs_idealized.png"] = ("Rank by measured (raw) runtime against rank by idealized runtime on the reference stack", _png(fig))
        plt.close(fig)
    return out


# -- output ---------------------------------------------------------------------------------------
HEADERS = {
    "model": "Model",
    "capability": "Capability",
    "num_scenarios": "Scenarios",
    "raw_runtime_s": "Raw runtime (s/request)",
    "denoised_runtime_s": "Denoised runtime (s/request)",
    "idealized_runtime_s": "Idealized runtime (s/request)",
    "idealized_energy_j": "Idealized energy (J/request)",
    "idealized_cost_usd": "Idealized cost (USD/request)",
    "served_gpu_s": "Served GPU time (GPU-s/request)",
    "served_cost_usd": "Served cost (USD/request)",
    "batching_dividend": "Batching dividend (batch-1 cost / served cost)",
    "pareto_optimal": "Pareto-optimal",
    "rank_raw": "Rank, raw",
    "rank_denoised": "Rank, denoised",
    "rank_idealized": "Rank, idealized",
    "stack": "Reference stack",
    "method": "Method",
    "note": "Note",
}
HEADERS = uncertainty_display.with_headers(HEADERS)


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """The table as people read it: formatted numbers, words for missing values, titled headers."""
    table = table.assign(**uncertainty_display.text_columns(table))
    # Columns without a single value (no denoised runtime in the 2022 data, say) are left out.
    shown = table[[c for c in HEADERS if c in table and (c in ("model", "capability", "note") or table[c].notna().any())]].copy()
    formats = {"capability": lambda v: "n/a" if pd.isna(v) else f"{v:.3f}",
               "pareto_optimal": lambda v: "not judged" if pd.isna(v) else ("yes" if v else "no")}
    formats.update({c: (lambda v: "not estimated" if pd.isna(v) else f"{v:.4g}") for c in list(EFFICIENCY_STATS) + ["batching_dividend"]})
    formats.update({c: (lambda v: "not measured" if pd.isna(v) else f"{v:.4g}") for c in MEASURED_COLUMNS})
    formats.update({c: (lambda v: "–" if pd.isna(v) else str(int(v))) for c in ("rank_raw", "rank_denoised", "rank_idealized")})
    formats.update({c: (lambda v: "" if v is None or pd.isna(v) else str(v)) for c in ("stack", "method", "note")})
    for column in shown.columns:
        if column in formats:
            shown[column] = shown[column].map(formats[column])
    return shown.rename(columns=HEADERS)


def _html_page(title: str, caption: str, shown: pd.DataFrame, correlations: pd.DataFrame, images, notes: List[str]) -> str:
    """A readable page: title, caption (metric, stack, date), the table, then the plots inline."""
    import html as html_lib

    table_html = shown.to_html(index=False, escape=True, border=0, classes="board")
    corr = correlations.assign(a=correlations["a"].map(lambda c: LABELS.get(c, c)), b=correlations["b"].map(lambda c: LABELS.get(c, c)))
    corr = corr.rename(columns={"a": "Runtime notion A", "b": "Runtime notion B", "spearman": "Spearman rank correlation", "n": "Models"})
    corr["Spearman rank correlation"] = corr["Spearman rank correlation"].map(lambda v: "too few models" if pd.isna(v) else f"{v:.2f}")
    figures = "".join(
        f'<figure><img alt="{html_lib.escape(caption_text)}" src="data:image/png;base64,{base64.b64encode(data).decode()}"/>'
        f"<figcaption>{html_lib.escape(caption_text)}</figcaption></figure>"
        for caption_text, data in images.values()
    )
    note_html = "".join(f"<p class='note'>{html_lib.escape(n)}</p>" for n in notes)
    style = ("body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1360px;padding:0 1em;color:#222}"
             ".scroll{overflow-x:auto}table{border-collapse:collapse;font-size:0.85em}"
             "th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;white-space:nowrap}"
             "th{background:#f4f4f4}.caption{color:#444}"
             "img{max-width:100%;height:auto}figure{margin:1.5em 0}figcaption{color:#555;font-size:0.9em}"
             ".note{background:#fff4e5;padding:0.5em;border-left:4px solid #f0a030}")
    body = (f"<h1>{html_lib.escape(title)}</h1>{note_html}<p class='caption'>{html_lib.escape(caption)}</p><div class='scroll'>"
            + re.sub(r"<table[^>]*>", lambda _: f'<table class="board" aria-label="{html_lib.escape(title)}">', table_html, count=1)
            + "</div><h2>Do the runtime notions agree?</h2><div class='scroll'>"
            + corr.to_html(index=False, border=0) + f"</div><h2>Plots</h2>{figures}")
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html_lib.escape(title)}</title><style>{style}</style></head><body>{body}</body></html>"


def write_leaderboard(source: str, output_dir: str, *, metric: str = "auto", efficiency: str = "idealized",
                      common_scenarios: bool = False, allow_mixed_stacks: bool = False,
                      schema: Optional[Sequence[str]] = None, seed: int = DEFAULT_SEED, draws: int = DEFAULT_DRAWS,
                      write_stats: bool = False) -> pd.DataFrame:
    """Write leaderboard.{csv,md,html} and PNGs for a suite folder or a HELM 2022 CSV.

    Refuses to rank estimated numbers from different reference stacks together unless
    allow_mixed_stacks, and then says so on every output. Intervals, rank intervals and Pareto
    probabilities come from `draws` joint draws with `seed` (report/uncertainty.py);
    write_stats also writes each scenario's values into its runs' stats.json for helm-server.
    Nothing here resolves a deployment to a model (so no prod_env is read): the board names each run's deployment as its run_spec
    does, and the numbers come from the runs' stats, which `rescore` priced with the suite's
    Catalog."""
    from datetime import date

    from helm_efficiency.errors import EfficiencyInputError

    runs = load_runs(source, metric, schema or ())
    if "model" not in runs or runs["model"].isna().all():
        errors = "; ".join(str(e) for e in runs.get("error", pd.Series(dtype=object)).dropna()[:3])
        raise EfficiencyInputError(source, "runs", "no run with a readable run_spec.json and stats.json" + (f" ({errors})" if errors else ""))
    table = model_table(runs, efficiency, common_scenarios)
    if table.empty:
        raise EfficiencyInputError(source, "runs", "no run with a model and stats to rank")
    if write_stats and not os.path.isdir(source):
        raise EfficiencyInputError(source, "--write-stats", "only a suite folder has runs to write stats into")
    table, scenario_rows = add_uncertainty(source, table, runs, EFFICIENCY_COLUMNS[efficiency], draws=draws, seed=seed, per_scenario=write_stats)
    stacks = stacks_in(table, efficiency)
    notes = []
    if len(stacks) > 1:
        if not allow_mixed_stacks:
            raise EfficiencyInputError(source, "stack", f"the models' {efficiency} numbers come from different reference stacks "
                                       f"({', '.join(stacks)}); rank one stack at a time, or pass --allow-mixed-stacks")
        notes.append(f"MIXED REFERENCE STACKS ({', '.join(stacks)}): {efficiency} numbers from different stacks are not comparable.")
    capability = table.attrs["capability_label"]
    scenario_set = "the scenarios every model has" if common_scenarios else "each model's scenarios with both numbers"
    stack_text = ", ".join(stacks) if stacks else "measured (no reference stack)"
    if EFFICIENCY_COLUMNS[efficiency].startswith("served") and "served_sla" in runs:
        slas = sorted({str(s) for s in runs["served_sla"].dropna()})
        stack_text += f", served under {' / '.join(slas) if slas else 'the default latency target (tpot <= 50 ms, ttft <= 2 s)'}"
    title = f"Capability vs {LABELS[EFFICIENCY_COLUMNS[efficiency]]}"
    caption = (f"Capability: {capability}, over {scenario_set}. Efficiency: {LABELS[EFFICIENCY_COLUMNS[efficiency]]}; "
               f"reference stack: {stack_text}. {table.attrs['uncertainty']} "
               f"Source: {source}. Generated {date.today().isoformat()} by helm-efficiency.")
    correlations = rank_correlations(table)
    os.makedirs(output_dir, exist_ok=True)
    table.to_csv(os.path.join(output_dir, "leaderboard.csv"), index=False)
    shown = _display(table)
    markdown = shown.to_markdown(index=False)
    corr_text = correlations.assign(spearman=correlations["spearman"].map(lambda v: "too few models" if pd.isna(v) else f"{v:.2f}")).to_string(index=False)
    with open(os.path.join(output_dir, "leaderboard.md"), "w") as f:
        f.write(f"# {title}\n\n" + "".join(f"**{n}**\n\n" for n in notes) + f"{caption}\n\n{markdown}\n\n"
                f"Spearman rank correlation between runtime notions:\n\n```\n{corr_text}\n```\n")
    images = plots(runs, table, efficiency, ", ".join(stacks))
    for name, (_, data) in images.items():
        with open(os.path.join(output_dir, name), "wb") as f:
            f.write(data)
    with open(os.path.join(output_dir, "leaderboard.html"), "w") as f:
        f.write(_html_page(title, caption, shown, correlations, images, notes))
    if write_stats:
        from helm_efficiency.report.uncertainty_stats import write_uncertainty_stats

        print(f"wrote the uncertainty stats into {write_uncertainty_stats(source, runs, scenario_rows)} runs' stats.json")
    for note in notes:
        print(f"warning: {note}")
    print(caption)
    print(shown.to_string(index=False))
    print(f"\nrank correlations:\n{corr_text}\nwrote {output_dir}/leaderboard.{{csv,md,html}} and {len(images)} PNGs")
    return table
