"""Calibrate a CostTable from a measurements table (the `calibrate` verb)."""

import shlex
import sys
from typing import Dict, Optional, Sequence

import pandas as pd

from helm_efficiency.costmodel.estimator import learn_prefill_shape
from helm_efficiency.costmodel.measurements import validate_measurements
from helm_efficiency.tables.cost_table import CostTable, entries_from_measurements


def calibrate_table(
    measurements: pd.DataFrame,
    name: str,
    source: str = "measurements",
    form: str = "auto",
    aliases: Optional[Dict[str, str]] = None,
    description: str = "",
    command: Optional[Sequence[str]] = None,
) -> CostTable:
    """Fit one entry per (model, hardware). Each hardware's prefill shape is learned from all of
    its densely profiled models (at least 5 prompt lengths) and used by every entry on it."""
    measurements = validate_measurements(measurements, source)
    shapes = {}
    for hardware, rows in measurements.groupby("hardware"):
        shape = learn_prefill_shape(rows)
        if shape is not None:
            shapes[str(hardware)] = shape
    provenance = {"measurements": source, "command": " ".join(shlex.quote(a) for a in (command or sys.argv))}
    entries = entries_from_measurements(measurements, form=form, provenance=provenance, shapes=shapes)
    return CostTable(
        name=name,
        entries=entries,
        aliases=dict(aliases or {}),
        prefill_shapes=shapes,
        description=description,
        source=source,
    )
