"""How the leaderboard shows its uncertainty columns: table text (intervals, rank ranges, the
Pareto probability, cost per correct answer) and the plot's error bars and frontier shading."""

from typing import TYPE_CHECKING, Dict, Optional

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from helm_efficiency.report.board_uncertainty import PER_CORRECT

# Shown column → (header, the column it follows in the table).
HEADERS = {
    "capability_interval": ("Capability, 90% interval", "capability"),
    "capability_ranks": ("Capability rank, 90% interval", "capability_interval"),
    "efficiency_interval": ("Chosen efficiency, 90% interval", "served_cost_usd"),
    "efficiency_ranks": ("Efficiency rank, 90% interval", "efficiency_interval"),
    "pareto_probability_text": ("P(on Pareto frontier)", "pareto_optimal"),
    "cost_per_correct_text": ("Idealized cost per correct answer (USD), 90% interval", "batching_dividend"),
    "served_cost_per_correct_text": ("Served cost per correct answer (USD), 90% interval", "cost_per_correct_text"),
    "uncertainty_note": ("Uncertainty note", "note"),
}


def with_headers(headers: Dict[str, str]) -> Dict[str, str]:
    """The table's headers with the uncertainty columns placed after the columns they qualify."""
    out = dict(headers)
    for column, (title, after) in HEADERS.items():
        keys = list(out)
        position = keys.index(after) + 1 if after in out else len(keys)
        out = dict(list(out.items())[:position] + [(column, title)] + list(out.items())[position:])
    return out


def _range(lo: float, hi: float, fmt: str) -> Optional[str]:
    if pd.isna(lo) or pd.isna(hi):
        return None
    a, b = format(float(lo), fmt), format(float(hi), fmt)
    return a if a == b else f"{a}–{b}"


def text_columns(table: pd.DataFrame) -> Dict[str, pd.Series]:
    """Readable uncertainty columns; a column with no value at all is left out, a missing value is '–'."""
    if "capability_lo" not in table:
        return {}
    out: Dict[str, pd.Series] = {}
    rows = table.iterrows
    out["capability_interval"] = pd.Series([_range(r["capability_lo"], r["capability_hi"], ".3f") for _, r in rows()], index=table.index)
    out["capability_ranks"] = pd.Series([_range(r["capability_rank_lo"], r["capability_rank_hi"], ".0f") for _, r in rows()], index=table.index)
    chosen = table.attrs.get("efficiency_column")
    if chosen and f"{chosen}_lo" in table:
        out["efficiency_interval"] = pd.Series([_range(r[f"{chosen}_lo"], r[f"{chosen}_hi"], ".4g") for _, r in rows()], index=table.index)
    out["efficiency_ranks"] = pd.Series([_range(r["efficiency_rank_lo"], r["efficiency_rank_hi"], ".0f") for _, r in rows()], index=table.index)
    out["pareto_probability_text"] = table["pareto_probability"].map(lambda v: None if pd.isna(v) else f"{v:.2f}")
    for column in PER_CORRECT.values():
        if column in table:
            out[f"{column[:-4]}_text"] = pd.Series([_per_correct(r[column], r[f"{column}_lo"], r[f"{column}_hi"]) for _, r in rows()], index=table.index)
    if "uncertainty_note" in table:
        out["uncertainty_note"] = table["uncertainty_note"].map(lambda v: v if isinstance(v, str) and v else None)
    return {k: v.where(v.notna(), "–") for k, v in out.items() if v.notna().any()}


def _per_correct(value: float, lo: float, hi: float) -> Optional[str]:
    if pd.isna(value):
        return None
    if np.isinf(value):
        return "no correct answer"
    interval = _range(lo, hi, ".3g")
    return f"{value:.3g}" + (f" ({interval})" if interval else "")


def draw_uncertainty(ax: "Axes", data: pd.DataFrame, x: str) -> None:
    """90% error bars on both axes, and a halo around each point shaded by its probability of
    lying on the Pareto frontier (with a colour bar); nothing when the table has no uncertainty columns."""
    if "pareto_probability" not in data or "capability_lo" not in data:
        return
    y = data["capability"].to_numpy(float)
    xs = data[x].to_numpy(float)
    yerr = np.nan_to_num(np.vstack([y - data["capability_lo"].to_numpy(float), data["capability_hi"].to_numpy(float) - y]), nan=0.0)
    xerr = None
    if f"{x}_lo" in data:
        xerr = np.nan_to_num(np.vstack([xs - data[f"{x}_lo"].to_numpy(float), data[f"{x}_hi"].to_numpy(float) - xs]), nan=0.0)
    ax.errorbar(xs, y, xerr=np.clip(xerr, 0, None) if xerr is not None else None, yerr=np.clip(yerr, 0, None), fmt="none",
                ecolor="0.45", elinewidth=0.9, capsize=2, alpha=0.7, zorder=2, label="90% intervals")
    probability = data["pareto_probability"].to_numpy(float)
    known = ~np.isnan(probability)
    if known.any():
        # A halo under each point (which keeps its red/blue Pareto-optimal/dominated colour).
        shaded = ax.scatter(xs[known], y[known], c=probability[known], cmap="RdPu", vmin=0, vmax=1, s=190, edgecolors="0.3",
                            linewidths=0.5, zorder=2.5)
        ax.figure.colorbar(shaded, ax=ax, fraction=0.04, pad=0.01, label="P(on Pareto frontier)")
