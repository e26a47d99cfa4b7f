"""HELM plugin entry point (entry-point group `helm`, or `--plugins helm_efficiency`).

Importing it registers the `efficiency=` run expander in HELM's registry and the offline
`efficiency_probe` run-spec function, and starts the window in which the metric measures how
busy the machine was while the first run was timed (machine_load.py). Idempotent.
"""

from helm.benchmark.run_expander import RUN_EXPANDERS

from helm_efficiency.denoise import machine_load
import helm_efficiency.helm.probe  # noqa: F401  (registers the efficiency_probe run spec)
from helm_efficiency.helm.run_expander import EfficiencyRunExpander


def register() -> None:
    RUN_EXPANDERS[EfficiencyRunExpander.name] = EfficiencyRunExpander


register()
machine_load.start_window()
