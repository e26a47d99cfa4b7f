"""Published batch-1 measurements of real serving stacks (helm_efficiency/sources/measured/*.csv).

One row per published number with its provenance (see that folder's README.md for every
source). `load_measured` validates the files (columns, numbers, units per metric) with errors
that name the file, row and column; `anchor_rows` turns them into the quantities the
simulator's tables are checked and corrected against:

    ttft_s   time to first token (prefill), seconds
    tpot_s   decode time per output token after the first, seconds
    e2e_s    whole-request latency, seconds (tok/s rows become e2e = output tokens / tok/s)
    power_w  average board power per GPU over a whole batch-1 request, watts
    power_prefill_w / power_decode_w   the same per phase, watts

Only batch 1 (or client concurrency 1) rows are anchors. FP8/INT rows are kept apart
(`precision16` False): they may only bound a 16-bit estimate from below.
"""

import glob
import os
import re
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.util import data_paths

MEASURED_DIR = data_paths.MEASURED_DIR
COLUMNS = ("source_id", "source_ref", "gpu", "gpu_count", "tp", "stack", "stack_version", "dtype", "model", "hf_id",
           "prompt_tokens", "output_tokens", "batch", "metric", "value", "unit", "ms_per_output_token_derived", "caveat", "trust")
# metric → (accepted units, anchor quantity, factor to SI). Metrics not listed are kept, not anchored.
METRICS = {
    "ttft_ms": (("ms",), "ttft_s", 1e-3),
    "tpot_ms": (("ms",), "tpot_s", 1e-3),
    "itl_ms": (("ms",), "tpot_s", 1e-3),
    "e2e_s": (("s",), "e2e_s", 1.0),
    "output_tok_per_s": (("tok/s",), "e2e_s", None),  # converted with output_tokens
    "avg_gpu_power_w": (("W",), "power_w", 1.0),  # a whole batch-1 request's average
    "avg_gpu_power_prefill_w": (("W",), "power_prefill_w", 1.0),
    "avg_gpu_power_decode_w": (("W",), "power_decode_w", 1.0),
    "avg_power_w_per_gpu": (("W",), None, 1.0),  # ML.ENERGY batch-8 bound: not an anchor
    "energy_per_output_token_j": (("J/token",), None, 1.0),
}
GPUS = (("h200", r"\bH200\b"), ("h100", r"\bH100\b"), ("a100", r"\bA100\b"), ("b200", r"(?<![G])\bB200\b"))
BACKENDS = (("trtllm", r"TensorRT-LLM"), ("vllm", r"\bvLLM\b"), ("sglang", r"\bSGLang\b"))
SIXTEEN_BIT = re.compile(r"^(BF16|FP16|16-bit.*)$", re.IGNORECASE)
EIGHT_BIT_FLOAT = re.compile(r"^FP8", re.IGNORECASE)
# The first release of each framework's current era: rows of older releases are `legacy` and
# enter the correction through a version term, so a table's number stands for the version the
# simulator's kernels were measured with (a current release), not an average over releases.
#   TensorRT-LLM 1.0: the PyTorch runtime and its kernels replace the TensorRT-engine (0.x) path.
#   vLLM 0.8: the V1 engine becomes the default (new scheduler, CUDA graphs by default).
#   SGLang: every release in the data is of one era.
CURRENT_ERA = {"trtllm": (1, 0), "vllm": (0, 8), "sglang": (0, 0)}
_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def legacy_version(backend: Optional[str], version_text: str) -> Optional[bool]:
    """True when a row's stated release is older than its framework's current era (CURRENT_ERA),
    False when it is of the current era, None when the release cannot be read. NIM 2024 images
    shipped TensorRT-LLM 0.x, so they are legacy."""
    if backend not in CURRENT_ERA:
        return None
    text = str(version_text or "")
    if "NIM 2024" in text:
        return True
    found = _VERSION.search(text)
    if not found:
        return None
    return (int(found.group(1)), int(found.group(2))) < CURRENT_ERA[backend]


