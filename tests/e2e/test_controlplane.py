"""The loopback control plane behaves like a real cluster.

Each test uses its own namespace and its own kwok nodes (selected by a label
unique to the test), so tests do not depend on order or on each other.
"""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.e2e

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: kwok runs no containers


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def pod_manifest(name: str, cpu: str = "1", memory: str = "64Mi", node_selector=None, labels=None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "nodeSelector": node_selector or {},
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": PAUSE_IMAGE,
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ],
        },
    }


def deployment_manifest(name: str, replicas: int, cpu: str, node_selector: dict) -> dict:
    pod = pod_manifest(name, cpu=cpu, node_selector=node_selector, labels={"app": name})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": pod["metadata"], "spec": pod["spec"]},
        },
    }


def pod_condition(pod, type_):
    for cond in pod.status.conditions or []:
        if cond.type == type_:
            return cond
    return None


def unschedulable_condition(core_v1, namespace, name):
    cond = pod_condition(core_v1.read_namespaced_pod(name, namespace), "PodScheduled")
    if cond is not None and cond.status == "False" and cond.reason == "Unschedulable":
        return cond
    return None


def running_pods(core_v1, namespace, selector):
    pods = core_v1.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


# --------------------------------------------------------------------------- scheduling


def test_pod_without_a_fitting_node_is_unschedulable(control_plane, core_v1, namespace):
    pool = f"pool-{_uid()}"  # matches no node, whatever other tests registered
    core_v1.create_namespaced_pod(namespace, pod_manifest("big", cpu="1", node_selector={"pool": pool}))

    cond = control_plane.wait_for(
        lambda: unschedulable_condition(core_v1, namespace, "big"),
        timeout=30,
        what="PodScheduled=False/Unschedulable from kube-scheduler",
    )

    # "no nodes available to schedule pods" on a cluster without nodes, else e.g.
    # "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. ..."
    print(f"scheduler message: {cond.message!r}")
    assert cond.message == "no nodes available to schedule pods" or "nodes are available" in cond.message
    assert core_v1.read_namespaced_pod("big", namespace).spec.node_name is None


def test_pending_pod_binds_to_a_new_kwok_node_and_runs(control_plane, core_v1, coordination_v1, namespace,
                                                       kwok_nodes):
    pool = f"pool-{_uid()}"
    core_v1.create_namespaced_pod(namespace, pod_manifest("web", cpu="1", node_selector={"pool": pool}))
    control_plane.wait_for(lambda: unschedulable_condition(core_v1, namespace, "web"), timeout=30,
                           what="pod Unschedulable before any node fits")

    node_name = f"kwok-{pool}"
    node = kwok_nodes(node_name, cpu="4", memory="8Gi", pods=110, labels={"pool": pool},
                      provider_id=f"sim://zone-a/{node_name}", gpus=1,
                      zone="zone-a", instance_type="sim.xlarge")

    # kwok keeps the capacity we registered and reports the node Ready
    assert node.status.allocatable["cpu"] == "4"
    assert node.status.allocatable["memory"] == "8Gi"
    assert node.status.allocatable["nvidia.com/gpu"] == "1"
    assert node.spec.provider_id == f"sim://zone-a/{node_name}"
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "sim.xlarge"

    pod = control_plane.wait_for(
        lambda: next(iter(running_pods(core_v1, namespace, "app=web")), None),
        timeout=30,
        what="pod bound by the scheduler and Running via kwok",
    )
    assert pod.spec.node_name == node_name
    assert pod_condition(pod, "PodScheduled").status == "True"
    assert pod_condition(pod, "Ready").status == "True"
    # the not-ready taint the node-lifecycle controller puts on new nodes is gone
    node = core_v1.read_node(node_name)
    assert not [t for t in node.spec.taints or [] if t.key.startswith("node.kubernetes.io/not-ready")]
    # kwok holds the node's Lease like a kubelet; that is what keeps it Ready
    # past the node-lifecycle controller's grace period
    lease = control_plane.wait_for(
        lambda: coordination_v1.read_namespaced_lease(node_name, "kube-node-lease"),
        timeout=10, what=f"kube-node-lease/{node_name}",
    )
    assert lease.spec.holder_identity  # kwok's own instance id, not the node name
    assert lease.spec.lease_duration_seconds == 40
    assert lease.spec.renew_time is not None


