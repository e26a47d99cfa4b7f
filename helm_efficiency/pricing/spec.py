"""What to price with: one frozen EfficiencySpec, built and validated once by each entry point
(the live metric from its run-spec arguments, `helm-efficiency estimate` and `rescore` from
their options) and read by the pipeline (pricing/efficiency.py). An error names the option as
the entry point spells it (`--power-w` on the command line, `power_w` in a MetricSpec's args).
"""

import math
import os
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.stacks import DEFAULT_TABLE, check_table_names, split_table_names
from helm_efficiency.tables.cost_table import CostTable
from helm_efficiency.tables.sla import DEFAULT_SLA, Sla, parse_sla

# The options every entry point takes, as the command line and a MetricSpec's args spell them.
OPTIONS = ("tables", "served_stack", "power_w", "usd_per_gpu_hour", "quantile", "sla")
CLI_NAMES = {"tables": "--table", "served_stack": "--served-stack", "power_w": "--power-w",
             "usd_per_gpu_hour": "--usd-per-gpu-hour", "quantile": "--quantile", "sla": "--sla"}


@dataclass(frozen=True)
class EfficiencySpec:
    """How a requests table is priced.

    tables: reference CostTables searched in order, by shipped name or JSON path (as given, for
    the run's metadata); served_stack: the stack of the served numbers (None: the first table's,
    `served_on`); power_w, usd_per_gpu_hour: per-GPU power (W, both phases) and price overriding
    the hardware's documented assumptions (None: hardware.json's); quantile: the denoising
    lower-envelope quantile (None: automatic); sla: the served numbers' latency target.
    `cost_tables`: the tables, loaded on first use (build loads them at once unless told not to)."""

    tables: Tuple[str, ...]
    served_stack: Optional[str] = None
    power_w: Optional[float] = None
    usd_per_gpu_hour: Optional[float] = None
    quantile: Optional[float] = None
    sla: Sla = DEFAULT_SLA

    @cached_property
    def cost_tables(self) -> Tuple[CostTable, ...]:
        from helm_efficiency.pricing.estimate import load_tables

        return tuple(load_tables(list(self.tables)))

    @property
    def served_on(self) -> Optional[str]:
        """The stack whose served table prices the served numbers: `served_stack`, else the first table's."""
        if self.served_stack is not None:
            return self.served_stack
        return self.cost_tables[0].name if self.cost_tables else None

    @classmethod
    def build(cls, *, tables: Union[str, Sequence[str], None] = DEFAULT_TABLE, served_stack: Optional[str] = None,
              power_w: Optional[float] = None, usd_per_gpu_hour: Optional[float] = None, quantile: Optional[float] = None,
              sla: Union[str, Sla, None] = None, source: str = "options", cli: bool = False, load: bool = True) -> "EfficiencySpec":
        """The spec of these options, validated once: power and price are positive finite
        numbers, the quantile lies strictly between 0 and 1, the SLA parses, a given served
        stack has a served table, and (with `load`) the tables exist and load now; without
        `load` (the live metric, which helm-summarize also builds only to read its stat
        names) they load on first use. `source` says where the options came from and `cli`
        whether to name them as the command line does (`--power-w`) or as arguments
        (`power_w`), in the error."""
        from helm_efficiency.tables.served import has_served_table
        from helm_efficiency.stacks import SIMULATED_TABLES

        def name(option: str) -> str:
            return CLI_NAMES[option] if cli else option

        names = split_table_names(tables if tables is not None else DEFAULT_TABLE)
        if not names:
            raise EfficiencyInputError(source, name("tables"), f"no table named in {tables!r}")
        for option, value, what in (("power_w", power_w, "a power in W"), ("usd_per_gpu_hour", usd_per_gpu_hour, "a price in USD per GPU-hour")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0)):
                raise EfficiencyInputError(source, name(option), f"{value!r} is not a positive, finite number ({what})")
        if quantile is not None and (isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile < 1):
            raise EfficiencyInputError(source, name("quantile"), f"{quantile!r} is not a number strictly between 0 and 1 "
                                       "(the lower envelope's quantile; leave it out for the automatic one)")
        if sla is None or sla == "":
            sla = DEFAULT_SLA
        elif isinstance(sla, str):
            try:
                sla = parse_sla(sla)
            except EfficiencyInputError as e:
                raise EfficiencyInputError(source, name("sla"), e.problem if e.field == "sla" else f"{e.field}: {e.problem}")
        elif not isinstance(sla, Sla):
            raise EfficiencyInputError(source, name("sla"), f"expected a latency target such as 'tpot=50ms,ttft=2s', got {type(sla).__name__}")
        if served_stack is not None and not has_served_table(served_stack):
            raise EfficiencyInputError(source, name("served_stack"), f"{served_stack!r} has no served table; one of {', '.join(SIMULATED_TABLES)}")
        spec = cls(tables=names, served_stack=served_stack, power_w=None if power_w is None else float(power_w),
                   usd_per_gpu_hour=None if usd_per_gpu_hour is None else float(usd_per_gpu_hour),
                   quantile=None if quantile is None else float(quantile), sla=sla)
        # A misspelt stack fails now, everywhere; a JSON path only where the tables load now (the
        # live metric is also built by helm-summarize, where a run's table file may be gone).
        if load:
            spec.check(f"{source} {name('tables')}")
        else:
            check_table_names([n for n in names if not n.endswith(".json") and os.sep not in n], f"{source} {name('tables')}")
        return spec

    def record(self) -> Dict[str, Any]:
        """The pricing options besides tables and SLA, as a run's metadata records them (None: the default)."""
        return {"served_stack": self.served_on, "power_w": self.power_w, "usd_per_gpu_hour": self.usd_per_gpu_hour,
                "quantile": self.quantile}

    def check(self, source: str = "tables") -> None:
        """Fail now, naming the table (and `source`, where it was given), if a table of this spec
        cannot be loaded (a spec built without `load` loads its tables on first use)."""
        check_table_names(self.tables, source)
        self.cost_tables  # noqa: B018 (loaded now: a table that cannot load fails before any work)

    def on_tables(self, tables: Sequence[CostTable]) -> "EfficiencySpec":
        """This spec searching `tables` (a subset of its own, say those on one GPU; the requests a
        `hardware` column sends there), served on its served stack if one was given, else on
        the first of `tables`."""
        chosen = replace(self)
        chosen.__dict__["cost_tables"] = tuple(tables)  # what cached_property would hold
        return chosen
