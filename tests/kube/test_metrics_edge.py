"""NodeMetrics / PodMetrics as metrics-server serves them, read into usage samples with their times."""

from __future__ import annotations

from autoscaler.clock import SimClock
from autoscaler.kube.metrics import node_samples, pod_samples
from autoscaler.sim.cluster import InMemoryCluster
from autoscaler.sim.metrics import SimulatedMetricsServer
from autoscaler.cluster import KubeNode
from autoscaler.resources import Resources
from dataclasses import replace
from tests.helpers import make_pod

NODE_METRICS = {
    "kind": "NodeMetricsList",
    "items": [
        {"metadata": {"name": "n1"}, "timestamp": "2026-11-29T16:24:22Z", "window": "12.002s",
         "usage": {"cpu": "1500000000n", "memory": "1Gi"}},
        {"metadata": {"name": "broken"}, "timestamp": "", "window": "12s", "usage": {"cpu": "1"}},
    ],
}
POD_METRICS = {
    "kind": "PodMetricsList",
    "items": [
        {"metadata": {"name": "web-1", "namespace": "shop"}, "timestamp": "2026-11-29T16:24:22Z", "window": "1m0.5s",
         "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "300Mi"}},
                        {"name": "sidecar", "usage": {"cpu": "20m", "memory": "12Mi"}}]},
    ],
}


def test_node_usage_with_its_time_and_window():
    samples = node_samples(NODE_METRICS)
    # then n1 uses 1.5 CPU and 1 GiB, measured over 12 s ending 16:24:22Z; the item without a time is left out
    assert set(samples) == {"n1"}
    assert (samples["n1"].cpu_millis, samples["n1"].memory_bytes) == (1500, 2**30)
    assert samples["n1"].timestamp == 1795969462.0 and samples["n1"].window == 12.002


def test_pod_usage_sums_its_containers():
    sample = pod_samples(POD_METRICS)["shop/web-1"]
    assert (sample.cpu_millis, sample.memory_bytes, sample.window) == (270, 312 * 2**20, 60.5)


def test_simulated_metrics_server_scrapes_on_its_resolution_and_serves_the_last_scrape():
    clock = SimClock()
    cluster = InMemoryCluster(clock)
    cluster.add_node(KubeNode("n1", allocatable=Resources(cpu=4000, memory=2**33, pods=110), ready=True))
    pod = replace(make_pod("a", owner="Deployment/web"), node_name="n1", phase="Running")
    cluster.add_pod(pod)
    server = SimulatedMetricsServer(cluster, clock, resolution=15)
    server.set_usage("Deployment/default/web", 1200, 2**30)
    first = server.usage()
    assert first.nodes["n1"].cpu_millis == 1200 and first.pods["default/a"].timestamp == clock.now()
    # when usage changes 5 s later, the old scrape is still served; after 15 s the new one
    server.set_usage("default/a", 3000, 2**30)
    clock.advance(5)
    assert server.usage().nodes["n1"].cpu_millis == 1200
    clock.advance(10)
    assert server.usage().nodes["n1"].cpu_millis == 3000
    # and an unavailable metrics API is an error, not data
    server.available = False
    assert "503" in server.usage().error
