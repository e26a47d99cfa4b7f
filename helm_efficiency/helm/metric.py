"""The HELM metric: per-request efficiency stats for a run.

Use it by dotted class name in a MetricSpec::

    MetricSpec(class_name="helm_efficiency.helm.metric.InferenceEfficiencyMetric",
               args={"tables": "h100-trtllm"})

or add ``efficiency=true`` to any run entry (see run_expander.py). Denoising needs all the
run's timings at once, so ``evaluate`` first builds the requests table for the whole run,
then lets HELM's usual per-instance aggregation collect the precomputed per-request stats.
Importing this module registers nothing, so ``helm-summarize`` can load it without plugins.
"""

from typing import Dict, List, Optional, Sequence, Union


from helm.benchmark.adaptation.adapter_spec import AdapterSpec
from helm.benchmark.adaptation.request_state import RequestState
from helm.benchmark.adaptation.scenario_state import ScenarioState
from helm.benchmark.metrics.metric import Metric, MetricMetadata, MetricResult
from helm.benchmark.metrics.metric_name import MetricName
from helm.benchmark.metrics.metric_service import MetricService
from helm.benchmark.metrics.statistic import Stat
from helm.benchmark.window_services.window_service_factory import WindowServiceFactory

from helm_efficiency.efficiency import efficiency_columns
from helm_efficiency.helm.local_models import local_model_architecture
from helm_efficiency.helm.metric_names import metadata_fields
from helm_efficiency.helm.stats import per_request_values, run_count_values
from helm_efficiency.requests import request_rows
from helm_efficiency.estimate import load_tables
from helm_efficiency.tables.names import DEFAULT_TABLE


class InferenceEfficiencyMetric(Metric):
    """Raw, denoised and idealized runtime plus idealized energy and cost, per request.

    tables: reference CostTables searched in order, joined by '+' (shipped names such as
    'h100-trtllm' (default), 'a100', 'cpu', 'helm' for HELM's bundled table, or JSON paths). power_w / usd_per_gpu_hour override the
    hardware's documented assumptions. quantile: the denoising lower-envelope quantile (None: automatic).
    """

    def __init__(
        self,
        tables: Union[str, Sequence[str]] = DEFAULT_TABLE,
        power_w: Optional[float] = None,
        usd_per_gpu_hour: Optional[float] = None,
        quantile: Optional[float] = None,
    ):
        self.table_names = tables.split("+") if isinstance(tables, str) else list(tables)
        self.power_w = power_w
        self.usd_per_gpu_hour = usd_per_gpu_hour
        self.quantile = quantile
        self._stats_by_request: Dict[int, List[Stat]] = {}

    def evaluate(
        self, scenario_state: ScenarioState, metric_service: MetricService, eval_cache_path: str, parallelism: int
    ) -> MetricResult:
        adapter_spec = scenario_state.adapter_spec
        window_service = WindowServiceFactory.get_window_service(adapter_spec.model_deployment, metric_service)
        states = list(scenario_state.request_states)
        requests = request_rows(states, count_tokens=window_service.get_num_tokens)
        # A model served from a local folder is priced from its own config.json, not its name.
        for column, value in (local_model_architecture(adapter_spec.model_deployment) or {}).items():
            requests[column] = value
        table, _ = efficiency_columns(
            requests, load_tables(self.table_names), self.power_w, self.usd_per_gpu_hour, self.quantile
        )
        self._stats_by_request = {
            id(state): [Stat(MetricName(name)).add(value) for name, value in per_request_values(row)]
            for state, row in zip(states, table.to_dict("records"))
        }
        result = super().evaluate(scenario_state, metric_service, eval_cache_path, parallelism)
        for split, rows in table.groupby(table["split"].fillna("test"), sort=True):
            for name, value in run_count_values(rows):
                result.aggregated_stats.append(Stat(MetricName(name, split=split)).add(value))
        return result

    def evaluate_generation(
        self, adapter_spec: AdapterSpec, request_state: RequestState, metric_service: MetricService, eval_cache_path: str
    ) -> List[Stat]:
        return self._stats_by_request.get(id(request_state), [])

    def get_metadata(self) -> List[MetricMetadata]:
        return [MetricMetadata(**fields) for fields in metadata_fields()]
