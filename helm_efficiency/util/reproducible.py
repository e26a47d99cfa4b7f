"""Floating-point settings under which a rebuild, a refit or a rescore gives the same bytes on x86-64 machines with AVX2.

NumPy picks SIMD code paths (AVX2 or AVX-512) and OpenBLAS picks kernels by the CPU it finds, and
the paths round differently in the last bits (about 1e-16 per operation, up to 6e-10 relative in a
fitted parameter): a byte-identical rebuild then holds on one kind of machine only (a shipped fit
made on an AVX-512 machine failed `tests/test_fits.py` on an AVX2-only one). These variables pin
both to the AVX2 level (OpenBLAS's Haswell kernels, NumPy's AVX-512 dispatch off, one BLAS
thread). Checked on an AVX2-only machine, where they reproduce its native bytes; on an AVX-512
machine they select the same code, by construction. They are read when NumPy and OpenBLAS load, so
they must be in the environment before NumPy is imported: the rebuild command passes them to each
step's process, builders and refits re-run themselves with them, and the test suite sets them
first thing in tests/conftest.py. Machines without AVX2 and FMA, and other architectures (arm64),
are left alone (a forced Haswell core would not run there), and their last bits may differ.
This module imports nothing heavy (not NumPy).
"""

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Dict, Mapping, Optional


def _numpy_avx512_targets() -> str:
    """NumPy's names for its AVX-512 dispatch targets (≥ 2.4: X86_V4, AVX512_ICL, AVX512_SPR;
    before: AVX512F ... AVX512_SPR), read from its metadata without importing it (a name NumPy
    does not know makes it warn at import)."""
    try:
        major, minor = (int(x) for x in version("numpy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return ""
    if (major, minor) >= (2, 4):
        return "X86_V4 AVX512_ICL AVX512_SPR"
    return "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"


def _has_avx2_fma() -> bool:
    """The CPU runs OpenBLAS's Haswell kernels (Linux's /proc/cpuinfo flags; False where unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


@lru_cache(maxsize=1)
def float_env() -> Dict[str, str]:
    """The variables that pin floating-point code paths on this machine ({} where they cannot)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not _has_avx2_fma():
        return {}
    out = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}
    targets = _numpy_avx512_targets()
    if targets:
        out["NPY_DISABLE_CPU_FEATURES"] = targets
    return out


def environment(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`base` (default: this process's environment) with `float_env()` set: for a child process."""
    return {**(os.environ if base is None else base), **float_env()}


def missing_float_env() -> Dict[str, str]:
    """The variables of `float_env()` this process's environment lacks or sets otherwise."""
    return {k: v for k, v in float_env().items() if os.environ.get(k) != v}


def rerun_with_float_env() -> None:
    """Re-run this command in a fresh interpreter with `float_env()` set, unless it is set already.

    For the `__main__` block of a command that writes shipped bytes (builders, refits, the rescore
    golden hashes): the module has imported NumPy by then, so the settings need a new process."""
    if not missing_float_env():
        return
    argv = [sys.executable, *sys.orig_argv[1:]]
    if os.name == "nt":  # no exec that keeps the exit status there
        sys.exit(subprocess.call(argv, env=environment()))
    os.execve(sys.executable, argv, environment())
