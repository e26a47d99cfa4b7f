"""The measurements table: profiled runtimes on a reference stack (see DESIGN.md, interchange formats).

One row per profiled configuration. Runtimes are seconds for the whole request (prefill plus
decode of all output tokens) at the given batch size.
"""

from typing import Dict, Iterable, List, Optional

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
    "max_position_embeddings",  # the context window (tokens): not a cost, but requests beyond it are refused
]


MAX_TOKENS = 10_000_000  # no request is longer: a larger count is a unit or parsing mistake


def check_positive_numeric(
    df: pd.DataFrame, column: str, source: str, *, integer: bool = False, allow_zero: bool = False, row_numbers: Optional[np.ndarray] = None,
    maximum: Optional[float] = None,
) -> pd.Series:
    """Coerce `column` to numbers, raising a clear error naming the first bad row (its number in
    the file: `row_numbers[i]`, by default i + 2 for a CSV with a header). Token counts (integer
    columns) may not exceed MAX_TOKENS unless `maximum` says otherwise."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    bad |= (values < 0) if allow_zero else (values <= 0)
    limit = maximum if maximum is not None else (MAX_TOKENS if integer else None)
    if limit is not None:
        bad |= values > limit
    if integer:
        bad |= values.notna() & (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "a non-negative" if allow_zero else "a positive"
        kind += " integer" if integer else " finite number"
        kind += f" of at most {limit:g}" if limit is not None else ""
        number = int(row_numbers[row]) if row_numbers is not None else row + 2
        value = df[column].iloc[row]
        value = value.item() if isinstance(value, np.generic) else value  # 5, not np.int64(5)
        raise EfficiencyInputError(source, column, f"row {number} has {value!r}; expected {kind}")
    return values.astype(int) if integer else values.astype(float)


def check_optional_positive(df: pd.DataFrame, column: str, source: str, *, first_row: int = 2) -> pd.Series:
    """`column` as positive finite numbers, NaN where blank (missing or empty text): the given
    values checked by check_positive_numeric, the first bad one named by its row (the frame's
    i-th row numbered i + first_row: 2 for a CSV with a header)."""
    given = (df[column].notna() & (df[column].astype(str).str.strip() != "")).to_numpy()
    out = pd.Series(np.nan, index=df.index)
    out[given] = check_positive_numeric(df[given], column, source, row_numbers=np.flatnonzero(given) + first_row).to_numpy()
    return out


def check_names(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A column of names (model, say) as strings, raising a clear error naming the first empty row."""
    values = df[column]
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        raise EfficiencyInputError(source, column, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 2} is empty; every row needs a {column}")
    return values.astype(str).str.strip()


def require_columns(df: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Raise one error naming every missing column."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EfficiencyInputError(source, ", ".join(missing), f"missing column{'s' if len(missing) > 1 else ''} (have: {', '.join(map(str, df.columns))})")


def read_csv(path: str) -> pd.DataFrame:
    """Read a CSV, turning parser failures into an error that names the file."""
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise EfficiencyInputError(path, "<file>", "no such file")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise EfficiencyInputError(path, "<file>", f"not a readable CSV ({e})")
    if table.empty:
        raise EfficiencyInputError(path, "<rows>", f"a header ({', '.join(map(str, table.columns))}) and no rows")
    return table


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
    return check_architecture_columns(out, source, extra=("num_gpus",))


# Architecture fields where 0 is meaningful (a flag, or "none of them").
ZERO_ALLOWED = ("tied_embeddings", "sliding_window", "num_dense_layers", "shared_expert_intermediate_size")


def check_architecture_columns(df: pd.DataFrame, source: str, extra: Iterable[str] = ()) -> pd.DataFrame:
    """Architecture columns as integers where given (blank cells stay blank); a non-numeric or
    negative cell raises an error naming the file, its row (as a spreadsheet counts) and field."""
    out = df.copy()
    for column in list(ARCHITECTURE_COLUMNS) + list(extra):
        if column not in out.columns or not out[column].notna().any():
            continue
        present = out[column].notna() & (out[column].astype(str).str.strip() != "")
        checked = check_positive_numeric(out[present].reset_index(drop=True), column, source, integer=True, allow_zero=column in ZERO_ALLOWED,
                                         row_numbers=np.flatnonzero(present.to_numpy()) + 2)
        out[column] = pd.array([pd.NA] * len(out), dtype="Int64")
        out.loc[present.to_numpy(), column] = checked.to_numpy()
    return out


def architecture_of(rows: pd.DataFrame) -> Optional[Dict[str, int]]:
    """The architecture columns shared by `rows` (one model), or None if the rows carry none."""
    arch = {}
    for column in ARCHITECTURE_COLUMNS:
        if column in rows.columns and rows[column].notna().any():
            arch[column] = int(rows[column].dropna().iloc[0])
    return arch or None
