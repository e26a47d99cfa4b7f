"""Would another physical term help the served TPOT correction? Each candidate, added to the shipped form, judged held out.

    python -m helm_efficiency.sources.served_anchor --simulate -j 2   # once, after the served data change
    python bench/served_terms.py                                      # about 1 minute

The shipped TPOT form (tables/data/served/served_correction.json) is refitted leave-one-source-out
with one more column, each a cost per decode step that real serving may add and the simulator
may miss (sources/served_correction._physical_design gives the rest):

- `prefill_tokens`: prompt tokens admitted per step, batch · p / o (per 1,000), at a cost per token;
- `prefill_share`: the simulator's own prefill share s as s / (1 − s), a multiple of its prefill time;
- `moe_layers`: layers of a mixture of experts (routing, permutation, grouped GEMM launches);
- `layers`: layers of any model (launches per layer);
- `per_request_legacy`: the per-request term again on older releases only.

The form and the TTFT correction are fixed to the shipped ones in every fold (the shipped row is
the same procedure without a column: the baseline of this run). Prints, per candidate, the fitted
coefficient on all rows and the held-out GPU-s per output token: median |error| (signed median)
on 16-bit rows, current-release 16-bit rows, silybench's current vLLM, prompt-heavy (p/o > 5) and
short-prompt (p/o ≤ 0.5) rows, mixtures of experts and FP8 rows, with the 16-bit 90% coverage of
the interval the candidate's own held-out errors give.
"""

import os
import sys
import warnings
from typing import Dict, Optional

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helm_efficiency.sources import served_correction as S  # noqa: E402
from helm_efficiency.sources.correction import flags, interval_from, source_weights, variance_components  # noqa: E402
from helm_efficiency.sources.served_anchor import load_served_simulated  # noqa: E402
from served_accuracy import _is_moe  # noqa: E402


def candidate_columns(rows: pd.DataFrame) -> Dict[str, np.ndarray]:
    """Each candidate's column on the relative scale of the physical form (seconds / simulated TPOT)."""
    sim = rows["sim_tpot_s"].to_numpy(float)
    batch, layers = rows["batch"].to_numpy(float), rows["num_layers"].to_numpy(float)
    share = rows["sim_prefill_share"].clip(0.0, 0.95).to_numpy(float)
    moe = rows["hf_id"].map(_is_moe).to_numpy(float)
    return {"prefill_tokens": batch * rows["p"].to_numpy(float) / rows["o"].to_numpy(float) / 1e3 / sim,
            "prefill_share": share / (1.0 - share), "moe_layers": moe * layers / sim, "layers": layers / sim,
            "per_request_legacy": flags(rows["legacy"]) * batch / sim}


def tpot_ratio(train: pd.DataFrame, held: pd.DataFrame, form: str, extra: Optional[str]) -> np.ndarray:
    """measured / simulated TPOT of `held`, by the form (plus `extra`) fitted on `train`'s TPOT rows."""
    train = train[(train["tpot_s"] > 0) & (train["sim_tpot_s"] > 0)]

    def design(frame: pd.DataFrame):
        x, names = S._physical_design(frame, form, frame["sim_tpot_s"].to_numpy(float))
        if extra is not None:
            x, names = np.column_stack([x, candidate_columns(frame)[extra]]), names + [extra]
        return x, names

    x, names = design(train)
    coefficients = S.fit_physical(x, names, (train["tpot_s"] / train["sim_tpot_s"] - 1).to_numpy(float), source_weights(train["source_id"]))
    x_held, _ = design(held)
    return np.maximum(1.0 + x_held @ np.array([coefficients.get(n, 0.0) for n in names]), 1e-3)


def held_out(rows: pd.DataFrame, tpot_form: str, ttft_form: str, extra: Optional[str]) -> pd.Series:
    """log(corrected / measured GPU-s per output token), each source fitted without it."""
    out = pd.Series(np.nan, index=rows.index)
    for source in rows["source_id"].unique():
        mask = (rows["source_id"] == source).to_numpy()
        train, held = rows[~mask], rows[mask]
        ttft = S.fit_quantity(train, "ttft", ttft_form)
        f = S.predict_ratio(ttft, held["backend"].to_numpy(), held["batch"], held["sim_ttft_s"].to_numpy(float), tp=held["tp"].to_numpy(float),
                            layers=held["num_layers"].to_numpy(float), legacy=held["legacy"].to_numpy(object))
        t = tpot_ratio(train, held, tpot_form, extra)
        factor = S.latency_factor(held["sim_ttft_s"], held["sim_tpot_s"], held["o"], f, t)
        out[mask] = np.log(held["sim_gpu_s_per_token"].to_numpy(float) * factor / held["gpu_s_per_token"].to_numpy(float))
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    shipped = S.load_served_correction()
    if shipped is None:
        sys.exit("no served correction fitted: python -m helm_efficiency.sources.served_correction --fit")
    tpot_form, ttft_form = shipped["quantities"]["tpot"]["form"], shipped["quantities"]["ttft"]["form"]
    if not tpot_form.startswith("physical"):
        sys.exit(f"the shipped TPOT form {tpot_form} is not physical: no term to add")
    rows = S.fit_rows(load_served_simulated())
    sixteen = rows["dtype16"].astype(bool)
    moe = rows["hf_id"].map(_is_moe).astype(bool)
    po = rows["p"] / rows["o"]
    groups = {"16-bit": sixteen, "current 16-bit": sixteen & ~rows["legacy"].astype(bool),
              "silybench 16-bit": sixteen & (rows["source_id"] == "silybench_perf_points"), "p/o>5": sixteen & (po > 5),
              "p/o<=0.5": sixteen & (po <= 0.5), "MoE 16-bit": sixteen & moe, "FP8": ~sixteen}
    print(f"{len(rows)} served rows, {rows['source_id'].nunique()} sources; shipped TPOT form {tpot_form}, TTFT {ttft_form}; "
          "held-out GPU-s per output token, median |error| (signed)\n")
    lines = []
    for extra in (None, *candidate_columns(rows.head(1))):
        log_error = held_out(rows, tpot_form, ttft_form, extra)
        error = np.exp(log_error) - 1
        lo, hi = interval_from(variance_components(-log_error[sixteen], rows["source_id"][sixteen]))
        covered = ((-log_error >= lo) & (-log_error <= hi))[sixteen].mean()
        line = {"candidate": extra or "(shipped form)"}
        for name, mask in groups.items():
            e = error[mask].dropna()
            line[name] = f"{np.median(np.abs(e)):.1%} ({np.median(e):+.1%})" if len(e) else "-"
        line["16-bit coverage90"] = f"{covered:.1%}"
        if extra is not None:
            train = rows[(rows["tpot_s"] > 0) & (rows["sim_tpot_s"] > 0)]
            x, names = S._physical_design(train, tpot_form, train["sim_tpot_s"].to_numpy(float))
            x = np.column_stack([x, candidate_columns(train)[extra]])
            fitted = S.fit_physical(x, names + [extra], (train["tpot_s"] / train["sim_tpot_s"] - 1).to_numpy(float), source_weights(train["source_id"]))
            line["coefficient (all rows)"] = f"{fitted.get(extra, 0.0):.3g}" + ("" if extra in fitted else " (dropped: negative)")
        lines.append(line)
    print(pd.DataFrame(lines).set_index("candidate").fillna("").to_string())


if __name__ == "__main__":
    main()
