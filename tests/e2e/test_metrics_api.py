"""The metrics path on the real control plane: kwok emulates kubelet resource metrics from pod
annotations, metrics-server scrapes them and serves metrics.k8s.io through the aggregator, and
the daemon's edge (autoscaler/kube/metrics.py) reads NodeMetrics and PodMetrics with their
timestamps, as `kubectl top node` / `kubectl top pod` would."""

from __future__ import annotations

import time
import uuid

import pytest

from autoscaler.kube.metrics import MetricsApi

pytestmark = pytest.mark.e2e

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def busy_pod(name: str, node: str, cpu: str, memory: str) -> dict:
    return {
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/usage-cpu": cpu, "kwok.x-k8s.io/usage-memory": memory}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "main", "image": PAUSE_IMAGE, "resources": {"requests": {"cpu": "100m"}}}]},
    }


def test_node_and_pod_usage_read_through_the_metrics_api(control_plane, metrics_server, k8s_client, core_v1, namespace, kwok_nodes):
    # given a 4-CPU / 8 GiB kwok node running pods that use 1.5 CPU + 1 GiB and 0.5 CPU + 512 MiB
    node = f"top-{uuid.uuid4().hex[:6]}"
    kwok_nodes(node, "4", "8Gi")
    core_v1.create_namespaced_pod(namespace, busy_pod("big", node, "1500m", "1Gi"))
    core_v1.create_namespaced_pod(namespace, busy_pod("small", node, "500m", "512Mi"))
    api = MetricsApi(k8s_client)

    # when metrics-server has scraped kwok twice (CPU is a rate)
    def both_pods():
        report = api.usage()
        pods = {k: v for k, v in report.pods.items() if k.startswith(namespace + "/")}
        return report if len(pods) == 2 and node in report.nodes else None

    report = control_plane.wait_for(both_pods, timeout=90, interval=1.0, what="NodeMetrics and PodMetrics")

    # then the node uses 2 CPUs and 1.5 GiB, each pod what its annotations say
    assert report.error == ""
    sample = report.nodes[node]
    assert sample.cpu_millis == pytest.approx(2000, abs=20)
    assert sample.memory_bytes == 1536 * 2**20
    assert report.pods[f"{namespace}/big"].cpu_millis == pytest.approx(1500, abs=15)
    assert report.pods[f"{namespace}/small"].memory_bytes == 512 * 2**20
    # and every sample says when it was measured, over which window (12 s resolution)
    assert abs(sample.timestamp - time.time()) < 60
    assert 10 <= sample.window <= 30


def test_metrics_api_missing_is_reported_not_raised(k8s_client):
    # given an API group nobody serves (what a cluster without metrics-server answers for metrics.k8s.io)
    api = MetricsApi(k8s_client, group="metrics.example.com")
    # when usage is read
    report = api.usage()
    # then the report carries the error with a hint, and no sample
    assert "404" in report.error and "metrics-server" in report.error
    assert not report.nodes and not report.pods
