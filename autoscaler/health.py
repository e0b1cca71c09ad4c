"""Health that tells the truth (issue 19, item 4).

`/healthz` (liveness) says the daemon's loop is turning: a stuck process is restarted.
`/readyz` (readiness) says whether it can do its job: it fails while the Kubernetes API server
or the cloud has not answered for more than `FAIL_LOOPS` loops in a row, and passes again on
the first loop both answer. A restart would not help with either, so liveness stays up.
The gauge `smart_autoscaler_api_reachable{api}` says the same to Prometheus (the chart's
alerts use it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

FAIL_LOOPS = 2  # loops in a row an API may fail before the daemon reports not ready
KUBERNETES, CLOUD = "kubernetes", "cloud"


@dataclass
class _Api:
    failures: int = 0
    error: str = ""


@dataclass
class Readiness:
    fail_loops: int = FAIL_LOOPS
    apis: dict[str, _Api] = field(default_factory=lambda: {KUBERNETES: _Api(), CLOUD: _Api()})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, api: str, error: str | None) -> None:
        """One loop's answer from an API: '' when it answered, the error when not, None when it
        was not asked (a follower does not call the cloud): nothing changes then."""
        if error is None:
            return
        with self._lock:
            state = self.apis[api]
            state.failures, state.error = (state.failures + 1, error) if error else (0, "")

    def reachable(self, api: str) -> bool:
        with self._lock:
            return self.apis[api].failures <= self.fail_loops

    def check(self) -> tuple[bool, str]:
        """(ready, why not): the APIs failing for more than `fail_loops` loops, with their errors."""
        with self._lock:
            failing = [
                f"{name} API unreachable for {state.failures} loops: {state.error}"
                for name, state in self.apis.items()
                if state.failures > self.fail_loops
            ]
        return not failing, "; ".join(failing)
