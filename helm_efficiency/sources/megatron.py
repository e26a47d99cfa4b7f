"""Import Megatron-LM text-generation profiling logs into a measurements table.

Log format (public logs from github.com/stanford-crfm/helm-efficiency): an argument header of
lines `  name ...... value`, then lines
`Runtime for {'num_input_tokens': P, 'num_output_tokens': O}: T seconds +- S`.
"""

import os
import re
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError

RUNTIME_LINE = re.compile(
    r"Runtime for \{'num_input_tokens': (\d+), 'num_output_tokens': (\d+)\}: ([0-9.eE+-]+) seconds \+- ([0-9.eE+-]+)"
)
ARGUMENT_LINE = re.compile(r"^\s+(\w+) \.+ (.*)$")

# Megatron argument -> measurements architecture column.
ARGUMENT_TO_COLUMN: Dict[str, str] = {
    "num_layers": "num_layers",
    "hidden_size": "hidden_size",
    "num_attention_heads": "num_attention_heads",
    "ffn_hidden_size": "intermediate_size",
    "tensor_model_parallel_size": "tensor_parallel",
    "padded_vocab_size": "vocab_size",
    "kv_channels": "head_dim",
    "max_position_embeddings": "max_position_embeddings",
}
GPT2_BPE_VOCAB_SIZE = 50257


def _hardware_from_path(path: str) -> str:
    return os.path.basename(os.path.dirname(os.path.abspath(path))) or "unknown"


def parse_megatron_log(path: str, model: Optional[str] = None, hardware: Optional[str] = None) -> pd.DataFrame:
    """Parse one log into measurement rows. Model defaults to the file stem, hardware to the folder name."""
    arguments: Dict[str, str] = {}
    rows: List[Dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = RUNTIME_LINE.search(line)
            if match:
                p, o, t, s = match.groups()
                rows.append(
                    {
                        "num_prompt_tokens": int(p),
                        "num_output_tokens": int(o),
                        "runtime_s": float(t),
                        "runtime_std_s": float(s),
                    }
                )
                continue
            arg = ARGUMENT_LINE.match(line)
            if arg:
                arguments.setdefault(arg.group(1), arg.group(2).strip())
    if not rows:
        raise EfficiencyInputError(path, "Runtime for", "no runtime lines found; is this a Megatron-LM profiling log?")
    for required in ("num_layers", "hidden_size", "num_attention_heads"):
        if required not in arguments:
            raise EfficiencyInputError(path, required, "missing from the argument header")
    df = pd.DataFrame(rows)
    df.insert(0, "model", model or os.path.splitext(os.path.basename(path))[0])
    df.insert(1, "hardware", hardware or _hardware_from_path(path))
    for argument, column in ARGUMENT_TO_COLUMN.items():
        value = arguments.get(argument)
        if value is not None and value.isdigit():
            df[column] = int(value)
    if "intermediate_size" not in df.columns:
        df["intermediate_size"] = 4 * df["hidden_size"]
    if "vocab_size" not in df.columns:
        df["vocab_size"] = GPT2_BPE_VOCAB_SIZE  # tokenizer_type GPT2BPETokenizer
    # Megatron GPT is multi-head attention unless grouped-query attention is switched on.
    groups = arguments.get("num_query_groups", "")
    gqa = arguments.get("group_query_attention") == "True" and groups.isdigit()
    df["num_kv_heads"] = int(groups) if gqa else df["num_attention_heads"]
    df["num_mlp_matrices"] = 3 if arguments.get("swiglu") == "True" else 2
    tp = int(arguments.get("tensor_model_parallel_size", "1"))
    pp = int(arguments.get("pipeline_model_parallel_size", "1"))
    df["tensor_parallel"] = tp
    df["num_gpus"] = tp * pp
    df["batch_size"] = int(arguments.get("micro_batch_size", "1"))
    df["dtype"] = "bf16" if arguments.get("bf16") == "True" else ("fp16" if arguments.get("fp16") == "True" else "fp32")
    df["software"] = "Megatron-LM"
    df["source"] = "github.com/stanford-crfm/helm-efficiency " + os.path.basename(path)
    return df


def import_megatron_logs(paths: Sequence[str]) -> pd.DataFrame:
    """Parse several logs into one measurements table."""
    return pd.concat([parse_megatron_log(p) for p in paths], ignore_index=True)
