from __future__ import annotations

import re
import threading
from typing import Iterator

import pytest

from autoscaler.clock import SimClock
from autoscaler.cluster import ClusterError, EvictionOutcome, ObjectRef
from autoscaler.kube.cache import CacheOptions
from autoscaler.kube.client import KubeCluster
from autoscaler.resources import Resources
from pricing.types import Taint
from tests.kube.fakeapi import HOLD, FakeApiServer, Reply, eventually, listing, serve_volumes, status, stream
from tests.kube.objects import daemonset, event, node, pdb, pod

NODE = "/api/v1/nodes/ip-10-0-0-1"
EVICTION = "/api/v1/namespaces/default/pods/web-1/eviction"
EVENTS = "/api/v1/namespaces/default/events"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")
FORBIDDEN_PATCH = (
    'nodes "ip-10-0-0-1" is forbidden: User "system:serviceaccount:kube-system:smart-autoscaler" '
    'cannot patch resource "nodes" in API group "" at the cluster scope'
)


@pytest.fixture
def cluster(api: FakeApiServer) -> Iterator[KubeCluster]:
    kube = KubeCluster(
        api.api_client(),
        cache_options=CacheOptions(backoff_initial=0.02, backoff_max=0.1, watch_timeout=5),
        clock=SimClock(1_700_000_000.0),
        instance="smart-autoscaler-7d9f-abcde",
    )
    yield kube
    kube.stop()


# ---- the view


def serve_lists(api: FakeApiServer, nodes_reply: Reply | None = None) -> None:
    api.on("GET", "/api/v1/pods", listing([pod("web-1", owner="ReplicaSet/web")], "10"), watch=False)
    api.on("GET", "/api/v1/nodes", nodes_reply or listing([node("ip-10-0-0-1")], "10"), watch=False)
    api.on("GET", "/apis/apps/v1/daemonsets", listing([daemonset("fluent-bit")], "10"), watch=False)
    api.on("GET", "/apis/policy/v1/poddisruptionbudgets", listing([pdb("web", {"matchLabels": {"app": "web"}})], "10"), watch=False)
    serve_volumes(api)
    api.on("GET", "/api/v1/pods|/api/v1/nodes|/apis/apps/v1/daemonsets|/apis/policy/v1/poddisruptionbudgets", HOLD, watch=True)


def test_view_holds_every_resource_converted(api, cluster):
    serve_lists(api)
    cluster.start()
    assert cluster.wait_synced(2.0)
    view = cluster.view()
    assert [p.key for p in view.pods] == ["default/web-1"] and view.pods[0].owner == "ReplicaSet/default/web"
    assert [n.name for n in view.nodes] == ["ip-10-0-0-1"] and view.nodes[0].allocatable.cpu == 3920
    assert view.daemonsets[0].requests == Resources(cpu=100, memory=128 * 2**20, pods=1)
    assert view.pdbs[0].match_labels == {"app": "web"}
    pods_list = api.sent("GET", "/api/v1/pods", watch=False)[0]
    assert pods_list.query["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"


def test_a_pending_pod_whose_claim_is_bound_to_a_zonal_volume_may_run_in_that_zone_only(api, cluster):
    # Given a pending pod using claim data-web-1, bound to volume pv-1 reachable from us-east-1b
    # (the EBS CSI driver's zone key), on the API server
    pending = pod("web-1", owner="ReplicaSet/web")
    pending["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}}]
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "data-web-1", "namespace": "default", "resourceVersion": "5"},
             "spec": {"volumeName": "pv-1", "storageClassName": "gp3"}, "status": {"phase": "Bound"}}
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1", "resourceVersion": "6"},
              "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                  {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": ["us-east-1b"]}]}]}}}}
    api.on("GET", "/api/v1/pods", listing([pending], "10"), watch=False)
    api.on("GET", "/api/v1/nodes", listing([], "10"), watch=False)
    api.on("GET", "/apis/apps/v1/daemonsets", listing([], "10"), watch=False)
    api.on("GET", "/apis/policy/v1/poddisruptionbudgets", listing([], "10"), watch=False)
    serve_volumes(api, [claim], [volume])
    api.on("GET", "/api/v1/pods|/api/v1/nodes|/apis/apps/v1/daemonsets|/apis/policy/v1/poddisruptionbudgets", HOLD, watch=True)
    cluster.start()
    assert cluster.wait_synced(2.0)
    # When the daemon looks at the cluster
    (seen,) = cluster.view().pods
    # Then the pod may run in us-east-1b only, while its own affinity (for topology spread) is none
    assert seen.constraints.affinity.matches({"topology.kubernetes.io/zone": "us-east-1b"})
    assert not seen.constraints.affinity.matches({"topology.kubernetes.io/zone": "us-east-1a"})
    assert seen.constraints.spread_affinity.matches({"topology.kubernetes.io/zone": "us-east-1a"})
    assert cluster.view().pods[0] is seen  # nothing changed: the same answer, not a new object


