"""Idealized runtime, energy and cost for a requests table, from reference CostTables.

Idealized runtime is the request's cost at batch size 1 on the reference stack, whatever
batching the real deployment used. Each model resolves to a calibrated table entry
(`calibrated`, or `helm_table` for HELM's bundled table); failing that, a model whose
architecture is known (request columns or the architecture registry) gets a `transfer`
estimate learned from the stack's other models. Anything else gets no number and a reason.
"""

from typing import Iterable, List, Optional, Sequence

import numpy as np
import pandas as pd

from helm_efficiency.analytic.hardware import hardware_spec
from helm_efficiency.analytic.transfer import (
    complete_architecture,
    tensor_parallel_for,
    transfer_from_entries,
)
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.analytic.registry import registry_architecture
from helm_efficiency.tables.cost_table import CostTable

REASON_UNKNOWN_MODEL = "no reference table covers this model"
REASON_NO_GPU_COUNT = "reference entry has no GPU count"
REASON_NO_POWER = "no power assumption for this hardware"
REASON_NO_PRICE = "no price assumption for this hardware"

ESTIMATE_COLUMNS = [
    "idealized_runtime_s",
    "idealized_runtime_lo_s",
    "idealized_runtime_hi_s",
    "method",
    "extrapolated",
    "reference_model",
    "reference_hardware",
    "idealized_energy_j",
    "idealized_cost_usd",
    "unestimated_reason",
]


def resolve_entry(tables: Sequence[CostTable], names: Iterable[Optional[str]]):
    names = [n for n in names if n]
    for table in tables:
        entry = table.resolve(names)
        if entry is not None:
            return entry
    return None


def transfer_pool(tables: Sequence[CostTable]) -> List:
    """Entries transfer may learn from: the given tables' entries, then the shipped tables'
    (a stack's profiles on other hardware inform its regression), first occurrence winning."""
    from helm_efficiency.tables.cost_table import SHIPPED_TABLES, shipped_table

    pool, seen = [], set()
    for table in list(tables) + [shipped_table(name) for name in SHIPPED_TABLES]:
        for entry in table.entries:
            key = (entry.model, getattr(entry, "hardware", None))
            if key not in seen:
                seen.add(key)
                pool.append(entry)
    return pool


def transfer_entry(
    tables: Sequence[CostTable],
    names: Sequence[Optional[str]],
    rows: pd.DataFrame,
    fitted: Optional[dict] = None,
    hardware: Optional[str] = None,
):
    """A `transfer` entry for a model no table calibrates: its architecture (request columns,
    else the architecture registry) on `hardware`, by default the first hardware of the given
    tables that supports transfer. `fitted` caches TransferModels by hardware across calls."""
    arch = complete_architecture(rows)
    if arch is None:
        for name in names:
            arch = registry_architecture(name) if name else None
            if arch is not None:
                break
    if arch is None:
        return None
    fitted = {} if fitted is None else fitted
    candidates = [hardware] if hardware else [h for table in tables for h in sorted({getattr(e, "hardware", None) for e in table.entries} - {None})]
    for candidate in candidates:
        if candidate not in fitted:
            fitted[candidate] = transfer_from_entries(transfer_pool(tables), candidate)
        if fitted[candidate] is not None:
            return TransferEntry(fitted[candidate], arch, names)
    return None


def explain_transfer(name: str, tables: Sequence[CostTable], num_prompt_tokens: int, num_output_tokens: int,
                     hardware: Optional[str] = None) -> dict:
    """TransferModel.explain for a registry model on `hardware` (default: as `transfer_entry`)."""
    if registry_architecture(name) is None:
        raise EfficiencyInputError(name, "model", "not in the architecture registry (helm_efficiency/analytic/registry.json)")
    entry = transfer_entry(tables, [name], pd.DataFrame(), hardware=hardware)
    if entry is None:
        raise EfficiencyInputError(str(hardware), "hardware", "no transfer model: needs roofline specs and profiled architectures")
    return entry.transfer.explain(entry.architecture, num_prompt_tokens, num_output_tokens)


