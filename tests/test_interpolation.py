"""HELM's bundled table evaluated with monotone interpolation (not step-and-rescale)."""

import numpy as np

from helm_efficiency.tables.cost_table import HelmTableEntry, load_helm_efficiency_data


def entry(knots=None):
    knots = knots or {1: 0.10, 16: 0.11, 32: 0.12, 64: 0.16, 128: 0.20}
    return HelmTableEntry(model="m", runtime_for_prompt_tokens=knots, runtime_per_output_token=0.05, num_gpus=1)


def test_exact_at_table_points():
    e = entry()
    out = e.predict([1, 16, 32, 64, 128], [1, 1, 1, 1, 1])
    np.testing.assert_allclose(out["runtime_s"], [0.10, 0.11, 0.12, 0.16, 0.20])


def test_monotone_in_prompt_tokens_including_two_vs_one():
    e = entry()
    p = np.arange(1, 129)
    runtime = e.predict(p, np.ones_like(p))["runtime_s"].to_numpy()
    assert np.all(np.diff(runtime) >= 0)
    # HELM's step-and-rescale rule gives F(2) = F(16)·2/16 = 0.01375 < F(1) = 0.10.
    assert runtime[1] >= runtime[0]


def test_non_monotone_knots_are_lifted_not_dipped():
    e = entry({1: 0.10, 16: 0.09, 32: 0.12})
    runtime = e.predict([1, 16, 24, 32], [1, 1, 1, 1])["runtime_s"].to_numpy()
    assert np.all(np.diff(runtime) >= 0)


def test_output_tokens_add_per_token_cost():
    e = entry()
    out = e.predict([32, 32], [1, 11])["runtime_s"].to_numpy()
    np.testing.assert_allclose(out[1] - out[0], 10 * 0.05)


def test_zero_output_tokens_cost_the_prefill_only():
    e = entry()
    np.testing.assert_allclose(e.predict([64], [0])["runtime_s"], [0.16])


def test_prompt_beyond_table_is_extrapolated_and_flagged():
    e = entry()
    out = e.predict([128, 256], [1, 1])
    assert list(out["extrapolated"]) == [False, True]
    assert out["runtime_s"].iloc[1] > out["runtime_s"].iloc[0]


def test_helm_bundled_table_is_read_from_installed_helm():
    table = load_helm_efficiency_data()
    davinci = table.resolve(["openai/davinci"])
    assert davinci is not None
    p = np.arange(1, 2000, 7)
    runtime = davinci.predict(p, np.ones_like(p))["runtime_s"].to_numpy()
    assert np.all(np.diff(runtime) >= 0)
