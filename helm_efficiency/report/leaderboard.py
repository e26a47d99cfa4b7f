"""Capability vs efficiency leaderboard: per-model table, Pareto flags, ranks, plots, HTML.

Input: a suite folder (stats written by the plugin or by `rescore`) or a CSV in HELM's 2022
runtime/accuracy format (imported with import_helm_csv). Both become one per-run table,
then everything below is shared.
"""

import base64
import io
import os
from typing import Dict

import numpy as np
import pandas as pd

from helm_efficiency.report.leaderboard_data import EFFICIENCY_STATS, suite_run_table
from helm_efficiency.report.pareto import pareto_optimal, rank_correlation, rank_lower_better

EFFICIENCY_COLUMNS: Dict[str, str] = {
    "idealized": "idealized_runtime_s",
    "denoised": "denoised_runtime_s",
    "raw": "raw_runtime_s",
    "energy": "idealized_energy_j",
    "cost": "idealized_cost_usd",
}
LABELS = {
    "idealized_runtime_s": "idealized runtime (s / request)",
    "denoised_runtime_s": "denoised runtime (s / request)",
    "raw_runtime_s": "raw runtime (s / request)",
    "idealized_energy_j": "idealized energy (J / request)",
    "idealized_cost_usd": "idealized cost (USD / request)",
}
RUNTIME_NOTIONS = ("raw_runtime_s", "denoised_runtime_s", "idealized_runtime_s")


def load_runs(source: str, metric: str) -> pd.DataFrame:
    if os.path.isdir(source):
        return suite_run_table(source, metric)
    from helm_efficiency.report.import_helm_csv import import_helm_runtime_csv

    return import_helm_runtime_csv(source, metric)


def _reason(group: pd.DataFrame, column: str) -> str:
    if "has_efficiency_stats" in group and not group["has_efficiency_stats"].fillna(False).any():
        return "no efficiency stats in its runs (add efficiency=true or run rescore)"
    if column.startswith("idealized"):
        return "no reference table covers this model" if column == "idealized_runtime_s" else "no GPU count or power/price assumption"
    return "no usable timings"


def model_table(runs: pd.DataFrame, efficiency: str = "idealized") -> pd.DataFrame:
    """One row per model: capability (mean over scenarios, with the count), each efficiency
    measure, Pareto flag against the chosen measure, and rank under each runtime notion."""
    runs = runs[runs["model"].notna()] if "model" in runs else runs
    rows = []
    for model, group in runs.groupby("model", sort=True):
        row = {"model": model, "capability": group["accuracy"].mean(), "num_scenarios": int(group["accuracy"].notna().sum())}
        notes = []
        for column in EFFICIENCY_STATS:
            values = pd.to_numeric(group.get(column), errors="coerce") if column in group else pd.Series(dtype=float)
            row[column] = values.mean() if len(values) else np.nan
            if column == EFFICIENCY_COLUMNS[efficiency] and not np.isfinite(row[column]):
                notes.append(f"{efficiency} not estimated: {_reason(group, column)}")
        row["note"] = "; ".join(notes)
        rows.append(row)
    table = pd.DataFrame(rows)
    chosen = EFFICIENCY_COLUMNS[efficiency]
    table["pareto_optimal"] = pareto_optimal(table["capability"], table[chosen])
    for column in RUNTIME_NOTIONS:
        table[f"rank_{column.replace('_runtime_s', '')}"] = rank_lower_better(table[column])
    return table.sort_values(["pareto_optimal", "capability"], ascending=[False, False], na_position="last").reset_index(drop=True)


def rank_correlations(table: pd.DataFrame) -> pd.DataFrame:
    pairs = [("raw_runtime_s", "idealized_runtime_s"), ("raw_runtime_s", "denoised_runtime_s"), ("denoised_runtime_s", "idealized_runtime_s")]
    return pd.DataFrame([{"a": a, "b": b, "spearman": rank_correlation(table[a], table[b]),
                          "n": int(table[[a, b]].dropna().shape[0])} for a, b in pairs])


# -- plots ----------------------------------------------------------------------------------------
def _frontier(ax, x: pd.Series, y: pd.Series, optimal: pd.Series) -> None:
    points = sorted((xi, yi) for xi, yi, ok in zip(x, y, optimal.fillna(False)) if ok)
    if points:
        xs, ys = zip(*points)
        ax.step(xs, ys, where="post", color="tab:red", lw=1.5, label="Pareto frontier")


