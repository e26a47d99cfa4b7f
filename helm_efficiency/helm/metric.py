"""The HELM metric: per-request efficiency stats for a run.

Use it by dotted class name in a MetricSpec::

    MetricSpec(class_name="helm_efficiency.helm.metric.InferenceEfficiencyMetric",
               args={"tables": "h100-trtllm"})

or add ``efficiency=true`` to any run entry (see run_expander.py). Denoising needs all the
run's timings at once, so ``evaluate`` builds the requests table for the whole run and turns
it into HELM stats with the same code `rescore` uses (helm/aggregate.py, which reproduces
HELM's Metric.evaluate aggregation, worst-case copies included), so a run scored live and one
re-scored carry the same stats. Importing this module registers nothing, so ``helm-summarize``
can load it without plugins.
"""

import json
import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Union

from helm.benchmark.adaptation.adapter_spec import AdapterSpec
from helm.benchmark.adaptation.request_state import RequestState
from helm.benchmark.adaptation.scenario_state import ScenarioState
from helm.benchmark.augmentations.perturbation_description import PerturbationDescription
from helm.benchmark.metrics.metric import Metric, MetricMetadata, MetricResult, PerInstanceStats
from helm.benchmark.metrics.metric_name import MetricName
from helm.benchmark.metrics.metric_service import MetricService
from helm.benchmark.metrics.statistic import Stat
from helm.benchmark.window_services.window_service_factory import WindowServiceFactory
from helm.common.hierarchical_logger import hlog

from helm_efficiency.denoise import machine_load
from helm_efficiency.util.atomic import write_text_atomic
from helm_efficiency.denoise.concurrency import CONTENDED
from helm_efficiency.denoise.envelope import QUALITY_CONTENDED
from helm_efficiency.pricing.efficiency import efficiency_columns
from helm_efficiency.helm import aggregate
from helm_efficiency.helm.local_models import run_requests
from helm_efficiency.helm.metric_names import METRIC_CLASS, metadata_fields
from helm_efficiency.request_table.table import STATUS_CACHED, perturbation_description_json
from helm_efficiency.helm.run_metadata import SCORED_LIVE, build_metadata, helm_stats_with_values
from helm_efficiency.helm_io.runs import RUN_METADATA
from helm_efficiency.helm_io.catalog import Catalog
from helm_efficiency.helm_io import states as typed_states
from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.stacks import DEFAULT_TABLE


