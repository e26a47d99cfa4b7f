"""helm/aggregate.py against HELM's own Metric.evaluate (the oracle), on HELM objects with
perturbations (robustness and fairness), sub-splits, two trials and missing or excluded values."""

import json
import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from helm.benchmark.adaptation.adapter_spec import AdapterSpec
from helm.benchmark.adaptation.request_state import RequestState
from helm.benchmark.adaptation.scenario_state import ScenarioState
from helm.benchmark.augmentations.perturbation_description import PerturbationDescription
from helm.benchmark.augmentations.typos_perturbation import TyposPerturbation
from helm.benchmark.metrics.metric import Metric
from helm.benchmark.metrics.metric_name import MetricName
from helm.benchmark.metrics.statistic import Stat
from helm.benchmark.scenarios.scenario import Input, Instance
from helm.common.general import asdict_without_nones
from helm.common.request import Request

from helm_efficiency.pricing.spec import EfficiencySpec
from helm_efficiency.helm import aggregate
from helm_efficiency.helm.metric import _metric_name_renderer, _stat
from helm_efficiency.helm.metric_names import PER_REQUEST_STATS
from helm_efficiency.request_table.table import STATUS_OK, perturbation_description_json

TYPOS = TyposPerturbation.Description(name="typos", robustness=True, prob=0.1)
DIALECT = PerturbationDescription(name="dialect", fairness=True)


def scenario(seed: int = 0, perturbations=(None, TYPOS, DIALECT)):
    """Request states and their requests-table rows (random values, some missing or not ok)."""
    rng = np.random.default_rng(seed)
    states, rows = [], []
    for trial in (0, 1):
        for i in range(6):
            sub_split = "easy" if i % 2 else None
            for perturbation in perturbations:
                if perturbation is DIALECT and i == 5:
                    continue  # an instance without every perturbation
                instance = Instance(Input(text=f"q{i}"), references=[], split="test", sub_split=sub_split,
                                    id=f"id{i}", perturbation=perturbation)
                for _ in range(1):  # HELM's generation path takes one request per instance
                    state = RequestState(instance=instance, reference_index=None, request_mode=None,
                                         train_trial_index=trial, output_mapping=None,
                                         request=Request(model="m/x", model_deployment="m/x"), result=None,
                                         num_train_instances=0, prompt_truncated=False)
                    row = {s.column: float(rng.uniform(0.1, 2.0)) for s in PER_REQUEST_STATS}
                    if rng.random() < 0.2:
                        row["denoised_runtime_s"] = np.nan
                    row.update(instance_id=instance.id, train_trial_index=trial, split="test", sub_split=sub_split,
                               perturbation=perturbation and perturbation.name,
                               perturbation_description=perturbation_description_json(perturbation),
                               status=STATUS_OK if rng.random() > 0.2 else "cached")
                    states.append(state)
                    rows.append(row)
    return states, pd.DataFrame(rows)


class OracleMetric(Metric):
    """HELM's own aggregation, fed the same per-request values."""

    def __init__(self, states, table):
        self.rows = {id(s): r for s, r in zip(states, table.to_dict("records"))}

    def evaluate_generation(self, adapter_spec, request_state, metric_service, eval_cache_path):
        row, stats = self.rows[id(request_state)], []
        for name, column, scale in ((s.name, s.column, s.scale) for s in PER_REQUEST_STATS):
            if column in aggregate.TIMING_COLUMNS and row["status"] != STATUS_OK:
                continue
            if math.isfinite(row[column]):
                stats.append(Stat(MetricName(name)).add(row[column] * scale))
        return stats


def as_json(stat: Stat) -> dict:
    return json.loads(json.dumps(asdict_without_nones(stat)))


def keyed(stats):
    return {json.dumps(s["name"], sort_keys=True): s for s in stats}


def assert_same(ours: dict, helm: dict):
    assert sorted(ours) == sorted(helm)
    for key in helm:
        assert ours[key]["count"] == helm[key]["count"], key
        for field in ("sum", "sum_squared", "min", "max", "mean"):
            assert ours[key][field] == pytest.approx(helm[key][field], rel=1e-9, abs=1e-12), (key, field)


@pytest.mark.parametrize("perturbations", [(None, TYPOS, DIALECT), (None,)], ids=["perturbed", "unperturbed"])
def test_aggregation_matches_helm_metric_evaluate_with_perturbations_and_sub_splits(perturbations):
    states, table = scenario(perturbations=perturbations)
    state = ScenarioState(adapter_spec=AdapterSpec(method="generation", num_train_trials=2), request_states=states)
    helm_result = OracleMetric(states, table).evaluate(state, None, "", parallelism=1)
    render = _metric_name_renderer(states)
    aggregated, per_instance = aggregate.run_stats(table, render)

    ours = keyed(as_json(_stat(name, moments)) for name, moments in aggregated)
    helm = keyed(as_json(stat) for stat in helm_result.aggregated_stats)
    assert_same(ours, helm)
    # HELM's worst-case copies are there: robustness/fairness for every stat, per perturbation, and "original".
    computed_on = {json.loads(k).get("perturbation", {}).get("computed_on") for k in helm}
    assert ({"worst", "original", "perturbed", None} if len(perturbations) > 1 else {"worst", None}) <= computed_on

    helm_per_instance = {(p.instance_id, p.train_trial_index, perturbation_description_json(p.perturbation)):
                         keyed(as_json(s) for s in p.stats) for p in helm_result.per_instance_stats}
    ours_per_instance = {key: keyed(as_json(_stat(n, m)) for n, m in values) for key, values in per_instance.items()}
    assert set(ours_per_instance) == set(helm_per_instance)
    for key in helm_per_instance:
        assert_same(ours_per_instance[key], helm_per_instance[key])


