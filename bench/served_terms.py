"""Would another physical term help the served TPOT correction? Each candidate, added to the shipped form, judged held out.

    python -m helm_efficiency.sources.served_anchor --simulate -j 2   # once, after the served data change
    python bench/served_terms.py                                      # a few seconds

The shipped TPOT form (tables/data/served/served_correction.json) is refitted leave-one-source-out
with one more column, each a cost per decode step that real serving may add and the simulator
may miss (sources/served_correction._physical_design gives the rest):

- `prefill_tokens`: prompt tokens admitted per step, batch · p / o (per 1,000), at a cost per token;
- `prefill_share`: the simulator's own prefill share s as s / (1 − s), a multiple of its prefill time;
- `moe_layers`: layers of a mixture of experts (routing, permutation, grouped GEMM launches);
- `layers`: layers of any model (launches per layer);
- `per_request_legacy`: the per-request term again on older releases only.

The TTFT correction and the form are the shipped ones in every fold, and the folds are the
library's (`served_correction.held_out_gpu_error`, whose TPOT fit is replaced here); the shipped
row is that procedure without a column (checked equal to the library's own held-out errors). A
held-out row is predicted as the library predicts: with its own version flag and fp8 = 0.
Prints, per candidate, the coefficient fitted on all rows and the held-out GPU-s per output
token: median |error| (signed median) on 16-bit rows, current-release 16-bit rows, silybench's
current vLLM, prompt-heavy (p/o > 5) and short-prompt (p/o ≤ 0.5) rows, mixtures of experts and
FP8 rows, with the 16-bit 90% coverage of the interval the candidate's own held-out errors give.
"""

import os
import sys
import warnings
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helm_efficiency.sources import served_correction as S  # noqa: E402
from helm_efficiency.sources.anchor import routes_to_experts  # noqa: E402
from helm_efficiency.sources.correction import flags, interval_from, source_weights, variance_components  # noqa: E402
from helm_efficiency.sources.served_anchor import load_served_simulated  # noqa: E402

CANDIDATES = ("prefill_tokens", "prefill_share", "moe_layers", "layers", "per_request_legacy")


def candidate_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Each candidate's column on the relative scale of the physical form (seconds / simulated TPOT), one row per row."""
    sim = rows["sim_tpot_s"].to_numpy(float)
    batch, layers = rows["batch"].to_numpy(float), rows["num_layers"].to_numpy(float)
    share = rows["sim_prefill_share"].clip(0.0, 0.95).to_numpy(float)
    moe = rows["hf_id"].map(routes_to_experts).to_numpy(float)
    return pd.DataFrame({"prefill_tokens": batch * rows["p"].to_numpy(float) / rows["o"].to_numpy(float) / 1e3 / sim,
                         "prefill_share": share / (1.0 - share), "moe_layers": moe * layers / sim, "layers": layers / sim,
                         "per_request_legacy": flags(rows["legacy"]) * batch / sim}, index=rows.index)


def design(frame: pd.DataFrame, form: str, columns: pd.DataFrame, extra: Optional[str]) -> Tuple[np.ndarray, list]:
    """The shipped form's design of `frame`, plus the candidate `extra`'s column."""
    x, names = S._physical_design(frame, form, frame["sim_tpot_s"].to_numpy(float))
    if extra is None:
        return x, names
    return np.column_stack([x, columns.loc[frame.index, extra].to_numpy(float)]), names + [extra]


def fit_tpot(train: pd.DataFrame, form: str, columns: pd.DataFrame, extra: Optional[str]) -> Dict[str, float]:
    """The form plus `extra`, fitted on `train`'s rows with a measured TPOT."""
    train = train[(train["tpot_s"] > 0) & (train["sim_tpot_s"] > 0)]
    x, names = design(train, form, columns, extra)
    return S.fit_physical(x, names, (train["tpot_s"] / train["sim_tpot_s"] - 1).to_numpy(float), source_weights(train["source_id"]))


def held_out(rows: pd.DataFrame, tpot_form: str, ttft_form: str, columns: pd.DataFrame, extra: Optional[str]) -> pd.Series:
    """log(corrected / measured GPU-s per output token), each source fitted without it."""
    def tpot_ratio(train: pd.DataFrame, held: pd.DataFrame) -> np.ndarray:
        coefficients = fit_tpot(train, tpot_form, columns, extra)
        x, names = design(held, tpot_form, columns, extra)
        # as served_correction.predict_ratio: a table point is 16-bit (fp8 = 0)
        beta = np.array([0.0 if n == "fp8" else coefficients.get(n, 0.0) for n in names])
        return np.maximum(1.0 + x @ beta, 1e-3)

    return S.held_out_gpu_error(rows, ttft_form, tpot_form, tpot_ratio=tpot_ratio)


def main() -> None:
    warnings.simplefilter("ignore")
    shipped = S.load_served_correction()
    if shipped is None:
        sys.exit("no served correction fitted: python -m helm_efficiency.sources.served_correction --fit")
    tpot_form, ttft_form = shipped["quantities"]["tpot"]["form"], shipped["quantities"]["ttft"]["form"]
    if not tpot_form.startswith("physical"):
        sys.exit(f"the shipped TPOT form {tpot_form} is not physical: no term to add")
    rows = S.fit_rows(load_served_simulated())
    columns = candidate_columns(rows)
    sixteen = rows["dtype16"].astype(bool)
    po = rows["p"] / rows["o"]
    groups = {"16-bit": sixteen, "current 16-bit": sixteen & ~rows["legacy"].astype(bool),
              "silybench 16-bit": sixteen & (rows["source_id"] == "silybench_perf_points"), "p/o>5": sixteen & (po > 5),
              "p/o<=0.5": sixteen & (po <= 0.5), "MoE 16-bit": sixteen & (columns["moe_layers"] > 0), "FP8": ~sixteen}
    print(f"{len(rows)} served rows, {rows['source_id'].nunique()} sources; shipped TPOT form {tpot_form}, TTFT {ttft_form}; "
          "held-out GPU-s per output token, median |error| (signed)\n")
    lines = []
    for extra in (None, *CANDIDATES):
        log_error = held_out(rows, tpot_form, ttft_form, columns, extra)
        if extra is None:  # the shipped row is the library's own procedure
            library = S.held_out_gpu_error(rows, ttft_form, tpot_form)
            if not np.allclose(log_error, library, equal_nan=True):
                sys.exit("the shipped row differs from served_correction.held_out_gpu_error")
        error = np.exp(log_error) - 1
        lo, hi = interval_from(variance_components(-log_error[sixteen], rows["source_id"][sixteen]))
        covered = ((-log_error >= lo) & (-log_error <= hi))[sixteen].mean()
        line = {"candidate": extra or "(shipped form)"}
        for name, mask in groups.items():
            e = error[mask].dropna()
            line[name] = f"{np.median(np.abs(e)):.1%} ({np.median(e):+.1%})" if len(e) else "-"
        line["16-bit coverage90"] = f"{covered:.1%}"
        if extra is not None:
            fitted = fit_tpot(rows, tpot_form, columns, extra)
            line["coefficient (all rows)"] = f"{fitted[extra]:.3g}" if extra in fitted else "0 (dropped: negative)"
        lines.append(line)
    print(pd.DataFrame(lines).set_index("candidate").fillna("").to_string())


if __name__ == "__main__":
    main()
