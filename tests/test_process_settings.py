"""Process-wide settings the package makes on import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _blas_threads(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    env["PYTHONPATH"] = str(ROOT)
    script = "import autoscaler, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_numpy_gets_one_blas_thread_unless_the_operator_chose():
    """Given no OPENBLAS_NUM_THREADS, when the package is imported (before numpy), then it is 1:
    numpy's import-time dot product would otherwise leave OpenBLAS threads spinning on the
    other core during the first plan. Given OPENBLAS_NUM_THREADS=4, then it stays 4."""
    assert _blas_threads(None) == "1"
    assert _blas_threads("4") == "4"
