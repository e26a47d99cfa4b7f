"""Estimates for a requests CSV (DESIGN.md interchange formats): requests in, the same rows with idealized and served columns out."""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.analytic.identity import SIZE_COLUMNS
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.pricing.estimate import estimate_idealized
from helm_efficiency.pricing.efficiency import served_columns
from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.tables.cost_table import CostTable
from helm_efficiency.costmodel.measurements import ARCHITECTURE_COLUMNS, check_architecture_columns, check_names, check_optional_positive, check_positive_numeric, read_csv, require_columns

REQUIRED = ["model", "num_prompt_tokens", "num_output_tokens"]


def estimate_csv(requests_path: str, output_path: str, *, spec: EfficiencySpec, catalog: Catalog = HELM_ONLY) -> pd.DataFrame:
    """The rows of `requests_path` with idealized and served columns, priced as `spec` says
    (a row's optional `hardware` column sends it to the spec's tables on that GPU, and serves it
    on the first of them, or on the spec's `served_stack` where one was given, whatever the
    row's GPU), written to `output_path`; names resolved in `catalog`."""
    df = read_csv(requests_path)
    require_columns(df, REQUIRED, requests_path)
    df["model"] = check_names(df, "model", requests_path)
    df["num_prompt_tokens"] = check_positive_numeric(df, "num_prompt_tokens", requests_path, integer=True)
    df["num_output_tokens"] = check_positive_numeric(df, "num_output_tokens", requests_path, integer=True, allow_zero=True)
    df = check_architecture_columns(df, requests_path)
    if "num_media" in df.columns:  # optional, as rescore's requests table writes it: the request's images, audio or video
        df["num_media"] = check_positive_numeric(df.assign(num_media=df["num_media"].fillna(0)), "num_media", requests_path,
                                                 integer=True, allow_zero=True)
    for column in SIZE_COLUMNS:  # optional, blank where unknown
        if column in df.columns:
            df[column] = check_optional_positive(df, column, requests_path)
    if set(SIZE_COLUMNS) <= set(df.columns):
        above = df["num_active_parameters"] >= df["num_parameters"]
        if above.any():
            row = int(np.flatnonzero(above.to_numpy())[0])
            raise EfficiencyInputError(requests_path, "num_active_parameters", f"row {row + 2} has {df['num_active_parameters'].iloc[row]:g}, "
                                       f"not below its num_parameters {df['num_parameters'].iloc[row]:g}")
    loaded = list(spec.cost_tables)
    # Rows of one model that differ in architecture (say tensor_parallel 1, 4, 8) or size are estimated apart.
    group_columns = [c for c in tuple(ARCHITECTURE_COLUMNS) + SIZE_COLUMNS if c in df.columns]
    parts = []
    for hardware, rows in _by_hardware(df):
        priced = spec if hardware is None else spec.on_tables(_tables_for(hardware, loaded, spec.tables, requests_path, rows.index[0]))
        estimated = estimate_idealized(rows, priced.cost_tables, power_w=priced.power_w, usd_per_gpu_hour=priced.usd_per_gpu_hour,
                                       name_columns=("model",), group_columns=group_columns, catalog=catalog)
        parts.append(served_columns(estimated, priced.served_on, sla=priced.sla, catalog=catalog))
    out = pd.concat(parts).sort_index()
    out.to_csv(output_path, index=False)
    n_missing = int(out["idealized_runtime_s"].isna().sum())
    print(f"wrote {len(out)} rows to {output_path}; {n_missing} not estimated, {int(out['extrapolated'].sum())} extrapolated")
    return out


def _by_hardware(df: pd.DataFrame) -> List[Tuple[Optional[str], pd.DataFrame]]:
    """(hardware, rows) per value of the optional `hardware` column; (None, all rows) without it."""
    if "hardware" not in df.columns:
        return [(None, df)]
    key = df["hardware"].astype(object).where(df["hardware"].notna(), None)
    return [(None if h == "" else h, df.loc[key.fillna("") == h]) for h in key.fillna("").unique()]


def _tables_for(hardware: str, loaded: Sequence[CostTable], names: Sequence[str], source: str, first_row: int) -> List[CostTable]:
    """The given tables whose entries are on `hardware` (a row's `hardware` column picks them)."""
    chosen = [t for t in loaded if any(e.hardware == hardware for e in t.entries)]
    if not chosen:
        covered = sorted({e.hardware for t in loaded for e in t.entries})
        raise EfficiencyInputError(source, "hardware", f"row {first_row + 2} asks for {hardware!r}; the tables given "
                                   f"({', '.join(names)}) cover {', '.join(covered)}; add one with --table")
    return chosen
