"""Our A100 estimates against public batch-1 measurements (time to first token).

    python bench/public_batch1.py

Truth: the batch-1 first-token latencies NVIDIA published for TensorRT-LLM v0.5 on A100 FP16
(`bench/data/public_batch1_trtllm_v0.5.csv`, from NVIDIA/TensorRT-LLM docs/source/performance.md).
Nothing is fitted to them. Estimates, all at the published tensor parallelism, o = 1:
  - ours:     the shipped `a100-trtllm` table (AIConfigurator, TensorRT-LLM 1.x kernels, bf16);
              its calibrated entry where it holds the model at that TP, else transfer on that stack
  - baseline: the paper's 2022 stack, transfer on the Megatron-LM `a100` table (measured in the same run)
Prints each point's % error and the median |error| of each, and the ratio baseline ÷ ours.
"""

import os

import numpy as np
import pandas as pd

from helm_efficiency.analytic.registry import registry_architecture
from helm_efficiency.pricing.estimate import TransferEntry, load_tables, resolve_entry, transfer_pool
from helm_efficiency.analytic.transfer import transfer_from_entries

DATA = os.path.join(os.path.dirname(__file__), "data", "public_batch1_trtllm_v0.5.csv")


def estimate_ttft_s(table_name: str, model: str, tensor_parallel: int, p: int) -> tuple:
    """(seconds, method) for one request of p prompt tokens and one output token."""
    tables = load_tables([table_name])
    entry = resolve_entry(tables, [model])
    if entry is None or entry.num_gpus != tensor_parallel:
        arch = dict(registry_architecture(model), tensor_parallel=tensor_parallel)
        entry = TransferEntry(transfer_from_entries(transfer_pool(tables), table_name), arch, [model])
    return float(entry.predict([p], [1])["runtime_s"].iloc[0]), entry.method


def main() -> None:
    published = pd.read_csv(DATA)
    rows = []
    for point in published.itertuples():
        truth = point.ttft_ms / 1000
        ours, method = estimate_ttft_s("a100-trtllm", point.model, point.tensor_parallel, point.num_prompt_tokens)
        baseline, _ = estimate_ttft_s("a100", point.model, point.tensor_parallel, point.num_prompt_tokens)
        rows.append({"model": point.model, "tp": point.tensor_parallel, "p": point.num_prompt_tokens,
                     "published_ms": point.ttft_ms, "ours_ms": ours * 1000, "ours_method": method,
                     "ours_err_%": 100 * (ours / truth - 1), "megatron_2022_ms": baseline * 1000,
                     "megatron_2022_err_%": 100 * (baseline / truth - 1)})
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    ours, base = np.median(np.abs(df["ours_err_%"])), np.median(np.abs(df["megatron_2022_err_%"]))
    print(f"\nmedian |error|: ours (a100-trtllm) {ours:.1f}%, Megatron 2022 baseline {base:.1f}% "
          f"(ratio baseline/ours {base / ours:.1f}x) over {len(df)} published batch-1 points")


if __name__ == "__main__":
    main()
