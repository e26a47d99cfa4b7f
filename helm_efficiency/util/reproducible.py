"""Floating-point settings under which a rebuild, a refit or a rescore gives the same bytes on any x86-64 machine.

NumPy picks SIMD code paths (AVX2 or AVX-512) and OpenBLAS picks kernels by the CPU it finds, and
the paths round differently in the last bits: a statsmodels fit or a rescore then differs by about
1e-15 relative between two machines, and a byte-identical rebuild holds on one machine only (a
shipped fit made on an AVX-512 machine failed `tests/test_fits.py` on an AVX2-only one). These
variables pin both to the AVX2 level (OpenBLAS's Haswell kernels, NumPy's AVX-512 dispatch off,
one BLAS thread), which every x86-64 server of the last decade has. They are read when NumPy and
OpenBLAS load, so they must be in the environment before NumPy is imported: the rebuild command
passes them to each step's process and the test suite sets them first thing in tests/conftest.py.
Other architectures (arm64) are left alone. This module imports nothing heavy.
"""

import os
import platform
import sys
from typing import Dict, Mapping, Optional

# NumPy ≥ 2.4 names the AVX-512 dispatch targets X86_V4, AVX512_ICL and AVX512_SPR; earlier NumPy
# names them AVX512F ... AVX512_SPR. Names a NumPy does not know are ignored by it.
_X86_FLOAT_ENV = {
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL",
    "OPENBLAS_NUM_THREADS": "1",
}


def float_env() -> Dict[str, str]:
    """The variables that pin floating-point code paths on this machine ({} off x86-64)."""
    return dict(_X86_FLOAT_ENV) if platform.machine().lower() in ("x86_64", "amd64") else {}


def environment(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`base` (default: this process's environment) with `float_env()` set: for a child process."""
    return {**(os.environ if base is None else base), **float_env()}


def rerun_with_float_env() -> None:
    """Re-run this command in a fresh interpreter with `float_env()` set, unless it is set already.

    For the `__main__` block of a command that writes shipped bytes (builders, refits, the rescore
    golden hashes): the module has imported NumPy by then, so the settings need a new process."""
    wanted = float_env()
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment())