class InferenceEfficiencyMetric(Metric):
    """Raw, denoised and idealized runtime plus idealized energy and cost, per request.

    The arguments are pricing/spec.EfficiencySpec's, the same options `helm-efficiency estimate`
    and `rescore` take, checked once when the metric is made (an error names the argument; the
    tables load on first use, since helm-summarize also makes the metric, only for its stat names):
    tables: reference CostTables searched in order, joined by '+' (shipped names such as
    'h100-trtllm' (default), 'a100', 'cpu', 'helm' for HELM's bundled table, or JSON paths).
    served_stack: the stack of the served numbers (default: the first table's). power_w /
    usd_per_gpu_hour override the hardware's documented assumptions. quantile: the denoising
    lower-envelope quantile (None: automatic). sla: the latency target for the served numbers,
    e.g. "tpot=50ms,ttft=2s" (the default). Names resolve in HELM's own catalog (Catalog()).
    """

    def __init__(
        self,
        tables: Union[str, Sequence[str]] = DEFAULT_TABLE,
        power_w: Optional[float] = None,
        usd_per_gpu_hour: Optional[float] = None,
        quantile: Optional[float] = None,
        sla: Optional[str] = None,
        served_stack: Optional[str] = None,
    ):
        self.spec = EfficiencySpec.build(tables=tables, served_stack=served_stack, power_w=power_w, usd_per_gpu_hour=usd_per_gpu_hour,
                                         quantile=quantile, sla=sla, source=f"MetricSpec {METRIC_CLASS} args", load=False)
        self.catalog = Catalog()

    def evaluate(
        self, scenario_state: ScenarioState, metric_service: MetricService, eval_cache_path: str, parallelism: int
    ) -> MetricResult:
        load = machine_load.end_window()  # the window in which helm-run made this run's requests
        adapter_spec = scenario_state.adapter_spec
        window_service = WindowServiceFactory.get_window_service(adapter_spec.model_deployment, metric_service)
        states = list(scenario_state.request_states)
        typed = typed_states.from_helm(states)  # HELM's objects, once, into the one shape downstream reads (helm_io/states.py)
        requests = run_requests(typed, adapter_spec.model_deployment, count_tokens=window_service.get_num_tokens, log=hlog,
                                catalog=self.catalog)
        table, _ = efficiency_columns(requests, self.spec, catalog=self.catalog)
        _log_stale_timings(adapter_spec.model_deployment, table)
        _log_contention(adapter_spec.model_deployment, table)
        if load and load["busy"]:
            hlog(f"efficiency: WARNING {adapter_spec.model_deployment}: {load['note']}. Rerun on a quiet machine for timings you can trust.")
        render = _metric_name_renderer(states)
        aggregated, per_instance = aggregate.run_stats(table, render, helm_stats_to_fill(adapter_spec.model_deployment, typed))
        filled = helm_stats_with_values((name.name, moments[0]) for name, moments in aggregated)
        _write_run_metadata(eval_cache_path, build_metadata(table, list(self.spec.tables), filled, SCORED_LIVE, sla=str(self.spec.sla), machine_load=load,
                                                         pricing=self.spec.record()))
        aggregated += aggregate.run_count_stats(table, render)
        present = {(name.name, name.split) for name, _ in aggregated if name.sub_split is None and name.perturbation is None}
        stats = [_stat(name, moments) for name, moments in aggregated + aggregate.placeholder_stats(table, render, present)]
        per_instance_stats = [
            PerInstanceStats(instance_id, render.perturbations.get(description), trial, [_stat(n, m) for n, m in values])
            for (instance_id, trial, description), values in per_instance.items()
        ]
        return MetricResult(stats, per_instance_stats)

    def evaluate_generation(
        self, adapter_spec: AdapterSpec, request_state: RequestState, metric_service: MetricService, eval_cache_path: str
    ) -> List[Stat]:
        raise NotImplementedError("InferenceEfficiencyMetric scores a whole run at once: call evaluate()")

    def get_metadata(self) -> List[MetricMetadata]:
        return [MetricMetadata(**fields) for fields in metadata_fields()]


def _write_run_metadata(eval_cache_path: str, meta: dict) -> None:
    """RUN/efficiency_metadata.json beside the stats helm-run is about to write (run_metadata.py):
    which HELM stats ours filled, so a later rescore refreshes them, and whether the machine was busy.
    helm-run keeps its evaluation cache in the suite folder (SUITE/eval_cache) and names the run it
    is running (`_get_current_run_spec_name`, as HELM's own clients ask); called outside helm-run, nothing is written."""
    try:
        from helm.benchmark.runner import _get_current_run_spec_name
    except ImportError:
        return
    name = _get_current_run_spec_name()
    run_dir = os.path.join(os.path.dirname(os.path.abspath(eval_cache_path)), name) if name and eval_cache_path else None
    if run_dir and os.path.isdir(run_dir):
        write_text_atomic(os.path.join(run_dir, RUN_METADATA), json.dumps(meta, indent=2))


