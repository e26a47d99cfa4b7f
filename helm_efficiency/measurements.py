"""The measurements table: profiled runtimes on a reference stack (see DESIGN.md, interchange formats).

One row per profiled configuration. Runtimes are seconds for the whole request (prefill plus
decode of all output tokens) at the given batch size.
"""

from typing import Iterable, List, Optional

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError

REQUIRED_COLUMNS: List[str] = ["model", "hardware", "num_prompt_tokens", "num_output_tokens", "runtime_s"]
OPTIONAL_NUMERIC_COLUMNS: List[str] = ["runtime_std_s", "batch_size", "num_gpus"]
OPTIONAL_TEXT_COLUMNS: List[str] = ["dtype", "software"]
ARCHITECTURE_COLUMNS: List[str] = [
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "intermediate_size",
    "vocab_size",
    "tensor_parallel",
    "num_experts",
    "num_active_experts",
    "num_mlp_matrices",
    "head_dim",
    "tied_embeddings",
    "sliding_window",
    "shared_expert_intermediate_size",
    "num_dense_layers",
    "dense_intermediate_size",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "v_head_dim",
]


def check_positive_numeric(
    df: pd.DataFrame, column: str, source: str, *, integer: bool = False, allow_zero: bool = False
) -> pd.Series:
    """Coerce `column` to numbers, raising a clear error naming the first bad row."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    bad |= (values < 0) if allow_zero else (values <= 0)
    if integer:
        bad |= values.notna() & (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "a non-negative" if allow_zero else "a positive"
        kind += " integer" if integer else " finite number"
        raise EfficiencyInputError(source, column, f"row {row + 2} has {df[column].iloc[row]!r}; expected {kind}")
    return values.astype(int) if integer else values.astype(float)


def require_columns(df: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    for column in columns:
        if column not in df.columns:
            raise EfficiencyInputError(source, column, f"missing column (have: {', '.join(map(str, df.columns))})")


def read_csv(path: str) -> pd.DataFrame:
    """Read a CSV, turning parser failures into an error that names the file."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise EfficiencyInputError(path, "<file>", "no such file")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise EfficiencyInputError(path, "<file>", f"not a readable CSV ({e})")


def validate_measurements(df: pd.DataFrame, source: str = "measurements") -> pd.DataFrame:
    """Return a cleaned copy of a measurements table, or raise naming the bad row and column."""
    require_columns(df, REQUIRED_COLUMNS, source)
    out = df.copy()
    for column in ("model", "hardware"):
        missing = out[column].isna() | (out[column].astype(str).str.strip() == "")
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise EfficiencyInputError(source, column, f"row {row + 2} is empty")
        out[column] = out[column].astype(str)
    out["num_prompt_tokens"] = check_positive_numeric(out, "num_prompt_tokens", source, integer=True)
    out["num_output_tokens"] = check_positive_numeric(out, "num_output_tokens", source, integer=True)
    out["runtime_s"] = check_positive_numeric(out, "runtime_s", source)
    if "batch_size" in out.columns:
        out["batch_size"] = check_positive_numeric(out.fillna({"batch_size": 1}), "batch_size", source, integer=True)
    else:
        out["batch_size"] = 1
    if "runtime_std_s" in out.columns:
        out["runtime_std_s"] = pd.to_numeric(out["runtime_std_s"], errors="coerce")
    for column in ARCHITECTURE_COLUMNS + ["num_gpus"]:
        if column in out.columns and out[column].notna().any():
            present = out[column].notna()
            out.loc[present, column] = check_positive_numeric(out[present], column, source, integer=True)
    return out


def architecture_of(rows: pd.DataFrame) -> Optional[dict]:
    """The architecture columns shared by `rows` (one model), or None if the rows carry none."""
    arch = {}
    for column in ARCHITECTURE_COLUMNS:
        if column in rows.columns and rows[column].notna().any():
            arch[column] = int(rows[column].dropna().iloc[0])
    return arch or None