def scatter(ax, data: pd.DataFrame, x: str, title: str) -> None:
    ok = data[["capability", x]].apply(pd.to_numeric, errors="coerce").dropna()
    sub = data.loc[ok.index]
    optimal = pareto_optimal(sub["capability"], sub[x])
    colors = ["tab:red" if o else "tab:blue" for o in optimal.fillna(False)]
    ax.scatter(sub[x], sub["capability"], c=colors, s=36, zorder=3)
    for _, r in sub.iterrows():
        ax.annotate(str(r["model"]), (r[x], r["capability"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    _frontier(ax, sub[x], sub["capability"], optimal)
    positive = pd.to_numeric(sub[x], errors="coerce")
    if len(positive) and (positive > 0).all() and positive.max() / max(positive.min(), 1e-300) > 20:
        ax.set_xscale("log")
    ax.set(xlabel=LABELS.get(x, x), ylabel="capability", title=title)
    ax.grid(True, alpha=0.3)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def plots(runs: pd.DataFrame, table: pd.DataFrame, efficiency: str) -> Dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = EFFICIENCY_COLUMNS[efficiency]
    out = {}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    scatter(ax, table, x, f"Capability vs {efficiency} (mean over scenarios); red = Pareto-optimal")
    ax.legend(fontsize=8)
    out[f"overall_{efficiency}.png"] = _png(fig)
    plt.close(fig)

    scenarios = sorted(runs["scenario"].dropna().unique()) if "scenario" in runs else []
    scenarios = [s for s in scenarios if runs.loc[runs["scenario"] == s, ["accuracy", x]].dropna().shape[0] >= 2][:12]
    if scenarios:
        cols = min(3, len(scenarios))
        nrows = int(np.ceil(len(scenarios) / cols))
        fig, axes = plt.subplots(nrows, cols, figsize=(5.5 * cols, 4.2 * nrows), squeeze=False)
        for ax, scenario in zip(axes.flat, scenarios):
            sub = runs[runs["scenario"] == scenario].rename(columns={"accuracy": "capability"})
            sub = sub.groupby("model", as_index=False)[["capability", x]].mean()
            scatter(ax, sub, x, scenario)
        for ax in list(axes.flat)[len(scenarios):]:
            ax.axis("off")
        fig.tight_layout()
        out[f"per_scenario_{efficiency}.png"] = _png(fig)
        plt.close(fig)

    both = table[["model", "rank_raw", "rank_idealized"]].dropna()
    if len(both) >= 2:
        fig, ax = plt.subplots(figsize=(6, 0.45 * len(both) + 2))
        for _, r in both.iterrows():
            ax.plot([0, 1], [r["rank_raw"], r["rank_idealized"]], marker="o")
            ax.annotate(r["model"], (0, r["rank_raw"]), xytext=(-6, 0), textcoords="offset points", ha="right", va="center", fontsize=8)
            ax.annotate(r["model"], (1, r["rank_idealized"]), xytext=(6, 0), textcoords="offset points", ha="left", va="center", fontsize=8)
        ax.set_xticks([0, 1], ["rank by raw runtime", "rank by idealized runtime"])
        ax.set_xlim(-0.8, 1.8)
        ax.invert_yaxis()
        ax.set_yticks([])
        ax.set_title("Raw API runtime ranks providers; idealized runtime ranks models (1 = fastest)")
        out["rank_raw_vs_idealized.png"] = _png(fig)
        plt.close(fig)
    return out


# -- output ---------------------------------------------------------------------------------------
def _display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for column in EFFICIENCY_STATS:
        shown[column] = shown[column].map(lambda v: "not estimated" if pd.isna(v) else f"{v:.4g}")
    shown["capability"] = shown["capability"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    shown["pareto_optimal"] = shown["pareto_optimal"].map(lambda v: "" if pd.isna(v) else ("yes" if v else "no"))
    return shown


def write_leaderboard(source: str, output_dir: str, metric: str = "exact_match", efficiency: str = "idealized") -> pd.DataFrame:
    runs = load_runs(source, metric)
    table = model_table(runs, efficiency)
    correlations = rank_correlations(table)
    os.makedirs(output_dir, exist_ok=True)
    table.to_csv(os.path.join(output_dir, "leaderboard.csv"), index=False)
    shown = _display(table)
    markdown = shown.to_markdown(index=False) if _has_tabulate() else shown.to_string(index=False)
    corr_text = correlations.to_string(index=False, float_format=lambda v: f"{v:.2f}")
    with open(os.path.join(output_dir, "leaderboard.md"), "w") as f:
        f.write(f"# Capability ({metric}) vs efficiency ({efficiency})\n\nSource: `{source}`\n\n{markdown}\n\n"
                f"Spearman rank correlation between runtime notions:\n\n```\n{corr_text}\n```\n")
    images = plots(runs, table, efficiency)
    for name, data in images.items():
        with open(os.path.join(output_dir, name), "wb") as f:
            f.write(data)
    html_images = "".join(f'<h2>{name}</h2><img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}"/>'
                          for name, data in images.items())
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>helm-efficiency leaderboard</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
            f"img{{max-width:100%}}</style></head><body><h1>Capability ({metric}) vs efficiency ({efficiency})</h1>"
            f"<p>Source: {source}</p>{shown.to_html(index=False)}<h2>Rank correlations</h2>{correlations.to_html(index=False)}"
            f"{html_images}</body></html>")
    with open(os.path.join(output_dir, "leaderboard.html"), "w") as f:
        f.write(html)
    print(shown[["model", "capability", "num_scenarios", EFFICIENCY_COLUMNS[efficiency], "pareto_optimal", "rank_raw", "rank_idealized", "note"]]
          .to_string(index=False))
    print(f"\nrank correlations:\n{corr_text}\nwrote {output_dir}/leaderboard.{{csv,md,html}} and {len(images)} PNGs")
    return table


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401

        return True
    except ImportError:
        return False