def test_deployment_pods_are_created_by_controller_manager(control_plane, core_v1, apps_v1, namespace, kwok_nodes):
    pool = f"pool-{_uid()}"
    kwok_nodes(f"kwok-{pool}", cpu="4", memory="8Gi", labels={"pool": pool})

    apps_v1.create_namespaced_deployment(namespace, deployment_manifest("api", 3, "1", {"pool": pool}))

    dep = control_plane.wait_for(
        lambda: (d := apps_v1.read_namespaced_deployment("api", namespace)).status.ready_replicas == 3 and d,
        timeout=45,
        what="Deployment api with 3 ready replicas",
    )
    assert dep.status.replicas == 3
    pods = core_v1.list_namespaced_pod(namespace, label_selector="app=api").items
    assert len(pods) == 3
    owners = {ref.kind for p in pods for ref in p.metadata.owner_references}
    assert owners == {"ReplicaSet"}
    assert {p.spec.node_name for p in pods} == {f"kwok-{pool}"}


# --------------------------------------------------------------------------- eviction / PDB


def test_eviction_respects_pod_disruption_budget(control_plane, core_v1, apps_v1, policy_v1, namespace, kwok_nodes):
    from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta
    from kubernetes.client.rest import ApiException

    pool = f"pool-{_uid()}"
    kwok_nodes(f"kwok-{pool}", cpu="4", memory="8Gi", labels={"pool": pool})
    apps_v1.create_namespaced_deployment(namespace, deployment_manifest("db", 2, "500m", {"pool": pool}))
    pods = control_plane.wait_for(lambda: len(p := running_pods(core_v1, namespace, "app=db")) == 2 and p,
                                  timeout=45, what="2 running db pods")

    policy_v1.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "db"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "db"}}},
    })
    # the disruption controller (kube-controller-manager) computes the status
    pdb = control_plane.wait_for(
        lambda: (b := policy_v1.read_namespaced_pod_disruption_budget("db", namespace)).status
        and b.status.observed_generation == b.metadata.generation
        and b.status.current_healthy == 2 and b,
        timeout=30,
        what="PDB status observed by the disruption controller",
    )
    assert pdb.status.disruptions_allowed == 0
    assert pdb.status.expected_pods == 2

    victim = pods[0].metadata.name
    eviction = V1Eviction(metadata=V1ObjectMeta(name=victim, namespace=namespace),
                          delete_options=V1DeleteOptions(grace_period_seconds=0))
    with pytest.raises(ApiException) as refused:
        core_v1.create_namespaced_pod_eviction(victim, namespace, eviction)
    assert refused.value.status == 429
    body = json.loads(refused.value.body)
    print(f"eviction refused: {body['message']!r}")
    assert "disruption budget" in body["message"]
    causes = body["details"]["causes"]
    assert causes[0]["reason"] == "DisruptionBudget"
    assert causes[0]["message"] == "The disruption budget db needs 2 healthy pods and has 2 currently"
    assert core_v1.read_namespaced_pod(victim, namespace).metadata.deletion_timestamp is None

    policy_v1.delete_namespaced_pod_disruption_budget("db", namespace)
    _, status, _ = core_v1.create_namespaced_pod_eviction_with_http_info(victim, namespace, eviction)
    assert status in (200, 201)

    # kwok's pod-delete stage finishes the deletion; the ReplicaSet replaces the pod
    control_plane.wait_for(
        lambda: victim not in {p.metadata.name for p in core_v1.list_namespaced_pod(namespace).items},
        timeout=30, what=f"evicted pod {victim} gone",
    )
    control_plane.wait_for(lambda: len(running_pods(core_v1, namespace, "app=db")) == 2,
                           timeout=30, what="replacement pod running")


# --------------------------------------------------------------------------- leases


