import numpy as np
import pandas as pd

from helm_efficiency.util.frames import with_columns


def test_with_columns_shares_the_frames_columns_and_matches_assignment():
    frame = pd.DataFrame({"a": np.arange(4), "x": np.ones(4), "s": ["p", None, "q", "r"], "b": [True, False, True, True]})
    added = {"y": np.arange(4, dtype=float), "t": np.array(["u", None, "v", "w"], dtype=object), "c": np.zeros(4, bool)}
    out = with_columns(frame, added)
    expected = frame.copy()
    for name, values in added.items():
        expected[name] = values
    pd.testing.assert_frame_equal(out, expected)
    for column in frame.columns:  # a column of an added column's dtype is not copied
        assert np.shares_memory(out[column].to_numpy(), frame[column].to_numpy())
    assert list(frame.columns) == ["a", "x", "s", "b"]  # the original is left alone


def test_with_columns_replaces_an_existing_name_on_a_copy():
    frame = pd.DataFrame({"a": np.arange(3), "x": np.ones(3)})
    out = with_columns(frame, {"x": np.zeros(3), "y": np.ones(3)})
    assert list(out.columns) == ["a", "x", "y"] and (out["x"] == 0).all() and (frame["x"] == 1).all()