def helm_stats_to_fill(deployment: str, states: Sequence[typed_states.RequestState]) -> List[str]:
    """HELM's efficiency stats (metric_names.HELM_FILLED_STATS) that HELM's own EfficiencyMetric
    (part of its basic metrics) writes for no request of this run, so ours fill them and never
    sit beside a value HELM wrote. HELM writes `inference_idealized_runtime` only for deployments
    in its 2022 table, and `inference_denoised_runtime` for those in its denoised table or for
    results that carry a batch_size (helm/benchmark/metrics/efficiency_metrics.py)."""
    from importlib import resources

    from helm.benchmark.metrics.efficiency_metrics import (
        EFFICIENCY_DATA_PACKAGE,
        INFERENCE_DENOISED_RUNTIMES_JSON_FILENAME,
        INFERENCE_IDEALIZED_RUNTIMES_JSON_FILENAME,
    )

    def in_helm_table(file_name: str) -> bool:
        with resources.files(EFFICIENCY_DATA_PACKAGE).joinpath(file_name).open("r") as f:
            return deployment in json.load(f)

    fill = []
    if not in_helm_table(INFERENCE_DENOISED_RUNTIMES_JSON_FILENAME) and not any(
            s.result is not None and s.result.batch_size is not None for s in states):
        fill.append("inference_denoised_runtime")
    if not in_helm_table(INFERENCE_IDEALIZED_RUNTIMES_JSON_FILENAME):
        fill.append("inference_idealized_runtime")
    return fill


def _stat(name: MetricName, moments: tuple) -> Stat:
    stat = Stat(name)
    for field, value in zip(aggregate.MOMENT_FIELDS, moments):
        setattr(stat, field, value)
    return stat


class _MetricNameRenderer:
    """aggregate.Render producing HELM MetricName objects; perturbations keep the instances'
    own PerturbationDescription objects (subclass fields included), as HELM's evaluate does."""

    def __init__(self, perturbations: Dict[str, PerturbationDescription]):
        self.perturbations = perturbations

    def __call__(self, stat, split, sub_split, description, computed_on) -> MetricName:
        perturbation = None
        if description is not None:
            perturbation = self.perturbations.get(description)
            if perturbation is None:  # HELM's robustness / fairness aggregates
                fields = json.loads(description)
                perturbation = PerturbationDescription(name=fields["name"], robustness=fields["robustness"], fairness=fields["fairness"])
            if computed_on is not None:
                perturbation = replace(perturbation, computed_on=computed_on)
        return MetricName(stat, split=split, sub_split=sub_split, perturbation=perturbation)


def _metric_name_renderer(states: Sequence[RequestState]) -> _MetricNameRenderer:
    perturbations = {}
    for state in states:
        description = perturbation_description_json(state.instance.perturbation)
        if description is not None:
            perturbations[description] = state.instance.perturbation
    return _MetricNameRenderer(perturbations)


def _log_stale_timings(deployment: str, table) -> None:
    """Say so when HELM's request cache answered: those timings are from an earlier run."""
    cached = int((table["status"] == STATUS_CACHED).sum())
    if cached:
        hlog(f"efficiency: {cached} of {len(table)} requests to {deployment} came from HELM's request cache; their timings are "
             "stale (from the run that filled the cache), so they get no raw or denoised runtime. To measure them, "
             "`helm-efficiency rescore` the suite that filled the cache, or rerun with a fresh --local-path.")


def _log_contention(deployment: str, table) -> None:
    """Say so when requests overlapped: corrected for a local model, only reported for an API."""
    concurrency = table["concurrency"].dropna()
    if concurrency.empty or concurrency.iloc[0] <= CONTENDED:
        return
    level = float(concurrency.iloc[0])
    if (table["denoise_quality"] == QUALITY_CONTENDED).any():
        hlog(f"efficiency: requests to {deployment} overlapped on this machine (mean concurrency {level:.1f}); the denoised "
             "runtime is divided by it, which removes most but not all of the contention. For clean timings of a local "
             "model, run helm-run with --num-threads 1.")
    else:
        hlog(f"efficiency: requests to {deployment} overlapped (mean concurrency {level:.1f}); reported, not corrected: "
             "the serving hardware is not on this machine.")
