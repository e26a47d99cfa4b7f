"""`efficiency=...` for any run entry: adds the efficiency MetricSpec without touching the
entry's run-spec function. Registered into HELM's run-expander registry by the plugin.

    mmlu:subject=anatomy,model=openai/gpt2,efficiency=true      # the default stack, h100-trtllm
    simple1:model=simple/model1,efficiency=cpu                  # the shipped CPU table
    ...,efficiency=a100+my_table.json                           # several tables, in order
"""

import os
from dataclasses import replace
from typing import List, Sequence, Tuple

from helm.benchmark.metrics.metric import MetricSpec
from helm.benchmark.run_expander import RunExpander
from helm.benchmark.run_spec import RunSpec

from helm_efficiency.helm.metric_names import METRIC_CLASS
from helm_efficiency.helm.timed_alone import install as install_timed_alone
from helm_efficiency.stacks import DEFAULT_TABLE, check_table_names, split_table_names

DEFAULT_TABLES: Tuple[str, ...] = (DEFAULT_TABLE,)


def efficiency_metric_spec(tables: Sequence[str] = DEFAULT_TABLES) -> MetricSpec:
    # A string, not a list: HELM hashes MetricSpec args (helm-summarize dedups specs with set()).
    return MetricSpec(class_name=METRIC_CLASS, args={"tables": "+".join(tables)})


def tables_from_value(value: str) -> Tuple[str, ...]:
    """The tables an `efficiency=` value names, checked now: a typo fails when the run entry is
    expanded, before any request is sent (not after a paid run)."""
    value = str(value).strip()
    if value.lower() in ("true", "1", "yes", "default"):
        return DEFAULT_TABLES
    tables = split_table_names(value)
    check_table_names(tables, f"run entry efficiency={value}")
    return tables


class EfficiencyRunExpander(RunExpander):
    """Adds the InferenceEfficiencyMetric to a run spec (`efficiency=true|false|TABLE[+TABLE...]`)."""

    name = "efficiency"

    def __init__(self, value: str):
        self.value = str(value)

    def expand(self, run_spec: RunSpec) -> List[RunSpec]:
        if self.value.lower() in ("false", "0", "no"):
            return [run_spec]
        tables = tables_from_value(self.value)
        install_timed_alone()  # local models: each generation timed alone (helm/timed_alone.py)
        specs = [s for s in run_spec.metric_specs if s.class_name != METRIC_CLASS]
        specs.append(efficiency_metric_spec(tables))
        # The tables go into the run's name (its folder), so entries that differ only in
        # `efficiency=` get their own folders instead of overwriting each other.
        label = "+".join(os.path.splitext(os.path.basename(t))[0] for t in tables)
        return [replace(run_spec, name=f"{run_spec.name},efficiency={label}", metric_specs=specs)]
