"""One correction on every path: calibrated, transfer and size-only estimates on a corrected
stack carry the same batch-1 correction, so none falls below the stack's per-request floor."""

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.pricing.estimate import estimate_idealized, load_tables
from helm_efficiency.tables.corrected_entry import table_correction
from helm_efficiency.stacks import SIMULATED_TABLES

TINY = {"num_layers": 2, "hidden_size": 128, "num_attention_heads": 4, "num_kv_heads": 4, "intermediate_size": 512, "vocab_size": 1000}


def _floor(phases, o):
    """The stack's per-request floor: the prefill step plus (o − 1) decode steps (seconds)."""
    return phases["prefill"].coefficients.get("step", 0.0) + (o - 1) * phases["decode"].coefficients.get("step", 0.0)


@pytest.mark.parametrize("stack", SIMULATED_TABLES)
def test_a_tiny_local_config_and_a_registry_model_are_not_below_the_stack_floor(stack):
    table = load_tables([stack])[0]
    phases = table_correction(table)
    assert phases is not None, f"{stack} is not anchored"
    requests = pd.DataFrame([dict(model="local/tiny-2-layer", num_prompt_tokens=600, num_output_tokens=50, **TINY),
                             dict(model="openai/gpt2", num_prompt_tokens=600, num_output_tokens=50)])
    out = estimate_idealized(requests, [table])
    floor = _floor(phases, 50)
    assert out["method"].tolist()[0] == "transfer"
    for row in out.itertuples():
        assert row.idealized_runtime_s >= floor, (row.model, row.method, row.idealized_runtime_s, floor)
        assert row.idealized_runtime_lo_s < row.idealized_runtime_s < row.idealized_runtime_hi_s


def test_size_only_estimates_carry_the_correction_too():
    table = load_tables(["h100-trtllm"])[0]
    requests = pd.DataFrame([dict(model="unknown/model", num_parameters=1e8, num_prompt_tokens=600, num_output_tokens=50)])
    out = estimate_idealized(requests, [table])
    assert out["method"].iloc[0] == "size_only"
    assert out["idealized_runtime_s"].iloc[0] >= _floor(table_correction(table), 50)
    assert np.isfinite(out["idealized_runtime_hi_s"].iloc[0])
