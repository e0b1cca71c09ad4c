"""Hot-node mitigation and node TTL cycling by the daemon, on the real control plane.

Hot nodes are judged from real metrics: kwok emulates each kubelet's resource metrics from the
pods' annotations `kwok.x-k8s.io/usage-cpu` / `-memory`, metrics-server scrapes them (fixture
`metrics_server`, 12 s resolution) and the daemon lists NodeMetrics / PodMetrics through the
aggregated metrics.k8s.io API with the chart's RBAC.

Numbers: loopPeriod 2s, launch delay 3s, aws us-east-1; bin-pack nodes are t3a.xlarge
(4 vCPU capacity, 3920m allocatable).
"""

from __future__ import annotations

import pytest

from tests.e2e.daemon_helpers import DO_NOT_EVICT, events_for, managed_deployment, pods_of, running

pytestmark = pytest.mark.e2e

HOT_TAINT = "smart-autoscaler.io/hot"
EXPIRED_TAINT = "smart-autoscaler.io/expired"
USAGE_CPU = "kwok.x-k8s.io/usage-cpu"


def _taints(core_v1, name: str) -> set[str]:
    return {t.key for t in core_v1.read_node(name).spec.taints or []}


def _node_events(core_v1, node: str, reason: str) -> list[str]:
    """Messages of the events with this reason on the node (node events are in 'default')."""
    return [e.message for e in core_v1.list_event_for_all_namespaces(
        field_selector=f"involvedObject.kind=Node,involvedObject.name={node},reason={reason}").items]


def _reasons(core_v1, namespace: str, name: str) -> list[str]:
    return [e.reason for e in events_for(core_v1, namespace, name=name)]


def test_red_bin_pack_node_is_tainted_its_top_pod_evicted_unless_a_pdb_forbids_and_green_untaints(
    metrics_server, autoscaler, core_v1, apps_v1, policy_v1, namespace
):
    env = autoscaler
    # given a PodDisruptionBudget that lets none of the "hot" pods go
    policy_v1.create_namespaced_pod_disruption_budget(namespace, {
        "metadata": {"name": "hot"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"tier": "hot"}}},
    })
    daemon = env.start({
        "scaleDown.enabled": False,
        "manageHighUtilization": {"enabled": True, "loopPeriod": "3s", "maxMetricsAge": "60s"},
    })
    # and a bin-pack node running a hog using 2.5 CPU and two web pods using 0.4 CPU each
    hog = managed_deployment("hog", 1, "500m", annotations={USAGE_CPU: "2500m"})
    web = managed_deployment("web", 2, "500m", annotations={USAGE_CPU: "400m"})
    for deployment in (hog, web):
        deployment["spec"]["template"]["metadata"]["labels"]["tier"] = "hot"
        apps_v1.create_namespaced_deployment(namespace, deployment)
    env.wait(lambda: len(running(pods_of(core_v1, namespace, "hog") + pods_of(core_v1, namespace, "web"))) == 3,
             40, "3 pods running")
    [node] = [n.metadata.name for n in env.managed_nodes()]
    [hog_pod] = running(pods_of(core_v1, namespace, "hog"))

    # when metrics-server reports the node at 3.3 of 4 CPUs (82%, red)
    env.wait(lambda: HOT_TAINT in _taints(core_v1, node), 120, f"{node} tainted {HOT_TAINT}")
    # then it is tainted, and with the PDB nothing is evicted: it says so
    red = env.wait(lambda: _node_events(core_v1, node, "HotNodeRed"), 30, "HotNodeRed event")
    assert "PodDisruptionBudget" in red[0], red
    assert running(pods_of(core_v1, namespace, "hog"))[0].metadata.uid == hog_pod.metadata.uid
    assert daemon.metric("smart_autoscaler_evictions_total", reason="hot-node") == 0

    # when the PDB goes away: the hog (most CPU) is evicted through the Eviction API
    policy_v1.delete_namespaced_pod_disruption_budget("hot", namespace)
    env.wait(lambda: hog_pod.metadata.uid not in {p.metadata.uid for p in pods_of(core_v1, namespace, "hog")},
             40, "the hog pod evicted")
    assert daemon.metric("smart_autoscaler_evictions_total", reason="hot-node") == 1
    # the pod's event is posted off the loop's path: it may follow the eviction by a moment
    env.wait(lambda: "EvictedFromHotNode" in _reasons(core_v1, namespace, hog_pod.metadata.name), 15,
             "the EvictedFromHotNode event on the evicted pod")
    # and its replacement cannot land on the tainted node: it gets a new one
    moved = env.wait(lambda: running(pods_of(core_v1, namespace, "hog")), 60, "the hog's replacement running")
    assert moved[0].spec.node_name != node
    assert {p.spec.node_name for p in running(pods_of(core_v1, namespace, "web"))} == {node}

    # when the web pods idle (10m each: green), the taint is removed
    for pod in running(pods_of(core_v1, namespace, "web")):
        core_v1.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"annotations": {USAGE_CPU: "10m"}}})
    env.wait(lambda: HOT_TAINT not in _taints(core_v1, node), 90, f"{HOT_TAINT} removed from {node}")
    assert daemon.metric("smart_autoscaler_evictions_total", reason="hot-node") == 1


