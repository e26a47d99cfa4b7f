"""Adding columns to a requests table without copying it (a suite's table has a million rows)."""

from typing import Mapping

import pandas as pd


def with_columns(frame: pd.DataFrame, columns: Mapping[str, object]) -> pd.DataFrame:
    """`frame` with `columns` added after its own, in order: a new frame that shares `frame`'s
    column arrays (no copy; neither frame is written in place by this package), the same
    columns, dtypes and order as assigning each to a copy. A name `frame` has already is
    replaced where it stands, on a copy."""
    if any(name in frame.columns for name in columns):
        out = frame.copy()
        for name, values in columns.items():
            out[name] = values
        return out
    added = pd.DataFrame(dict(columns), index=frame.index)
    return pd.concat([frame, added], axis=1, copy=False)