def test_lease_can_be_created_and_updated(control_plane, coordination_v1, namespace):
    from datetime import datetime, timezone

    from kubernetes.client.rest import ApiException

    now = datetime.now(timezone.utc)
    created = coordination_v1.create_namespaced_lease(namespace, {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "smart-autoscaler"},
        "spec": {"holderIdentity": "replica-a", "leaseDurationSeconds": 15,
                 "acquireTime": now.isoformat(), "renewTime": now.isoformat(), "leaseTransitions": 0},
    })
    assert created.spec.holder_identity == "replica-a"

    lease = coordination_v1.read_namespaced_lease("smart-autoscaler", namespace)
    lease.spec.holder_identity = "replica-b"
    lease.spec.lease_transitions = 1
    lease.spec.renew_time = datetime.now(timezone.utc)
    updated = coordination_v1.replace_namespaced_lease("smart-autoscaler", namespace, lease)
    assert updated.spec.holder_identity == "replica-b"
    assert updated.spec.lease_transitions == 1
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)

    # optimistic concurrency: a write based on the stale object is refused
    created.spec.holder_identity = "replica-c"
    with pytest.raises(ApiException) as conflict:
        coordination_v1.replace_namespaced_lease("smart-autoscaler", namespace, created)
    assert conflict.value.status == 409
    assert coordination_v1.read_namespaced_lease("smart-autoscaler", namespace).spec.holder_identity == "replica-b"


# --------------------------------------------------------------------------- watch expiry


def test_watch_from_compacted_resource_version_gets_410_gone(control_plane, core_v1, namespace):
    """The API server compacts etcd every 5 s (--etcd-compaction-interval) and
    serves podtemplates without watch cache (--watch-cache-sizes=podtemplates#0),
    so a watch on them from an old resourceVersion reaches etcd and expires."""
    from kubernetes import watch
    from kubernetes.client.rest import ApiException

    pod = pod_manifest("t")
    template = {"metadata": {"name": "t"}, "template": {"metadata": pod["metadata"], "spec": pod["spec"]}}
    old_rv = core_v1.create_namespaced_pod_template(namespace, template).metadata.resource_version
    for i in range(3):
        core_v1.patch_namespaced_pod_template("t", namespace, {"metadata": {"labels": {"n": str(i)}}})

    def watch_status():
        """HTTP status and first event of a watch from old_rv (raw wire)."""
        resp = core_v1.list_namespaced_pod_template(namespace, watch=True, resource_version=old_rv,
                                                    timeout_seconds=1, _preload_content=False)
        try:
            first = resp.readline()
            return resp.status, json.loads(first) if first.strip() else None
        finally:
            resp.close()  # not drained: must not go back to the connection pool
            resp.release_conn()

    # Before compaction the watch replays the later changes.
    status, event = watch_status()
    if event is not None and event["type"] != "ERROR":
        assert event["type"] == "MODIFIED"

    status, event = control_plane.wait_for(
        lambda: (r := watch_status())[1] is not None and r[1]["type"] == "ERROR" and r,
        timeout=30, interval=1.0, what="etcd compaction to expire the old resourceVersion",
    )
    # Not an HTTP 410: the watch is accepted (200) and its first event is an
    # ERROR carrying a Status with code 410 / reason Expired.
    assert status == 200
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    print(f"watch expired: {event['object']['message']!r}")

    # The official client turns that event into ApiException(410) when it is not
    # allowed to retry (timeout_seconds given); a consumer must re-list then.
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(core_v1.list_namespaced_pod_template, namespace,
                                      resource_version=old_rv, timeout_seconds=2):
            pass
    assert gone.value.status == 410

    # Re-listing gives a current resourceVersion that can be watched from again.
    rv = core_v1.list_namespaced_pod_template(namespace).metadata.resource_version
    events = list(watch.Watch().stream(core_v1.list_namespaced_pod_template, namespace,
                                       resource_version=rv, timeout_seconds=1))
    assert all(e["type"] != "ERROR" for e in events)


def test_kwok_node_manifest_shape():
    """Offline check of the helper (no cluster needed)."""
    from tests.controlplane import KWOK_ANNOTATION, kwok_node_manifest

    m = kwok_node_manifest("n1", cpu=8, memory="32Gi", pods=58, labels={"team": "a"},
                           provider_id="aws:///us-east-1a/i-1", gpus=2, zone="us-east-1a",
                           instance_type="g5.2xlarge", arch="amd64")
    assert m["metadata"]["annotations"][KWOK_ANNOTATION] == "fake"
    assert m["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    assert m["metadata"]["labels"]["topology.kubernetes.io/zone"] == "us-east-1a"
    assert m["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "g5.2xlarge"
    assert m["metadata"]["labels"]["team"] == "a"
    assert m["spec"]["providerID"] == "aws:///us-east-1a/i-1"
    assert m["status"]["allocatable"] == {"cpu": "8", "memory": "32Gi", "pods": "58", "nvidia.com/gpu": "2"}
    assert m["status"]["capacity"] == m["status"]["allocatable"]
