"""Fits stored with the shipped tables (builders/fits.py): they predict exactly as a fresh
statsmodels fit does, they are current and rebuild byte-identically, and with them pricing a
request imports no statsmodels."""

import dataclasses
import os
import subprocess
import sys

import pandas as pd
import pytest

from helm_efficiency.stacks import SHIPPED_TABLES
from helm_efficiency.tables.cost_table import CostEntry, load_table
from helm_efficiency.builders.fits import stored_fits_bytes
from helm_efficiency.util.data_paths import fits_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = [1, 96, 512, 1500, 4000, 30000]
O = [1, 2, 64, 300, 2048, 5]


@pytest.mark.parametrize("name", ["a100", "cpu", "h100-trtllm", "b200-vllm"])
def test_a_stored_fit_predicts_the_same_floats_as_a_fresh_fit(name):
    table = load_table(name)
    entries = [e for e in table.entries if isinstance(e, CostEntry)][::7]
    assert entries
    for entry in entries:
        assert entry.fit_store and entry.key in entry.fit_store, f"{entry.model}: no stored fit"
        fresh = dataclasses.replace(entry, fit_store=None)
        for batch in entry._models:
            stored, refit = entry.predict(P, O, batch), fresh.predict(P, O, batch)
            pd.testing.assert_frame_equal(stored, refit, check_exact=True)
        assert "_fitted" not in vars(entry), f"{entry.model}: refitted although a fit is stored"


def test_an_entry_whose_measurements_changed_is_fitted_afresh():
    entry = next(e for e in load_table("a100").entries if isinstance(e, CostEntry))
    changed = dataclasses.replace(entry, measurements=entry.measurements.assign(runtime_s=entry.measurements["runtime_s"] * 2))
    assert changed.key != entry.key and changed._models is changed._fitted
    ratio = changed.predict([512], [64])["runtime_s"].iloc[0] / entry.predict([512], [64])["runtime_s"].iloc[0]
    assert ratio == pytest.approx(2.0, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_TABLES)
def test_the_shipped_fits_are_current_and_rebuild_byte_identically(name):
    with open(fits_path(name), "rb") as f:
        assert f.read() == stored_fits_bytes(name), f"rerun python -m helm_efficiency.builders.fits --table {name}"


def test_pricing_a_shipped_model_imports_no_statsmodels(tmp_path):
    code = ("import sys, pandas as pd\n"
            "from helm_efficiency.pricing.estimate import estimate_idealized, load_tables\n"
            "r = pd.DataFrame([dict(model='meta/llama-3.1-8b', num_prompt_tokens=500, num_output_tokens=50)])\n"
            "out = estimate_idealized(r, load_tables(['h100-trtllm']))\n"
            "assert out['method'].iloc[0] == 'calibrated' and out['idealized_runtime_s'].iloc[0] > 0\n"
            "assert not [m for m in sys.modules if m.startswith('statsmodels')], 'statsmodels was imported'\n")
    env = dict(os.environ, HELM_EFFICIENCY_CACHE=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(n.startswith("yaml-") for n in os.listdir(tmp_path)), "HELM's catalog parse was not cached"


def test_the_catalog_parse_cache_returns_the_parse_and_is_skipped_when_unwritable(tmp_path, monkeypatch):
    import datetime

    from helm_efficiency.helm_io import catalog

    text = "models:\n  - name: a/b\n    release_date: 2023-03-01\n    num_parameters: 7\n"
    monkeypatch.setenv("HELM_EFFICIENCY_CACHE", str(tmp_path))
    first, second = catalog._parsed(text), catalog._parsed(text)
    assert first == second and second["models"][0]["release_date"] == datetime.date(2023, 3, 1)
    assert len(os.listdir(tmp_path)) == 1
    assert catalog._parsed(text + "  - name: c/d\n") != first  # another text, another entry
    (tmp_path / "blocked").write_text("a file, so no folder can be made under it")
    monkeypatch.setenv("HELM_EFFICIENCY_CACHE", str(tmp_path / "blocked" / "cache"))
    assert catalog._parsed(text) == first