def test_json_names_match_what_helm_writes():
    """Rescore writes names as dicts; they must equal HELM's serialization of the same MetricName."""
    states, table = scenario(1)
    render = _metric_name_renderer(states)
    objects, _ = aggregate.run_stats(table, render)
    dicts, _ = aggregate.run_stats(table, aggregate.json_name)
    assert [asdict_without_nones(name) for name, _ in objects] == [name for name, _ in dicts]
    # The subclass field of a perturbation (typos' prob) survives both ways.
    assert any(name.get("perturbation", {}).get("prob") == 0.1 for name, _ in dicts)
    assert asdict(TYPOS)["prob"] == 0.1


def test_suite_run_counts_match_each_runs_own(tmp_path):
    """stats.suite_run_count_values (all runs at once) gives run_count_values of every (run,
    split) group, in order, on a suite with failed, untimed, cached and cold requests, several
    splits and an unusual column (concurrency written as text, a method missing)."""
    import importlib.util
    import os

    from helm_efficiency.pricing.efficiency import efficiency_columns
    from helm_efficiency.helm.stats import run_count_values, suite_run_count_values
    from helm_efficiency.rescore import concat_tables, read_run
    from helm_efficiency.stacks import DEFAULT_TABLE

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("rescore_speed", os.path.join(here, "..", "bench", "rescore_speed.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.synth_suite(str(tmp_path / "suite"), runs=3, requests=40, distinct=3, variety=True)
    runs = sorted(str(p) for p in (tmp_path / "suite").iterdir())
    table, _ = efficiency_columns(concat_tables([read_run(r).requests.assign(run=os.path.basename(r)) for r in runs]),
                                  EfficiencySpec.build(tables=[DEFAULT_TABLE]))
    table.loc[table.index[::3], "split"] = "valid"
    table.loc[table.index[5::7], "split"] = None
    table["concurrency"] = table["concurrency"].astype(object)
    table.loc[table.index[:50], "concurrency"] = "n/a"
    table.loc[table.index[60], "method"] = None
    table.loc[table.index[1::4], "served_method"] = "transfer from a, b"  # as a refused architecture's served rows say
    table.loc[table.index[2::9], "served_method"] = "size_only from c"
    table.loc[table.index[3::11], "served_method"] = None
    codes = pd.factorize(table["run"])[0]
    got = suite_run_count_values(table, codes, len(runs))
    for code in range(len(runs)):
        rows = table[codes == code]
        expected = [(split, run_count_values(group)) for split, group in rows.groupby(rows["split"].fillna("test"), sort=True)]
        assert got[code] == expected
        assert len(expected) == 2
    served = {name: sum(dict(values)[name] for run in got for _, values in run)
              for name in ("efficiency_num_served_transfer_requests", "efficiency_num_served_size_only_requests")}
    assert served == {"efficiency_num_served_transfer_requests": float(table["served_method"].str.startswith("transfer from ").sum()),
                      "efficiency_num_served_size_only_requests": float(table["served_method"].str.startswith("size_only from ").sum())}
    assert min(served.values()) > 0


def test_helm_objects_convert_to_the_state_helm_run_saves():
    """The live metric's boundary (helm_io/states.from_helm): HELM's RequestState objects, a
    perturbation subclass's fields included (typos' prob), become the same Structs as the saved
    scenario_state.json decodes to, and the requests table keys each perturbation as the metric's
    stat names do (perturbation_description_json of HELM's own object)."""
    from helm_efficiency.helm_io.decoders import SCENARIO_STATE
    from helm_efficiency.helm_io.states import from_helm
    from helm_efficiency.request_table.table import request_rows

    states, _ = scenario()
    typed = from_helm(states)
    saved = json.dumps({"request_states": [asdict_without_nones(s) for s in states]}).encode()
    assert typed == SCENARIO_STATE.decode(saved).request_states
    assert typed[1].instance.perturbation == {"name": "typos", "robustness": True, "fairness": False, "computed_on": "perturbed", "prob": 0.1}
    table = request_rows(typed, lambda text: len(text.split()))
    assert table["perturbation_description"].tolist() == [perturbation_description_json(s.instance.perturbation) for s in states]
