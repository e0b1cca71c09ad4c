"""Launches off the loop: how long one reconcile takes while a burst's cloud calls are slow.

Run: python benchmarks/bench_launches.py
100 pending pods that need a node each; a simulated cloud whose launch calls take 2 s of
wall-clock time each (time.sleep inside the call, on the daemon's thread executor). Target:
the reconcile that submits the burst returns in well under a second whatever the cloud's
latency, and the burst is answered in about calls x latency / maxConcurrentLaunches.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autoscaler.clock import SystemClock  # noqa: E402
from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.loop.calls import ThreadedCalls  # noqa: E402
from autoscaler.loop.reconcile import Reconciler  # noqa: E402
from autoscaler.sim.cloud import SimulatedProvider  # noqa: E402
from autoscaler.sim.cluster import InMemoryCluster  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from tests.helpers import replicas  # noqa: E402

PODS, LATENCY = 100, 2.0


class SlowCloud(SimulatedProvider):
    def launch(self, request):
        time.sleep(LATENCY)
        return super().launch(request)


def run(max_concurrent: int) -> None:
    clock = SystemClock()
    config = config_from_mapping({"maxConcurrentLaunches": max_concurrent})
    cluster = InMemoryCluster(clock)
    for pod in replicas("burst", PODS, "3", "1Gi"):
        cluster.add_pod(replace(pod, created=clock.now()))
    provider = SlowCloud(clock, config.cluster_name, launch_delay=3600)
    calls = ThreadedCalls(clock, config.max_concurrent_launches, config.cloud_call_timeout)
    reconciler = Reconciler(cluster, provider, region_catalog("aws", "us-east-1"), config, clock, calls=calls)
    started = time.perf_counter()
    reconciler.reconcile_once()
    first = time.perf_counter() - started
    loops, longest = 1, first
    while len(reconciler.lifecycle.records) < PODS and time.perf_counter() - started < 120:
        time.sleep(0.5)
        began = time.perf_counter()
        reconciler.reconcile_once()
        longest = max(longest, time.perf_counter() - began)
        loops += 1
    answered = time.perf_counter() - started
    print(
        f"maxConcurrentLaunches={max_concurrent}: {PODS} launches of {LATENCY:g}s each; first reconcile {first:.3f}s, "
        f"longest of {loops} reconciles {longest:.3f}s; all answered after {answered:.1f}s "
        f"(ideal {PODS * LATENCY / max_concurrent:.1f}s); launch calls {provider.launch_calls}"
    )
    calls.shutdown(0)


if __name__ == "__main__":
    for bound in (10, 50):
        run(bound)
