"""Every bad input of the tracker issue, run as a user runs it (`python3 -m autoscaler ...` in a
subprocess): the exit code, the file/object/field named in the message, no traceback, and the
work bounded (under 5 CPU-seconds and 300 MB peak RSS, read from the child's own rusage).

All cases start together (a few at a time) so the tier stays short on 2 cores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.badinput.cases import CASES, Case

ROOT = Path(__file__).resolve().parents[2]
MAX_CPU_SECONDS = 5.0
MAX_RSS_KB = 300 * 1024
HANG_GUARD_SECONDS = 120


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    cpu_seconds: float
    max_rss_kb: int


# `python -m autoscaler ARGS`, writing its own peak RSS (VmHWM, in kB) at exit. The kernel's
# ru_maxrss of a child also counts what it had between fork and exec, i.e. the pytest process's
# own size, so it says nothing about the product once the test session has grown.
_MEASURED_MAIN = """
import atexit, re, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kb = re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1)
    with open("peak-rss-kb", "w") as out:
        out.write(kb)
atexit.register(_peak)
sys.argv = ["autoscaler", *sys.argv[1:]]
runpy.run_module("autoscaler", run_name="__main__", alter_sys=True)
"""


def _run_once(case: Case, workdir: Path) -> Outcome:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        path = workdir / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": str(workdir / "no-such-kubeconfig")}
    env.pop("SMART_AUTOSCALER_DEBUG", None)
    with open(workdir / "stdout", "w+b") as out, open(workdir / "stderr", "w+b") as err:
        proc = subprocess.Popen([sys.executable, "-c", _MEASURED_MAIN, *case.argv], cwd=workdir, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, env=env)
        guard = threading.Timer(HANG_GUARD_SECONDS, proc.kill)
        guard.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = workdir / "peak-rss-kb"
        max_rss_kb = int(peak.read_text()) if peak.exists() else usage.ru_maxrss
        peak.unlink(missing_ok=True)
        return Outcome(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                       usage.ru_utime + usage.ru_stime, max_rss_kb)


def _run(case: Case, workdir: Path) -> Outcome:
    """One run; again once if the child was killed by a signal (the hang guard, or the machine's
    OOM killer when CI is crowded), so that the outcome is the product's, not the host's."""
    outcome = _run_once(case, workdir)
    return _run_once(case, workdir) if outcome.code < 0 else outcome


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    # A directory of our own: pytest prunes old numbered basetemp directories, and another
    # pytest session on a shared CI host may prune ours while these children still run.
    base = Path(tempfile.mkdtemp(prefix="smart-autoscaler-badinput-"))
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {case.name: pool.submit(_run, case, base / case.name) for case in CASES}
            yield {name: future.result() for name, future in futures.items()}
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_named_and_bounded(case: Case, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[case.name]
    assert "Traceback" not in got.stderr and "internal error" not in got.stderr, got.stderr
    assert got.code == case.code, f"exit {got.code}: {got.stderr}\n{got.stdout[-2000:]}"
    for words in case.stderr:
        assert words in got.stderr, f"{words!r} not in stderr:\n{got.stderr}"
    for words in case.stdout:
        assert words in got.stdout, f"{words!r} not in stdout:\n{got.stdout}"
    assert got.cpu_seconds < MAX_CPU_SECONDS, f"{got.cpu_seconds:.1f} CPU-seconds"
    assert got.max_rss_kb < MAX_RSS_KB, f"peak RSS {got.max_rss_kb // 1024} MB"
