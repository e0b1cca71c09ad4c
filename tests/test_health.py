"""/healthz and /readyz (issue 19, item 4): liveness stays simple, readiness tells whether the
Kubernetes API and the cloud answer."""

from __future__ import annotations

import urllib.error
import urllib.request

from autoscaler.health import CLOUD, KUBERNETES, Readiness
from autoscaler.metrics import Metrics, serve


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_readiness_fails_on_the_third_loop_without_the_api_and_recovers_on_the_first_with_it():
    readiness = Readiness()
    for _ in range(2):
        readiness.observe(KUBERNETES, "list pods: connection refused")
        assert readiness.check()[0]
    readiness.observe(KUBERNETES, "list pods: connection refused")
    ready, why = readiness.check()
    assert not ready and "kubernetes API unreachable for 3 loops: list pods: connection refused" in why
    readiness.observe(KUBERNETES, "")
    assert readiness.check() == (True, "")


def test_a_cloud_not_asked_changes_nothing_and_a_failing_cloud_makes_the_daemon_unready():
    readiness = Readiness()
    for _ in range(3):
        readiness.observe(CLOUD, "listing instances failed: Throttling")
        readiness.observe(CLOUD, None)
    assert not readiness.check()[0] and not readiness.reachable(CLOUD) and readiness.reachable(KUBERNETES)


def test_healthz_answers_for_the_loop_and_readyz_for_the_apis():
    readiness = Readiness(fail_loops=0)
    server = serve(Metrics(), "127.0.0.1", 0, lambda: True, readiness.check)
    port = server.server_address[1]
    try:
        assert get(port, "/readyz") == (200, "ok\n")
        readiness.observe(KUBERNETES, "watch nodes: connection refused")
        status, body = get(port, "/readyz")
        assert status == 503 and "kubernetes API unreachable" in body
        assert get(port, "/healthz") == (200, "ok\n")  # a restart would not bring the API back
    finally:
        server.shutdown()
