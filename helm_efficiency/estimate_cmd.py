"""The `estimate` verb: requests CSV in, estimates CSV out (DESIGN.md interchange formats)."""

from typing import Optional, Sequence

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.estimate import estimate_idealized, load_tables
from helm_efficiency.measurements import check_positive_numeric, read_csv, require_columns

REQUIRED = ["model", "num_prompt_tokens", "num_output_tokens"]


def estimate_csv(
    requests_path: str, output_path: str, tables: Sequence[str], power_w: Optional[float] = None, usd: Optional[float] = None
) -> pd.DataFrame:
    df = read_csv(requests_path)
    require_columns(df, REQUIRED, requests_path)
    df["num_prompt_tokens"] = check_positive_numeric(df, "num_prompt_tokens", requests_path, integer=True)
    df["num_output_tokens"] = check_positive_numeric(df, "num_output_tokens", requests_path, integer=True, allow_zero=True)
    out = estimate_idealized(df, load_tables(tables), power_w=power_w, usd_per_gpu_hour=usd, name_columns=("model",))
    if "hardware" in df.columns:
        mismatch = out["reference_hardware"].notna() & df["hardware"].notna() & (out["reference_hardware"] != df["hardware"])
        if mismatch.any():
            row = int(mismatch.to_numpy().nonzero()[0][0])
            raise EfficiencyInputError(
                requests_path, "hardware", f"row {row + 2} asks for {df['hardware'].iloc[row]!r} but the table covers {out['reference_hardware'].iloc[row]!r}"
            )
    out.to_csv(output_path, index=False)
    n_missing = int(out["idealized_runtime_s"].isna().sum())
    print(f"wrote {len(out)} rows to {output_path}; {n_missing} not estimated, {int(out['extrapolated'].sum())} extrapolated")
    return out
