"""RuntimeModel on exact synthetic surfaces, intervals, determinism and bad measurement CSVs."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.analytic.size_only import SizeOnlyModel
from helm_efficiency.analytic.transfer import TransferModel
from helm_efficiency.costmodel.estimator import RuntimeModel
from helm_efficiency.costmodel.forms import FORMS
from helm_efficiency.denoise.envelope import LowerEnvelopeDenoiser
from helm_efficiency.errors import EfficiencyInputError, NotFittedError
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.tables.cost_table import ReferenceEntry
from helm_efficiency.costmodel.measurements import read_csv, validate_measurements

from conftest import synthetic_measurements


@pytest.mark.parametrize("form", FORMS)
def test_known_linear_surface_is_recovered_exactly(form):
    data = synthetic_measurements(f0=0.03, f1=1e-4, g=0.02)
    model = RuntimeModel(form=form).fit(data)
    p, o = np.array([1, 37, 300, 512]), np.array([1, 9, 2, 16])
    np.testing.assert_allclose(model.predict(p, o)["runtime_s"], 0.03 + 1e-4 * p + 0.02 * (o - 1), rtol=1e-8)


def test_context_dependent_decode_is_recovered_by_context_forms():
    data = synthetic_measurements(f0=0.03, f1=1e-4, g=0.02, h=1e-6)
    model = RuntimeModel(form="auto").fit(data)
    assert model.form_ in ("paper_context", "long_context")
    p, o = np.array([100, 400]), np.array([7, 13])
    truth = 0.03 + 1e-4 * p + 0.02 * (o - 1) + 1e-6 * ((o - 1) * p + (o - 1) * o / 2)
    np.testing.assert_allclose(model.predict(p, o)["runtime_s"], truth, rtol=1e-6)


def noisy(data, seed=0, scale=0.01):
    rng = np.random.default_rng(seed)
    data = data.copy()
    data["runtime_s"] *= 1 + scale * rng.standard_normal(len(data))
    return data


def test_intervals_widen_outside_the_calibrated_range():
    model = RuntimeModel(form="long_context").fit(noisy(synthetic_measurements()))
    out = model.predict([256, 4096], [8, 8])
    width = (out["runtime_hi_s"] - out["runtime_lo_s"]).to_numpy()
    assert width[1] > 2 * width[0]
    assert list(out["extrapolated"]) == [False, True]
    assert (out["runtime_lo_s"] <= out["runtime_s"]).all() and (out["runtime_s"] <= out["runtime_hi_s"]).all()


def test_fit_is_deterministic():
    data = noisy(synthetic_measurements(h=1e-7))
    a = RuntimeModel().fit(data).predict([5, 700], [3, 30])
    b = RuntimeModel().fit(data.sample(frac=1.0, random_state=3)).predict([5, 700], [3, 30])
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)


def test_one_output_length_cannot_identify_decode_cost():
    data = synthetic_measurements(outputs=(1,))
    with pytest.raises(EfficiencyInputError, match="num_output_tokens"):
        RuntimeModel().fit(data)


@pytest.mark.parametrize(
    "column,value,match",
    [
        ("runtime_s", "abc", "runtime_s.*row 2"),
        ("runtime_s", float("nan"), "runtime_s"),
        ("runtime_s", -0.5, "runtime_s"),
        ("num_prompt_tokens", 1.5, "num_prompt_tokens"),
        ("num_output_tokens", 0, "num_output_tokens"),
        ("model", None, "model"),
    ],
)
def test_bad_measurement_cells_name_row_and_column(column, value, match):
    data = synthetic_measurements().astype(object)
    data.loc[0, column] = value
    with pytest.raises(EfficiencyInputError, match=match):
        validate_measurements(data, "m.csv")


def test_missing_column_and_malformed_csv_name_the_file(tmp_path):
    path = tmp_path / "m.csv"
    synthetic_measurements().drop(columns=["runtime_s"]).to_csv(path, index=False)
    with pytest.raises(EfficiencyInputError, match="m.csv.*runtime_s.*missing"):
        validate_measurements(read_csv(str(path)), str(path))
    path.write_text('model,hardware\n"unterminated,x\n')
    with pytest.raises(EfficiencyInputError, match="m.csv"):
        read_csv(str(path))


def test_predicting_as_many_rows_as_parameters_works():
    model = RuntimeModel(form="long_context").fit(noisy(synthetic_measurements()))
    out = model.predict([10, 20, 30, 40, 50], [2, 2, 2, 2, 2])  # 5 rows, 5 parameters
    assert len(out) == 5 and out["runtime_hi_s"].notna().all()


@pytest.mark.parametrize("make, call", [
    (lambda: RuntimeModel(), lambda m: m.predict([1], [1])),
    (lambda: LowerEnvelopeDenoiser(), lambda m: m.predict([1], [1])),
    (lambda: SizeOnlyModel(), lambda m: m.predict(1e9, [1], [1])),
    (lambda: TransferModel("a100"), lambda m: m.predict({"num_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}, [1], [1])),
])
def test_estimators_say_they_are_not_fitted(make, call):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        call(make())


def test_cost_entry_is_immutable():
    entry = calibrate_table(synthetic_measurements(), name="t").entries[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.form = "paper"
    assert isinstance(entry, ReferenceEntry)