def test_expired_node_is_replaced_first_its_pods_moved_and_removed_while_do_not_evict_holds_another(
    autoscaler, core_v1, apps_v1, namespace
):
    env = autoscaler
    daemon = env.start({"nodeTTL": "25s", "nodeTTLJitter": "1s", "nodeTTLMaxParallel": 1, "scaleDown.enabled": False})
    # given three 1-CPU web pods on a bin-pack node, and a do-not-evict batch pod (3 CPU) on a node of its own
    apps_v1.create_namespaced_deployment(
        namespace, managed_deployment("batch", 1, "3", annotations={DO_NOT_EVICT: "true"}))
    env.wait(lambda: running(pods_of(core_v1, namespace, "batch")), 40, "the batch pod running")
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 3, "1"))
    env.wait(lambda: len(running(pods_of(core_v1, namespace, "web"))) == 3, 40, "3 web pods running")
    [old] = {p.spec.node_name for p in running(pods_of(core_v1, namespace, "web"))}
    [held] = {p.spec.node_name for p in running(pods_of(core_v1, namespace, "batch"))}
    first_uids = {p.metadata.uid for p in running(pods_of(core_v1, namespace, "web"))}

    # when the web node passes its TTL: it is tainted, a replacement comes first, then the pods move
    env.wait(lambda: EXPIRED_TAINT in _taints(core_v1, old), 60, f"{old} expired")
    replacement = env.wait(
        lambda: [n.metadata.name for n in env.managed_nodes() if n.metadata.name not in (old, held)], 30,
        "a replacement node")
    pods = env.wait(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3
                    and not first_uids & {x.metadata.uid for x in p} and p, 60, "web pods moved")
    assert {p.spec.node_name for p in pods} <= set(replacement)
    env.wait(lambda: old not in {n.metadata.name for n in env.managed_nodes()}, 30, f"{old} deleted")
    env.wait(lambda: daemon.metric("smart_autoscaler_scale_downs_total", reason="ttl") == 1, 10, "a ttl removal counted")
    assert daemon.metric("smart_autoscaler_evictions_total", reason="ttl") == 3

    # and the batch node, expired too, is held by its do-not-evict pod: tainted, kept, pod untouched
    env.wait(lambda: EXPIRED_TAINT in _taints(core_v1, held), 30, f"{held} expired")
    assert held in {n.metadata.name for n in env.managed_nodes()}
    assert [p.spec.node_name for p in running(pods_of(core_v1, namespace, "batch"))] == [held]
    waiting = _node_events(core_v1, held, "NodeExpiryWaiting")
    assert any("do-not-evict" in message for message in waiting), waiting
