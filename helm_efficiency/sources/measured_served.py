"""Published served (batched) measurements: helm_efficiency/sources/measured_served/*.csv.

One row per published operating point (a concurrency, a request rate or maximum load) with its
provenance; the folder's README.md lists every source. `load_served_measured` validates the
files with errors that name the file, row and column; `served_rows` gives the quantities the
served correction is fitted and judged on, per row:

    gpu, backend, tp, dtype16 / fp8, hf_id, p, o, concurrency (requests in flight),
    ttft_s, tpot_s (means as published), gpu_s_per_token (GPU-seconds per output token:
    GPUs / output tokens per second; closed-loop rows without a throughput use
    concurrency · o / (TTFT + (o − 1) · TPOT) per replica), power_w (per GPU, where given)

`decode_window` rows (streams decoding together, prefill excluded) and `power_only` rows are not
served rows: both add their power to the power curves, and decode windows check the decode step
time in `bench/served_accuracy.py`.
"""

from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.measured import (BACKENDS, EIGHT_BIT_FLOAT, GPUS, SIXTEEN_BIT, _match, check_one_gpu, legacy_version, read_csv_with,
                                              read_folder, with_file_and_row)
from helm_efficiency.util import data_paths

SERVED_DIR = data_paths.MEASURED_SERVED_DIR
REQUIRED = ("source_id", "source_ref", "gpu", "num_gpus", "tp", "stack", "stack_version", "dtype", "model", "hf_id",
            "prompt_tokens", "output_tokens", "concurrency", "request_s", "output_tok_s", "ttft_ms", "tpot_ms", "kind", "caveat")
NUMERIC = ("num_gpus", "tp", "prompt_tokens", "output_tokens", "concurrency", "request_s", "output_tok_s", "ttft_ms", "tpot_ms",
           "pp", "running_batch", "request_rate", "gpu_power_w")
# decode_window: a fixed number of streams all decoding at once (no prefill in the window): a
# decode step time at a known running batch, never a whole request's cost, so never fitted;
# power_only: a GPU power under a known load and nothing else. Both feed the power curves only.
KINDS = ("concurrency_sweep", "rate_sweep", "max_throughput", "decode_window", "power_only")
NOT_SERVED = ("decode_window", "power_only")
RATE_KEPT_UP = 0.9  # a request-rate row enters the fit where the server completed this share of the offered rate