def test_wait_for_change_wakes_on_a_watch_event(api, cluster):
    serve_lists(api)
    go = threading.Event()
    replies = iter([stream(event("ADDED", pod("web-2", "11")))])
    api.on("GET", "/api/v1/pods", lambda _: next(replies, HOLD) if go.wait(2) else HOLD, watch=True)
    cluster.start()
    assert cluster.wait_synced(2.0)
    cluster.view()
    assert not cluster.wait_for_change(0.05)
    go.set()
    assert cluster.wait_for_change(2.0)
    eventually(lambda: len(cluster.view().pods) == 2)


def test_heartbeat_of_a_node_wakes_nobody(api, cluster):
    serve_lists(api)
    api.on("GET", "/api/v1/nodes", stream(event("MODIFIED", node("ip-10-0-0-1", version="99"))), HOLD, watch=True)
    cluster.start()
    assert cluster.wait_synced(2.0)
    cluster.view()
    eventually(lambda: cluster.nodes.resource_version == "99")
    assert not cluster.wait_for_change(0.05)


def test_view_before_the_caches_are_filled_names_what_is_missing(api, cluster):
    forbidden = status(403, "Forbidden", 'nodes is forbidden: User "x" cannot list resource "nodes"')
    serve_lists(api, nodes_reply=forbidden)
    cluster.start()
    assert not cluster.wait_synced(0.3)
    with pytest.raises(ClusterError, match=r'nodes \(list nodes: 403 Forbidden: nodes is forbidden: User "x" cannot list'):
        cluster.view()


# ---- patch_node


def node_answer(version: str) -> Reply:
    obj = node("ip-10-0-0-1", version=version)
    obj["spec"]["taints"].append(
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-05-01T12:30:00Z"}
    )
    return Reply(200, obj)


def test_patch_labels_is_one_merge_patch(api, cluster):
    api.on("PATCH", NODE, Reply(200, node("ip-10-0-0-1")))
    cluster.patch_node("ip-10-0-0-1", labels={"smart-autoscaler.io/role": "bin-pack", "stale": None})
    (sent,) = api.sent("PATCH", NODE)
    assert sent.headers["content-type"] == "application/merge-patch+json"
    assert sent.body == {"metadata": {"labels": {"smart-autoscaler.io/role": "bin-pack", "stale": None}}}
    assert not api.sent("GET", NODE)


def test_patch_taints_retries_conflicts_with_a_fresh_resource_version(api, cluster):
    api.on("GET", NODE, node_answer("5"), node_answer("6"), node_answer("7"))
    conflict = status(409, "Conflict", 'Operation cannot be fulfilled on nodes "ip-10-0-0-1": the object has been modified')
    api.on("PATCH", NODE, conflict, conflict, Reply(200, node("ip-10-0-0-1")))
    cluster.patch_node("ip-10-0-0-1", labels={"a": "1"}, add_taints=(Taint("smart-autoscaler.io/hot", "", "NoSchedule"),))
    patches = api.sent("PATCH", NODE)
    assert [p.body["metadata"]["resourceVersion"] for p in patches] == ["5", "6", "7"]
    assert all(p.headers["content-type"] == "application/merge-patch+json" for p in patches)
    assert patches[-1].body == {
        "metadata": {"labels": {"a": "1"}, "resourceVersion": "7"},
        "spec": {
            "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-05-01T12:30:00Z"},
                {"key": "smart-autoscaler.io/hot", "effect": "NoSchedule"},
            ]
        },
    }


