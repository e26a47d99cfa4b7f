import os
import subprocess
import sys
import warnings

from helm_efficiency.util.reproducible import float_env, missing_float_env

# Before NumPy loads (pandas below imports it): the code paths that make fits, rebuilds and
# rescores byte-identical across x86-64 CPUs with AVX2 (util/reproducible.py). Subprocesses inherit them.
# (A Dask worker that unpickles a test module imports this file with NumPy loaded; it has them.)
if "numpy" not in sys.modules:
    os.environ.update(float_env())
elif missing_float_env():
    warnings.warn(f"NumPy was imported before tests/conftest.py could set {sorted(missing_float_env())}: the byte-identity "
                  "tests may fail on a CPU unlike the one that wrote the shipped data (see helm_efficiency/util/reproducible.py)")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# A slice of the public data from github.com/stanford-crfm/helm-efficiency, shipped with the
# tests (see tests/data/README.md) so that no test depends on anything outside this repository.
TEST_DATA = os.path.join(os.path.dirname(__file__), "data")


def synthetic_measurements(model="synthetic", hardware="testhw", f0=0.02, f1=2e-5, g=0.01, h=0.0, prompts=(1, 64, 128, 256, 512), outputs=(1, 4, 16), num_gpus=1):
    """Exact runtimes T = f0 + f1·p + g·(o−1) + h·Σ(p+i)."""
    rows = []
    for p in prompts:
        for o in outputs:
            t = f0 + f1 * p + g * (o - 1) + h * ((o - 1) * p + (o - 1) * o / 2)
            rows.append({"model": model, "hardware": hardware, "num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": t, "num_gpus": num_gpus})
    return pd.DataFrame(rows)


@pytest.fixture
def data_dir():
    return TEST_DATA


# CPython 3.11 can fail to compile when several threads compile at once, raising SystemError
# "AST constructor recursion depth mismatch"; helm-summarize compiles Mako templates on its worker
# threads and so, rarely, exits 1 with that message (seen once in a clean-clone CI run). Not a
# defect of this project or of the suite: such a run is repeated once; any other failure stands.
CPYTHON_COMPILE_RACE = "AST constructor recursion depth mismatch"


def run_helm_command(args, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run (with capture_output), repeated once when it failed on CPython's compile race."""
    kwargs.setdefault("capture_output", True)
    done = subprocess.run(args, **kwargs)
    if done.returncode != 0 and CPYTHON_COMPILE_RACE in f"{done.stdout}{done.stderr}":
        done = subprocess.run(args, **kwargs)
    return done