def read_served_file(path: str) -> pd.DataFrame:
    """One served CSV, validated; errors name the file, row (header = row 1) and column."""
    table = read_csv_with(path, REQUIRED)
    for column in NUMERIC:
        if column not in table:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].ne("") & ~(values > 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise EfficiencyInputError(path, f"row {i + 2}: {column}", f"{table[column].iloc[i]!r} is not a positive number")
    no_source = (table["source_id"] == "") | (table["source_ref"] == "")
    if no_source.any():
        raise EfficiencyInputError(path, f"row {int(np.flatnonzero(no_source.to_numpy())[0]) + 2}: source_ref", "every row needs its source")
    bad_kind = ~table["kind"].isin(KINDS)
    if bad_kind.any():
        i = int(np.flatnonzero(bad_kind.to_numpy())[0])
        raise EfficiencyInputError(path, f"row {i + 2}: kind", f"{table['kind'].iloc[i]!r}; expected one of {', '.join(KINDS)}")
    check_one_gpu(path, table)
    return with_file_and_row(table, path)


@lru_cache(maxsize=4)
def load_served_measured(folder: str = SERVED_DIR) -> pd.DataFrame:
    """Every *.csv in `folder`, validated and concatenated (file and row kept). Cached: do not mutate."""
    return read_folder(folder, read_served_file, "served measurement")


def served_rows(measured: Optional[pd.DataFrame] = None, kinds: Sequence[str] = ("concurrency_sweep", "rate_sweep")) -> pd.DataFrame:
    """Concurrency-sweep rows of one replica (no attention data parallelism, no pipeline
    parallelism), on a GPU and framework we know, with a throughput (published, or from mean
    TTFT and TPOT), as SI quantities (see the module docstring). TTFT / TPOT are NaN where only
    percentiles were published. Request-rate rows enter with the requests in flight that Little's
    law gives (request rate × mean latency per replica) where the server kept up with the offered
    rate; `kind` says which rows those are. `kinds` may add `max_throughput` (all requests queued:
    a published throughput and no known running batch, so concurrency stays NaN)."""
    if set(kinds) & set(NOT_SERVED):
        raise ValueError(f"served_rows: {', '.join(sorted(set(kinds) & set(NOT_SERVED)))} rows are not served operating points")
    data = (load_served_measured() if measured is None else measured)
    data = data[data["kind"].isin(kinds)]

    def number(c: str) -> pd.Series:
        return pd.to_numeric(data[c], errors="coerce") if c in data else pd.Series(np.nan, index=data.index)

    out = pd.DataFrame({
        "source_id": data["source_id"], "where": data["file"] + ":" + data["row"].astype(str),
        "gpu": data["gpu"].map(lambda g: _match(GPUS, g)), "backend": data["stack"].map(lambda s: _match(BACKENDS, s) or ("trtllm" if "NIM" in s else None)),
        "stack_version": data["stack_version"], "tp": number("tp"), "num_gpus": number("num_gpus"),
        "dtype16": data["dtype"].str.match(SIXTEEN_BIT), "fp8": data["dtype"].str.match(EIGHT_BIT_FLOAT),
        "hf_id": data["hf_id"], "p": number("prompt_tokens"), "o": number("output_tokens"), "concurrency": number("concurrency"),
        "ttft_s": number("ttft_ms") / 1e3, "tpot_s": number("tpot_ms") / 1e3, "power_w": number("gpu_power_w"),
        "output_tok_s": number("output_tok_s"), "request_s": number("request_s"),
        "pp": number("pp").fillna(1.0), "dp": number("attention_dp_size").fillna(1.0), "trust": data.get("trust", ""),
    })
    out["legacy"] = [legacy_version(b, v) for b, v in zip(out["backend"], out["stack_version"])]
    out["kind"] = data["kind"].to_numpy()
    # An open-loop (request-rate) row: requests in flight per replica by Little's law, the measured
    # request rate times the mean request latency (TTFT + (o - 1) * TPOT), rounded to a whole batch.
    in_flight = out["request_s"] * (out["ttft_s"] + (out["o"] - 1) * out["tpot_s"]) / (out["num_gpus"] / out["tp"])
    # Only where the server kept up (completed ≥ 90% of the offered rate): past saturation the
    # requests in flight are mostly queued, not running.
    rate = out["kind"] == "rate_sweep"
    kept_up = out["request_s"] >= RATE_KEPT_UP * number("request_rate")
    out.loc[rate & ~kept_up, "concurrency"] = np.nan
    rate &= kept_up
    out.loc[rate, "concurrency"] = np.maximum(np.round(in_flight[rate]), 1.0)
    throughput = out["output_tok_s"].where(out["output_tok_s"] > 0, out["request_s"] * out["o"])
    closed_loop = out["concurrency"] * out["o"] / (out["ttft_s"] + (out["o"] - 1) * out["tpot_s"]) * (out["num_gpus"] / out["tp"])
    out["gpu_s_per_token"] = out["num_gpus"] / throughput.where(throughput > 0, closed_loop)
    keep = (out["gpu"].notna() & out["backend"].notna() & (out["pp"] == 1) & (out["dp"] <= 1) & out["tp"].notna()
            & out["p"].notna() & out["o"].notna() & (out["o"] > 1) & (out["concurrency"].notna() | (out["kind"] == "max_throughput"))
            & (out["dtype16"] | out["fp8"]) & np.isfinite(out["gpu_s_per_token"]))
    return out[keep].reset_index(drop=True)
