"""The daemon and objects it cannot read (SPEC §9): the API server's objects pass through the same
validation as manifests; a bad pod is planned as if absent and gets a Warning event naming the
field; a bad DaemonSet is skipped with an event; every other object is served as usual."""

from __future__ import annotations

from typing import Iterator

import pytest

from autoscaler.clock import SimClock
from autoscaler.kube.cache import CacheOptions
from autoscaler.kube.client import KubeCluster
from tests.kube.fakeapi import HOLD, FakeApiServer, Reply, eventually, listing, serve_volumes
from tests.kube.objects import daemonset, pod

EVENTS_POD = "/api/v1/namespaces/default/events"
EVENTS_DS = "/api/v1/namespaces/kube-system/events"


@pytest.fixture
def cluster(api: FakeApiServer) -> Iterator[KubeCluster]:
    kube = KubeCluster(api.api_client(), cache_options=CacheOptions(backoff_initial=0.02, backoff_max=0.1),
                       clock=SimClock(1_700_000_000.0), instance="test")
    yield kube
    kube.stop()


def serve(api: FakeApiServer, pods: list[dict], daemonsets: list[dict]) -> None:
    api.on("GET", "/api/v1/pods", listing(pods, "10"), watch=False)
    api.on("GET", "/api/v1/nodes", listing([], "10"), watch=False)
    api.on("GET", "/apis/apps/v1/daemonsets", listing(daemonsets, "10"), watch=False)
    api.on("GET", "/apis/policy/v1/poddisruptionbudgets", listing([], "10"), watch=False)
    api.on("GET", "/api/v1/pods|/api/v1/nodes|/apis/apps/v1/daemonsets|/apis/policy/v1/poddisruptionbudgets", HOLD, watch=True)
    serve_volumes(api)
    api.on("POST", EVENTS_POD + "|" + EVENTS_DS, Reply(201, {}))


def test_a_pod_asking_for_half_a_gpu_is_planned_as_if_absent_with_a_warning_event(api, cluster):
    # Given two pending pods, one of which asks for nvidia.com/gpu "1.5"
    bad = pod("half-gpu")
    bad["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "1.5"}
    serve(api, [pod("good"), bad], [])
    # When the daemon lists them
    cluster.start()
    assert cluster.wait_synced(2.0)
    # Then only the good one is in the view, and the bad one gets a Warning event naming the field
    assert [p.name for p in cluster.view().pods] == ["good"]
    eventually(lambda: api.sent("POST", EVENTS_POD))
    (sent,) = api.sent("POST", EVENTS_POD)
    body = sent.body
    assert (body["type"], body["reason"]) == ("Warning", "InvalidPodSpec")
    assert body["involvedObject"]["name"] == "half-gpu"
    assert "plans as if this pod were absent" in body["message"]
    assert "spec.containers[0].resources.limits[nvidia.com/gpu]" in body["message"] and "'1.5'" in body["message"]


def test_a_daemonset_with_a_wrong_typed_field_is_skipped_with_a_warning_event(api, cluster):
    # Given a DaemonSet whose tolerations are the string "all" and a good one
    bad = daemonset("bad-agent")
    bad["spec"]["template"]["spec"]["tolerations"] = "all"
    serve(api, [], [daemonset("fluent-bit"), bad])
    cluster.start()
    assert cluster.wait_synced(2.0)
    # Then the good DaemonSet still counts and the bad one is reported
    assert [d.name for d in cluster.view().daemonsets] == ["fluent-bit"]
    eventually(lambda: api.sent("POST", EVENTS_DS))
    body = api.sent("POST", EVENTS_DS)[0].body
    assert (body["reason"], body["involvedObject"]["kind"]) == ("InvalidDaemonSet", "DaemonSet")
    assert "spec.template.spec.tolerations: expected a list, got 'all'" in body["message"]


def test_a_bound_pod_that_cannot_be_read_is_kept_so_its_node_is_never_seen_empty(api, cluster):
    """Issue 19: a bound pod the planner cannot read stays in the view (its identity, owner and
    node from its metadata, its requests unknown), with the reason; no InvalidPodSpec event
    (that is for pods still waiting for a node)."""
    bad = pod("running")
    bad["spec"]["nodeName"] = "n1"
    bad["spec"]["priority"] = "high"
    serve(api, [bad], [])
    cluster.start()
    assert cluster.wait_synced(2.0)
    (kept,) = cluster.view().pods
    assert (kept.key, kept.node_name) == ("default/running", "n1")
    assert "spec.priority: expected an integer, got 'high'" in kept.unreadable
    cluster.invalid.drain()
    assert api.sent("POST", EVENTS_POD) == []
