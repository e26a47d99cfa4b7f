"""HELM plugin entry point (entry-point group `helm`, or `--plugins helm_efficiency`).

Importing it registers the `efficiency=` run expander in HELM's registry and the offline
`efficiency_probe` run-spec function. Idempotent.
"""

from helm.benchmark.run_expander import RUN_EXPANDERS

import helm_efficiency.helm.probe  # noqa: F401  (registers the efficiency_probe run spec)
from helm_efficiency.helm.run_expander import EfficiencyRunExpander


def register() -> None:
    RUN_EXPANDERS[EfficiencyRunExpander.name] = EfficiencyRunExpander


register()
