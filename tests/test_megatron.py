"""Parsing Megatron-LM profiling logs."""

import glob
import os

import pytest

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.megatron import parse_megatron_log

LOG = """using world size: 2
------------------------ arguments ------------------------
  hidden_size ..................................... 1024
  num_attention_heads ............................. 16
  num_layers ...................................... 4
  ffn_hidden_size ................................. 4096
  tensor_model_parallel_size ...................... 2
  fp16 ............................................ True
Runtime for {'num_input_tokens': 1, 'num_output_tokens': 1}: 0.010 seconds +- 0.001
Runtime for {'num_input_tokens': 16, 'num_output_tokens': 2}: 0.021 seconds +- 0.002
"""


def test_parses_arguments_and_runtime_lines(tmp_path):
    path = tmp_path / "a100" / "toy.log"
    path.parent.mkdir()
    path.write_text(LOG)
    df = parse_megatron_log(str(path))
    assert list(df["num_prompt_tokens"]) == [1, 16]
    assert list(df["runtime_s"]) == [0.010, 0.021]
    row = df.iloc[0]
    assert (row["model"], row["hardware"], row["num_layers"], row["hidden_size"], row["tensor_parallel"], row["num_gpus"], row["dtype"]) == (
        "toy", "a100", 4, 1024, 2, 2, "fp16")


def test_log_without_runtimes_is_rejected(tmp_path):
    path = tmp_path / "empty.log"
    path.write_text("hello\n")
    with pytest.raises(EfficiencyInputError, match="empty.log"):
        parse_megatron_log(str(path))


def test_public_profiles_parse_completely(data_dir):
    logs = sorted(glob.glob(os.path.join(data_dir, "reference_profiles", "*", "*.log")))
    assert len(logs) == 9  # the paper's 6 A100 and 3 V100 profiles
    for log in logs:
        df = parse_megatron_log(log)
        assert len(df) in (110, 270)
        assert (df["runtime_s"] > 0).all()


def test_grouped_query_attention_and_swiglu_arguments_reach_the_architecture(tmp_path):
    path = tmp_path / "h100" / "gqa.log"
    path.parent.mkdir()
    header = "  group_query_attention ........................... True\n  num_query_groups ................................ 4\n" \
             "  swiglu .......................................... True\n  kv_channels ..................................... 64\n"
    path.write_text(LOG.replace("  fp16", header + "  fp16"))
    df = parse_megatron_log(str(path))
    assert df["num_kv_heads"].iloc[0] == 4 and df["num_mlp_matrices"].iloc[0] == 3 and df["head_dim"].iloc[0] == 64
    plain = tmp_path / "h100" / "plain.log"
    plain.write_text(LOG)
    df = parse_megatron_log(str(plain))
    assert df["num_kv_heads"].iloc[0] == 16 and df["num_mlp_matrices"].iloc[0] == 2
