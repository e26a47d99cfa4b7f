"""The explicit Catalog (HELM's YAML plus a suite's prod_env, passed down, never a process global)
and the one EfficiencySpec every entry point builds from its own options."""

import inspect
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.analytic.identity import identify, registry_key
from helm_efficiency.analytic.registry import registry_name
from helm_efficiency.cli import build_parser, main
from helm_efficiency.cli.options import efficiency_spec
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io import catalog as catalog_module
from helm_efficiency.helm_io.catalog import HELM_ONLY, Catalog
from helm_efficiency.pricing.estimate import estimate_idealized
from helm_efficiency.pricing.spec import CLI_NAMES, OPTIONS, EfficiencySpec
from helm_efficiency.stacks import DEFAULT_TABLE
from helm_efficiency.tables.sla import Sla

DEPLOYMENT = "myorg/house-model"


def prod_env(folder, model, window):
    """A prod_env folder whose one deployment, DEPLOYMENT, serves `model` with a `window`-token limit."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model_deployments.yaml"), "w") as f:
        f.write(f"model_deployments:\n  - name: {DEPLOYMENT}\n    model_name: {model}\n    tokenizer_name: simple/tokenizer1\n"
                f"    max_sequence_length: {window}\n    client_spec:\n      class_name: helm.clients.openai_client.OpenAIClient\n")
    return str(folder)


@pytest.fixture
def two_envs(tmp_path):
    return (prod_env(tmp_path / "small", "meta/llama-3-8b", 4096), prod_env(tmp_path / "large", "meta/llama-3.1-70b", 65536))


def answers(catalog):
    ident = identify(catalog, [DEPLOYMENT])
    return (catalog.model_of_deployment(DEPLOYMENT), catalog.deployment_context_window(DEPLOYMENT), registry_name(DEPLOYMENT, catalog),
            registry_key(DEPLOYMENT, catalog), ident.helm_model, ident.registry_key)


@pytest.mark.parametrize("small_first", [True, False])
def test_two_catalogs_answer_apart_in_one_process_in_either_order(two_envs, small_first):
    small, large = two_envs
    order = [(small, "meta/llama-3-8b", 4096), (large, "meta/llama-3.1-70b", 65536)]
    catalogs = {}
    for path, model, window in order if small_first else order[::-1]:
        catalogs[path] = Catalog(path)
        assert answers(catalogs[path]) == (model, window, model, model, model, model)
    # asked again after the other one answered: still its own answer (nothing global moved)
    assert answers(catalogs[small])[0] == "meta/llama-3-8b" and answers(catalogs[large])[0] == "meta/llama-3.1-70b"
    # HELM's own catalog knows neither
    assert Catalog().model_of_deployment(DEPLOYMENT) is None and registry_name(DEPLOYMENT) is None


def test_two_catalogs_price_one_request_as_their_own_model(two_envs):
    small, large = two_envs
    request = pd.DataFrame({"model_deployment": [DEPLOYMENT], "model": [None], "num_prompt_tokens": [512], "num_output_tokens": [64]})
    out = {path: estimate_idealized(request, EfficiencySpec.build().cost_tables, catalog=Catalog(path)).iloc[0] for path in (large, small)}
    assert out[small]["reference_model"] != out[large]["reference_model"]
    assert out[large]["idealized_runtime_s"] > 2 * out[small]["idealized_runtime_s"]  # 70B (on more GPUs) against 8B
    unknown = estimate_idealized(request, EfficiencySpec.build().cost_tables).iloc[0]  # HELM's catalog only
    assert np.isnan(unknown["idealized_runtime_s"]) and DEPLOYMENT in unknown["unestimated_reason"]


def test_a_catalog_is_frozen_pickles_by_its_folder_and_has_no_global_twin(two_envs, tmp_path):
    small, _ = two_envs
    catalog = Catalog(small).preload()
    with pytest.raises(Exception):
        catalog.local_path = None  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(catalog))
    assert again == catalog and again.model_of_deployment(DEPLOYMENT) == "meta/llama-3-8b"
    assert len(pickle.dumps(catalog)) < 500  # the folder, not the parsed indexes
    assert Catalog(str(tmp_path / "missing")) == Catalog() == HELM_ONLY  # a missing folder: HELM's files only
    assert not any(hasattr(catalog_module, name) for name in ("use_local_path", "_LOCAL_PATH", "model_of_deployment"))


def test_a_malformed_prod_env_names_its_file(tmp_path):
    (tmp_path / "model_deployments.yaml").write_text("model_deployments: [unclosed\n")
    with pytest.raises(EfficiencyInputError, match="model_deployments.yaml"):
        Catalog(str(tmp_path)).model_of_deployment("x")


def test_identify_gathers_one_model_identity():
    rows = pd.DataFrame({"num_prompt_tokens": [10], "num_output_tokens": [5]})
    ident = identify(HELM_ONLY, ["together/llama-3.1-8b-instruct-turbo", "meta/llama-3.1-8b-instruct"], rows=rows)
    assert ident.deployment == "together/llama-3.1-8b-instruct-turbo"
    assert ident.helm_model == "meta/llama-3.1-8b-instruct-turbo" and ident.registry_key == "meta/llama-3.1-8b"
    assert ident.arch()["num_layers"] == 32 and ident.num_parameters and ident.num_parameters > 7e9
    assert ident.context_window and ident.context_window[0] > 8000 and ident.closed is None
    closed = identify(HELM_ONLY, ["openai/gpt-4o-2024-05-13"])
    assert closed.closed and closed.registry_key is None and closed.architecture is None


# -- EfficiencySpec -------------------------------------------------------------------------------
def test_the_spec_defaults_and_is_frozen():
    spec = EfficiencySpec.build()
    assert spec.tables == (DEFAULT_TABLE,) and spec.served_on == DEFAULT_TABLE and spec.sla == Sla()
    assert (spec.power_w, spec.usd_per_gpu_hour, spec.quantile) == (None, None, None)
    with pytest.raises(Exception):
        spec.power_w = 1.0  # type: ignore[misc]
    assert EfficiencySpec.build(tables="a100+v100", sla="tpot=40ms").tables == ("a100", "v100")
    assert EfficiencySpec.build(tables=["a100"], served_stack=DEFAULT_TABLE).served_on == DEFAULT_TABLE


@pytest.mark.parametrize("option, value, needle", [
    ("power_w", -5.0, "positive"), ("usd_per_gpu_hour", float("inf"), "positive"), ("quantile", 1.5, "between 0 and 1"),
    ("quantile", 0.0, "between 0 and 1"), ("sla", "tpot=fast", "tpot"), ("tables", "no-such-table.json", "neither a shipped"),
    ("served_stack", "a100", "no served table"),
])
def test_a_bad_option_is_refused_once_naming_it_as_its_entry_point_spells_it(option, value, needle):
    for cli, name in ((True, CLI_NAMES[option]), (False, option)):
        with pytest.raises(EfficiencyInputError) as error:
            EfficiencySpec.build(**{option: value}, source="here", cli=cli)
        assert name in str(error.value) and needle in str(error.value), str(error.value)


def test_the_metric_estimate_and_rescore_take_the_same_options():
    from helm_efficiency.helm.metric import InferenceEfficiencyMetric

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    for verb in ("estimate", "rescore"):
        options = {o for action in verbs[verb]._actions for o in action.option_strings}
        assert set(CLI_NAMES.values()) <= options, (verb, set(CLI_NAMES.values()) - options)
    assert set(OPTIONS) == set(inspect.signature(InferenceEfficiencyMetric.__init__).parameters) - {"self"}
    args = parser.parse_args(["rescore", "suite", "--table", "a100", "--power-w", "300", "--usd-per-gpu-hour", "2",
                              "--quantile", "0.1", "--sla", "tpot=40ms,ttft=1s", "--served-stack", DEFAULT_TABLE])
    assert efficiency_spec(args, "rescore") == EfficiencySpec.build(tables=["a100"], power_w=300, usd_per_gpu_hour=2, quantile=0.1,
                                                                    sla="tpot=40ms,ttft=1s", served_stack=DEFAULT_TABLE)
    metric = InferenceEfficiencyMetric(tables="a100", power_w=300, usd_per_gpu_hour=2, quantile=0.1, sla="tpot=40ms,ttft=1s",
                                       served_stack=DEFAULT_TABLE)
    assert metric.spec == efficiency_spec(args, "rescore")
    with pytest.raises(EfficiencyInputError, match="'quantile'"):
        InferenceEfficiencyMetric(quantile=2)
    with pytest.raises(EfficiencyInputError, match="h100-trtlm"):  # a misspelt stack fails when the metric is made
        InferenceEfficiencyMetric(tables="h100-trtlm")
    InferenceEfficiencyMetric(tables="gone/table.json")  # a table file loads on first use (helm-summarize builds the metric too)


def test_rescore_prices_with_its_power_price_and_quantile(tmp_path, capsys):
    from test_wild_suites import copy_suite, requests_table
    from helm_efficiency.rescore import rescore_suite

    suite_dir, local = copy_suite("helm_safety_v4", tmp_path)
    main(["rescore", suite_dir, "--power-w", "300", "--usd-per-gpu-hour", "2"] + (["--local-path", local] if local else []))
    table = requests_table(suite_dir)
    priced = table[table["idealized_runtime_s"].notna()]
    assert len(priced)
    gpus = priced["idealized_energy_j"] / (priced["idealized_runtime_s"] * 300)  # energy = runtime x GPUs x 300 W
    assert np.allclose(gpus, np.round(gpus)) and (np.round(gpus) >= 1).all()
    assert np.allclose(priced["idealized_cost_usd"], priced["idealized_runtime_s"] / 3600 * np.round(gpus) * 2)
    import glob
    import json

    records = glob.glob(os.path.join(suite_dir, "*", "efficiency_metadata.json"))
    assert records
    served_methods, unserved = 0, 0
    for meta_path in records:  # each run records what priced it, and how its served numbers were had or why not
        with open(meta_path) as f:
            meta = json.load(f)
        assert meta["pricing"] == {"served_stack": "h100-trtllm", "power_w": 300.0, "usd_per_gpu_hour": 2.0, "quantile": None}
        served_methods += sum(meta["served_methods"].values())
        unserved += sum(meta["unserved_reasons"].values())
    assert served_methods == table["served_gpu_s"].notna().sum() and unserved == table["served_gpu_s"].isna().sum()
    summary = rescore_suite(suite_dir, spec=EfficiencySpec.build(quantile=0.3), dry_run=True, progress=False, local_path=local)
    fitted = [r for r in summary["denoise"].values() if r.get("quality") not in (None, "too few requests")]
    assert fitted and all(r["quantile"] == 0.3 for r in fitted)
    with pytest.raises(SystemExit) as exit_info:
        main(["rescore", suite_dir, "--quantile", "1.5"])
    assert exit_info.value.code == 2 and "--quantile" in capsys.readouterr().err
