"""Import HELM's 2022 per-(scenario, model) runtime/accuracy CSV into the leaderboard's run table.

Input columns (github.com/stanford-crfm/helm-efficiency data): `scenario` (a HELM run name such
as `boolq:model=openai_davinci`), `inference_runtime` (raw, s), `inference_idealized_runtime`
(s, HELM's A100 estimate), and an accuracy column (`exact_match`).
"""

import re

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.costmodel.measurements import read_csv, require_columns

MODEL_ARG = re.compile(r"(?:^|[:,])model=([^,]+)")


STACK_2022 = "a100 (HELM 2022, Megatron-LM)"


def import_helm_runtime_csv(path: str, metric: str = "auto") -> pd.DataFrame:
    """One row per (scenario, model): model, scenario, accuracy, raw_runtime_s, idealized_runtime_s.
    Rows for perturbed runs (`data_augmentation=...`) are left out. `auto` is the file's exact_match."""
    metric = "exact_match" if metric == "auto" else metric
    df = read_csv(path)
    require_columns(df, ["scenario", "inference_runtime", "inference_idealized_runtime", metric], path)
    df = df[~df["scenario"].astype(str).str.contains("data_augmentation=")]  # perturbed variants: not the main table
    models = df["scenario"].astype(str).str.extract(MODEL_ARG)[0]
    if models.isna().all():
        raise EfficiencyInputError(path, "scenario", "no row names a model (expected e.g. 'boolq:model=openai_davinci')")
    if models.isna().any():  # rows without a model are scenario-level aggregates
        print(f"{path}: skipped {int(models.isna().sum())} rows without a model=... argument")
        df, models = df[models.notna()], models[models.notna()]
    out = pd.DataFrame(
        {
            "run": df["scenario"].astype(str),
            "model": models.str.replace("_", "/", n=1),
            "scenario": df["scenario"].astype(str).str.split(":").str[0],
            "metric": metric,
            "accuracy": pd.to_numeric(df[metric], errors="coerce"),
            "raw_runtime_s": pd.to_numeric(df["inference_runtime"], errors="coerce"),
            "denoised_runtime_s": np.nan,
            "idealized_runtime_s": pd.to_numeric(df["inference_idealized_runtime"], errors="coerce"),
            "idealized_energy_j": np.nan,
            "idealized_cost_usd": np.nan,
        }
    )
    out["has_efficiency_stats"] = out[["raw_runtime_s", "idealized_runtime_s"]].notna().any(axis=1)
    out["stack"] = STACK_2022
    out["method"] = "helm_table"
    out["source"] = "HELM 2022 runs, github.com/stanford-crfm/helm-efficiency"
    return out
