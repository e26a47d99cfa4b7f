"""No noise a user has to learn to ignore (issue #33, item 6): rescore raises no pandas
FutureWarning, and helm-summarize with our schema warns about no stat our group shows."""

import os
import shutil
import subprocess
import warnings

import pytest

from helm_efficiency.helm.schema import write_schema
from helm_efficiency.rescore import rescore_suite

from conftest import run_helm_command

WILD = os.path.join(os.path.dirname(__file__), "data", "wild")


def test_rescore_of_a_real_suite_raises_no_future_warning(tmp_path):
    """HELM Safety v3: runs whose requests tables have all-missing columns where others have values."""
    shutil.copytree(os.path.join(WILD, "helm_safety_v3"), tmp_path / "v3")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        summary = rescore_suite(str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3"), progress=False)
        rescore_suite(str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3"), pattern="bbq*", progress=False)  # keeps the other runs' rows
    assert summary["rescored"] == summary["runs"]


@pytest.mark.e2e
def test_helm_summarize_with_our_schema_warns_about_none_of_our_stats(tmp_path):
    """simple/model1 on the default stack: no idealized runtime, energy, cost or served numbers.
    Each of those is written with count 0 (HELM's "no value" convention), so helm-summarize shows
    an empty cell instead of a warning per stat and run."""
    entry = "synthetic_reasoning:mode=pattern_match,model=simple/model1,efficiency=true"
    done = subprocess.run(["helm-run", "--run-entries", entry, "--suite", "n", "--max-eval-instances", "5", "-o", str(tmp_path / "out"),
                           "--local-path", str(tmp_path / "prod_env")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    write_schema(str(tmp_path / "schema.yaml"))
    done = run_helm_command(["helm-summarize", "--suite", "n", "-o", str(tmp_path / "out"), "--schema-path", str(tmp_path / "schema.yaml")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings_about_ours = [line for line in (done.stdout + done.stderr).splitlines() if "WARN" in line and "efficiency_" in line]
    assert not warnings_about_ours, warnings_about_ours[:5]


def test_our_helm_server_headers_are_whole_and_distinct():
    """helm-server cuts a header over 30 characters to 27 and '...': each of our columns keeps its own name."""
    from helm_efficiency.helm.metric_names import SCHEMA_GROUP_STATS
    from helm_efficiency.helm.schema import GROUP, efficiency_schema

    headers = [s.short_display_name or s.display_name for s in SCHEMA_GROUP_STATS]
    assert all(len(h) <= 27 for h in headers), [h for h in headers if len(h) > 27]
    assert len({h[:27] for h in headers}) == len(headers)
    schema = efficiency_schema()
    fields = {m["name"]: m for m in schema["metrics"]}
    assert all((fields[s.name].get("short_display_name") or fields[s.name]["display_name"]) == (s.short_display_name or s.display_name)
               for s in SCHEMA_GROUP_STATS)
    for run_group in schema["run_groups"]:  # a page gathering several scenarios would prefix and cut our headers
        assert (GROUP in run_group.get("metric_groups", [])) == bool(run_group.get("metric_groups") and not run_group.get("subgroups"))
        if run_group.get("subgroups"):
            assert GROUP in run_group["subgroup_metric_groups_hidden"]


def test_cost_is_shown_per_million_requests(tmp_path):
    """1.02e-5 USD per request is 0 at helm-server's three decimals; per million requests it is 10.2."""
    from helm_efficiency.helm.metric_names import SCHEMA_GROUP_STATS
    from helm_efficiency.helm_io.runs import list_run_dirs, read_json, stat_means

    group = {s.name for s in SCHEMA_GROUP_STATS}
    assert {"efficiency_idealized_cost_usd_per_1m", "efficiency_served_cost_usd_per_1m"} <= group
    assert not {"efficiency_idealized_cost_usd", "efficiency_served_cost_usd"} & group
    shutil.copytree(os.path.join(WILD, "helm_safety_v4"), tmp_path / "v4")
    suite = str(tmp_path / "v4" / "benchmark_output" / "runs" / "v4")
    rescore_suite(suite, progress=False)
    checked = 0
    for run in list_run_dirs(suite):
        means = stat_means(read_json(os.path.join(run, "stats.json")))
        if "efficiency_idealized_cost_usd" in means:
            assert means["efficiency_idealized_cost_usd_per_1m"] == pytest.approx(means["efficiency_idealized_cost_usd"] * 1e6, rel=1e-12)
            checked += 1
    assert checked