class TransferEntry:
    """Adapter giving a TransferModel prediction the CostEntry interface."""

    method = "transfer"

    def __init__(self, model, arch: dict, names):
        self.transfer = model
        self.hardware = model.hardware_
        self.architecture = dict(arch)
        self.architecture.setdefault("tensor_parallel", tensor_parallel_for(arch, model.hw_))
        self.num_gpus = int(self.architecture["tensor_parallel"])
        self.model = "transfer:" + next((n for n in names if n), "architecture")

    def predict(self, num_prompt_tokens, num_output_tokens, batch_size: int = 1) -> pd.DataFrame:
        return self.transfer.predict(self.architecture, num_prompt_tokens, num_output_tokens)


def estimate_idealized(
    requests: pd.DataFrame,
    tables: Sequence[CostTable],
    power_w: Optional[float] = None,
    usd_per_gpu_hour: Optional[float] = None,
    name_columns: Sequence[str] = ("model_deployment", "model"),
) -> pd.DataFrame:
    """Add ESTIMATE_COLUMNS to a copy of `requests` (needs num_prompt_tokens, num_output_tokens)."""
    out = requests.copy()
    n = len(out)
    result = {c: np.full(n, np.nan) for c in ESTIMATE_COLUMNS}
    for c in ("method", "reference_model", "reference_hardware", "unestimated_reason"):
        result[c] = np.full(n, None, dtype=object)
    result["extrapolated"] = np.zeros(n, bool)
    present = [c for c in name_columns if c in out.columns]
    keys = out[present].astype(object).where(out[present].notna(), None)
    groups = keys.groupby(present, dropna=False, sort=False).indices if present else {(): np.arange(n)}
    transfer_models: dict = {}
    for key, index in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        rows = out.iloc[index]
        entry = resolve_entry(tables, key) or transfer_entry(tables, key, rows, transfer_models)
        if entry is None:
            result["unestimated_reason"][index] = REASON_UNKNOWN_MODEL
            continue
        predicted = entry.predict(rows["num_prompt_tokens"].to_numpy(), rows["num_output_tokens"].to_numpy())
        runtime = predicted["runtime_s"].to_numpy()
        result["idealized_runtime_s"][index] = runtime
        result["idealized_runtime_lo_s"][index] = predicted["runtime_lo_s"].to_numpy()
        result["idealized_runtime_hi_s"][index] = predicted["runtime_hi_s"].to_numpy()
        result["extrapolated"][index] = predicted["extrapolated"].to_numpy()
        result["method"][index] = entry.method
        result["reference_model"][index] = entry.model
        result["reference_hardware"][index] = entry.hardware
        spec = hardware_spec(entry.hardware)
        power = power_w if power_w is not None else (spec.power_w if spec else None)
        price = usd_per_gpu_hour if usd_per_gpu_hour is not None else (spec.usd_per_gpu_hour if spec else None)
        if entry.num_gpus is None:
            result["unestimated_reason"][index] = REASON_NO_GPU_COUNT
            continue
        if power is not None:
            result["idealized_energy_j"][index] = runtime * entry.num_gpus * power
        else:
            result["unestimated_reason"][index] = REASON_NO_POWER
        if price is not None:
            result["idealized_cost_usd"][index] = runtime / 3600.0 * entry.num_gpus * price
        elif power is not None:
            result["unestimated_reason"][index] = REASON_NO_PRICE
    for c in ESTIMATE_COLUMNS:
        out[c] = result[c]
    return out


def load_tables(names: Sequence[str]) -> List[CostTable]:
    """Tables by shipped name (a100, v100, cpu, helm: loaded once per process) or JSON path
    (read each time, so an edited file is picked up)."""
    from helm_efficiency.tables.cost_table import HELM_TABLE, SHIPPED_TABLES, load_table, shipped_table

    return [shipped_table(name) if name in SHIPPED_TABLES + (HELM_TABLE,) else load_table(name) for name in names]
