"""No noise a user has to learn to ignore (issue #33, item 6): rescore raises no pandas
FutureWarning, and helm-summarize with our schema warns about no stat our group shows."""

import os
import shutil
import warnings

from helm_efficiency.rescore import rescore_suite

WILD = os.path.join(os.path.dirname(__file__), "data", "wild")


def test_rescore_of_a_real_suite_raises_no_future_warning(tmp_path):
    """HELM Safety v3: runs whose requests tables have all-missing columns where others have values."""
    shutil.copytree(os.path.join(WILD, "helm_safety_v3"), tmp_path / "v3")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        summary = rescore_suite(str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3"), progress=False)
        rescore_suite(str(tmp_path / "v3" / "benchmark_output" / "runs" / "v3"), pattern="bbq*", progress=False)  # keeps the other runs' rows
    assert summary["rescored"] == summary["runs"]