def test_patch_gives_up_after_five_conflicts(api, cluster):
    api.on("GET", NODE, node_answer("5"))
    api.on("PATCH", NODE, status(409, "Conflict", "the object has been modified"))
    with pytest.raises(ClusterError, match="patch node ip-10-0-0-1: 409 Conflict: the object has been modified"):
        cluster.patch_node("ip-10-0-0-1", remove_taint_keys=("smart-autoscaler.io/hot",))
    assert len(api.sent("PATCH", NODE)) == 5


def test_patch_forbidden_names_verb_object_status_and_reason(api, cluster):
    api.on("PATCH", NODE, status(403, "Forbidden", FORBIDDEN_PATCH))
    with pytest.raises(ClusterError) as raised:
        cluster.patch_node("ip-10-0-0-1", labels={"a": "1"})
    assert str(raised.value) == f"patch node ip-10-0-0-1: 403 Forbidden: {FORBIDDEN_PATCH}"


def test_unreachable_server_is_a_cluster_error():
    kube = KubeCluster(FakeApiServer.closed_client())
    with pytest.raises(ClusterError, match="delete node n1: "):
        kube.delete_node("n1")


# ---- evictions and deletions


@pytest.mark.parametrize(
    "reply, outcome",
    [
        (Reply(201, {"kind": "Status", "status": "Success", "code": 201}), EvictionOutcome.EVICTED),
        (Reply(200, {"kind": "Status", "status": "Success", "code": 200}), EvictionOutcome.EVICTED),
        (status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget."), EvictionOutcome.BLOCKED),
        (status(404, "NotFound", 'pods "web-1" not found'), EvictionOutcome.GONE),
    ],
    ids=["201", "200", "429", "404"],
)
def test_evict_outcomes(api, cluster, reply, outcome):
    api.on("POST", EVICTION, reply)
    assert cluster.evict_pod("default", "web-1") == outcome
    (sent,) = api.sent("POST", EVICTION)
    assert sent.body == {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1", "namespace": "default"}}


def test_evict_forbidden_raises_naming_the_call(api, cluster):
    message = 'pods "web-1" is forbidden: User "x" cannot create resource "pods/eviction" in the namespace "default"'
    api.on("POST", EVICTION, status(403, "Forbidden", message))
    with pytest.raises(ClusterError, match=re.escape(f"evict pod default/web-1: 403 Forbidden: {message}")):
        cluster.evict_pod("default", "web-1")


def test_delete_node_tolerates_404_only(api, cluster):
    api.on("DELETE", "/api/v1/nodes/gone", status(404, "NotFound", 'nodes "gone" not found'))
    api.on("DELETE", "/api/v1/nodes/ip-10-0-0-1", status(403, "Forbidden", "no"))
    cluster.delete_node("gone")
    with pytest.raises(ClusterError, match="delete node ip-10-0-0-1: 403 Forbidden: no"):
        cluster.delete_node("ip-10-0-0-1")


# ---- events


def test_create_event_on_a_pod(api, cluster):
    api.on("POST", EVENTS, Reply(201, {}))
    ref = ObjectRef("Pod", "default", "web-1", uid="uid-web-1")
    cluster.create_event(ref, "Warning", "NodeAddRequestWarning", "no node type fits: cpu")
    (sent,) = api.sent("POST", EVENTS)
    body = sent.body
    assert body["metadata"] == {"generateName": "web-1.", "namespace": "default"}
    assert body["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "namespace": "default", "uid": "uid-web-1"}
    assert (body["type"], body["reason"], body["message"]) == ("Warning", "NodeAddRequestWarning", "no node type fits: cpu")
    assert body["reportingComponent"] == "smart-autoscaler" and body["source"] == {"component": "smart-autoscaler"}
    assert body["reportingInstance"] == "smart-autoscaler-7d9f-abcde" and body["action"] == "NodeAddRequestWarning"
    assert body["count"] == 1
    assert MICRO_TIME.match(body["eventTime"]), body["eventTime"]  # the clock is on a whole second
    assert body["firstTimestamp"] == body["lastTimestamp"] and body["firstTimestamp"].startswith("2023-11-14T22:13:20")


def test_create_event_on_a_node_goes_to_default_and_clips_long_messages(api, cluster):
    api.on("POST", EVENTS, Reply(201, {}))
    cluster.create_event(ObjectRef("Node", "", "ip-10-0-0-1", uid="u1"), "Normal", "ScaleDown", "x" * 5000)
    body = api.sent("POST", EVENTS)[0].body
    assert "namespace" not in body["involvedObject"]
    assert len(body["message"]) == 1024


def test_create_event_forbidden(api, cluster):
    api.on("POST", "/api/v1/namespaces/team-a/events", status(403, "Forbidden", "events is forbidden"))
    with pytest.raises(ClusterError, match="create event NodeCostEstimate for pod team-a/p: 403 Forbidden"):
        cluster.create_event(ObjectRef("Pod", "team-a", "p"), "Normal", "NodeCostEstimate", "m5.large")


def test_has_event_asks_by_uid_and_reason(api, cluster):
    api.on("GET", EVENTS, listing([{"metadata": {"name": "web-1.abc"}}], "9"), listing([], "9"))
    ref = ObjectRef("Pod", "default", "web-1", uid="uid-web-1")
    assert cluster.has_event(ref, "NodeCostEstimate")
    assert not cluster.has_event(ObjectRef("Pod", "default", "web-1"), "NodeCostEstimate")
    by_uid, by_name = api.sent("GET", EVENTS)
    assert by_uid.query["fieldSelector"] == "involvedObject.uid=uid-web-1,reason=NodeCostEstimate"
    assert by_name.query["fieldSelector"] == "involvedObject.kind=Pod,involvedObject.name=web-1,reason=NodeCostEstimate"


# ---- health (issue 19): the caches say when the API server stops answering, and errors are counted


def test_a_failing_watch_is_an_api_error_counted_by_verb_resource_and_code_until_the_server_answers(api, cluster):
    serve_lists(api)
    down = threading.Event()
    down.set()
    api.on("GET", "/api/v1/nodes",
           lambda request: status(503, "ServiceUnavailable", "etcd unavailable") if down.is_set() else HOLD, watch=True)
    api.on("GET", "/version", lambda request: status(503, "ServiceUnavailable", "etcd") if down.is_set()
           else Reply(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}))
    counted: list[tuple[str, str, str]] = []
    cluster.on_api_error = lambda verb, resource, code: counted.append((verb, resource, code))
    cluster.start()
    assert cluster.wait_synced(2.0)
    eventually(lambda: "503" in cluster.api_error())
    assert ("watch", "nodes", "503") in counted
    down.clear()
    eventually(lambda: cluster.api_error() == "")


def test_a_failed_action_is_counted_with_its_verb_resource_and_status(api, cluster):
    api.on("DELETE", NODE, status(403, "Forbidden", "nodes is forbidden"))
    counted: list[tuple[str, str, str]] = []
    cluster.on_api_error = lambda verb, resource, code: counted.append((verb, resource, code))
    with pytest.raises(ClusterError):
        cluster.delete_node("ip-10-0-0-1")
    assert counted == [("delete", "nodes", "403")]


def test_an_unreachable_server_is_counted_as_unreachable():
    kube = KubeCluster(FakeApiServer.closed_client(), clock=SimClock(1_700_000_000.0))
    counted: list[tuple[str, str, str]] = []
    kube.on_api_error = lambda verb, resource, code: counted.append((verb, resource, code))
    with pytest.raises(ClusterError):
        kube.patch_node("n1", labels={"a": "b"})
    assert counted == [("patch", "nodes", "unreachable")]