def read_csv_with(path: str, required: Sequence[str]) -> pd.DataFrame:
    """A data CSV as strings, with the `required` columns and at least one row; errors name the file."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise EfficiencyInputError(path, "<file>", f"not a readable CSV ({e})")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise EfficiencyInputError(path, "<header>", f"missing columns: {', '.join(missing)}")
    if table.empty:
        raise EfficiencyInputError(path, "<file>", "no rows")
    return table


def read_file(path: str) -> pd.DataFrame:
    """One measured CSV, validated; errors name the file, row (1-based, header = row 1) and column."""
    table = read_csv_with(path, COLUMNS)
    for i, row in table.iterrows():
        where = f"row {i + 2}"
        if not row["source_id"] or not row["source_ref"]:
            raise EfficiencyInputError(path, f"{where}: source_ref", "every row needs its source")
        try:
            value = float(row["value"])
        except ValueError:
            raise EfficiencyInputError(path, f"{where}: value", f"{row['value']!r} is not a number")
        if not (np.isfinite(value) and value > 0):
            raise EfficiencyInputError(path, f"{where}: value", f"{value} is not a positive number")
        known = METRICS.get(row["metric"])
        if known is not None and row["unit"] not in known[0]:
            raise EfficiencyInputError(path, f"{where}: unit", f"{row['unit']!r} for {row['metric']}; expected {', '.join(known[0])}")
    check_one_gpu(path, table)
    return with_file_and_row(table, path)


def read_folder(folder: str, read_one: Callable[[str], pd.DataFrame], what: str) -> pd.DataFrame:
    """Every *.csv in `folder` read by `read_one` (which validates it), concatenated."""
    paths = sorted(glob.glob(os.path.join(folder, "*.csv")))
    if not paths:
        raise EfficiencyInputError(folder, "<folder>", f"no {what} CSV files")
    return pd.concat([read_one(p) for p in paths], ignore_index=True)


def with_file_and_row(table: pd.DataFrame, path: str) -> pd.DataFrame:
    """`table` with the file name and 1-based CSV row (header = row 1) of each row, for errors and provenance."""
    table.insert(0, "file", os.path.basename(path))
    table.insert(1, "row", np.arange(2, len(table) + 2))
    return table


@lru_cache(maxsize=4)
def load_measured(folder: str = MEASURED_DIR) -> pd.DataFrame:
    """Every *.csv in `folder`, validated and concatenated (file and row kept). Cached: do not mutate."""
    return read_folder(folder, read_file, "measured")


def _matches(patterns: Iterable[Tuple[str, str]], text: str) -> Iterator[str]:
    """The keys of `patterns` whose pattern occurs in `text`, in the patterns' order."""
    text = text if isinstance(text, str) else ""
    return (key for key, pattern in patterns if re.search(pattern, text))


def _match(patterns: Iterable[Tuple[str, str]], text: str) -> Optional[str]:
    return next(_matches(patterns, text), None)


def check_one_gpu(path: str, table: pd.DataFrame) -> None:
    """A `gpu` cell that names two GPUs we know ("B200, as in the H100 runs") would be read as the
    first one listed in GPUS (`_match`), silently: it is an error naming the file, row and column."""
    for i, text in enumerate(table["gpu"]):
        named = list(_matches(GPUS, text))
        if len(named) > 1:
            raise EfficiencyInputError(path, f"row {i + 2}: gpu", f"{text!r} names {' and '.join(named)}; name one GPU (put the rest in the caveat)")


def _number(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


POWER_QUANTITIES = ("power_w", "power_prefill_w", "power_decode_w")


def anchor_rows(measured: Optional[pd.DataFrame] = None,
                quantities: Sequence[str] = ("ttft_s", "tpot_s", "e2e_s") + POWER_QUANTITIES) -> pd.DataFrame:
    """Batch-1 rows as anchors: gpu (h100/h200/a100), backend (trtllm/vllm; NIM's TensorRT-LLM
    backend counts as trtllm), tp, precision16, hf_id, p, o, quantity, value (SI), source_id,
    trust, and where the row came from. Rows of other GPUs or stacks, other batch sizes,
    without a numeric shape, or whose caveat marks the shape a PLACEHOLDER are left out."""
    data = (load_measured() if measured is None else measured).copy()
    data["batch_n"] = _number(data["batch"])
    data = data[(data["batch_n"] == 1) & ~data["caveat"].str.contains("PLACEHOLDER", case=False)]  # placeholder shapes are not measurements of a shape
    info = data["metric"].map(lambda m: METRICS.get(m, ((), None, None)))
    data["quantity"] = info.map(lambda x: x[1])
    data["factor"] = info.map(lambda x: x[2])
    data = data[data["quantity"].isin(quantities)]
    out = pd.DataFrame({
        "source_id": data["source_id"], "source_ref": data["source_ref"], "where": data["file"] + ":" + data["row"].astype(str),
        "gpu": data["gpu"].map(lambda g: _match(GPUS, g)), "backend": data["stack"].map(lambda s: _match(BACKENDS, s)),
        "stack_version": data["stack_version"], "tp": _number(data["tp"]), "precision16": data["dtype"].str.match(SIXTEEN_BIT),
        "precision_fp8": data["dtype"].str.match(EIGHT_BIT_FLOAT),
        "hf_id": data["hf_id"], "p": _number(data["prompt_tokens"]), "o": _number(data["output_tokens"]),
        "quantity": data["quantity"], "trust": data["trust"], "value": _number(data["value"]),
    })
    out["legacy"] = [legacy_version(b, v) for b, v in zip(out["backend"], out["stack_version"])]
    tok_s = data["metric"] == "output_tok_per_s"
    out.loc[tok_s, "value"] = out.loc[tok_s, "o"] / out.loc[tok_s, "value"]  # batch-1 tok/s → whole-request seconds
    out.loc[~tok_s, "value"] = out.loc[~tok_s, "value"] * data.loc[~tok_s, "factor"].astype(float)
    keep = out["gpu"].notna() & out["tp"].notna() & out["value"].notna() & (out["value"] > 0)
    keep &= out["quantity"].isin(POWER_QUANTITIES) | (out["backend"].notna() & out["p"].notna() & out["o"].notna())
    return out[keep].reset_index(drop=True)
