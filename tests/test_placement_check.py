"""The pod-by-pod placement simulation (autoscaler.placement) as scale-down and the in-memory
cluster's scheduler use it: kube-scheduler's reasons, and "would every pod on this node fit on
the remaining nodes, together?"."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.clock import SimClock
from autoscaler.cluster import KubeNode
from autoscaler.config import config_from_mapping
from autoscaler.nodelabels import CREATED_BY, CREATED_BY_VALUE, ROLE
from autoscaler.resources import Resources
from autoscaler.scaledown import decide_scale_down
from autoscaler.sim.cluster import InMemoryCluster
from tests.helpers import make_pod

GI = 2**30
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


def node(name: str, zone: str = "us-east-1a", cpu: int = 4000) -> KubeNode:
    labels = {ZONE: zone, HOSTNAME: name, CREATED_BY: CREATED_BY_VALUE, ROLE: "bin-pack"}
    return KubeNode(name, labels=labels, allocatable=Resources(cpu, 16 * GI, 0, 110, 10**11), ready=True)


def anti(app: str, key: str = HOSTNAME) -> dict:
    return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}}]}}}


def spread(key: str = ZONE) -> dict:
    return {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {"matchLabels": {"app": "web"}}}]}


def pending(name: str, spec: dict, app: str = "web"):
    return replace(make_pod(name, "200m", "128Mi", labels={"app": app}, owner=f"ReplicaSet/{app}", spec=spec),
                   unschedulable=False, unschedulable_message="")


def test_scheduler_keeps_anti_affine_pods_apart_and_says_why():
    cluster = InMemoryCluster(SimClock())
    for name in ("n1", "n2"):
        cluster.add_node(node(name))
    for i in range(3):
        cluster.add_pod(pending(f"web-{i}", anti("web")))
    cluster.schedule()
    bound = sorted(p.node_name for p in cluster.pods.values() if p.node_name)
    assert bound == ["n1", "n2"]
    (left,) = [p for p in cluster.pods.values() if not p.node_name]
    # kube-scheduler checks the running pods' terms first (symmetry), then the pod's own.
    assert left.unschedulable_message == "0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules."


def test_scheduler_spreads_over_zones_with_max_skew_one():
    cluster = InMemoryCluster(SimClock())
    for name, zone in (("a1", "us-east-1a"), ("a2", "us-east-1a"), ("b1", "us-east-1b")):
        cluster.add_node(node(name, zone))
    for i in range(4):
        cluster.add_pod(pending(f"web-{i}", spread()))
    cluster.schedule()
    zones = sorted(cluster.nodes[p.node_name].labels[ZONE] for p in cluster.pods.values() if p.node_name)
    assert zones == ["us-east-1a", "us-east-1a", "us-east-1b", "us-east-1b"]


def test_scale_down_keeps_a_node_whose_spread_pod_would_break_the_skew_elsewhere():
    """Zone a: a1 runs web-a (underused), a2 is full. Zone b: b1 runs web-b. Moving web-a to
    zone b would make the skew 2 (zone a still a domain through a2, with 0), and a2 has no room:
    a1 is kept. b1 is kept too: while it drains it is still zone b's node (cordoned, and
    nodeTaintsPolicy Ignore counts it), so web-b's replacement in zone a would make the skew 2
    -- kube-scheduler leaves it pending and the planner would launch a node for it again."""
    config = config_from_mapping({"scaleDown.nodeUnneededDuration": "1m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    nodes = [node("a1", "us-east-1a"), node("a2", "us-east-1a", cpu=1000), node("b1", "us-east-1b")]
    web_a = replace(pending("web-a", spread()), node_name="a1", phase="Running")
    web_b = replace(pending("web-b", spread()), node_name="b1", phase="Running")
    full = replace(make_pod("batch", "1", "128Mi", owner="ReplicaSet/batch"), node_name="a2", phase="Running")
    bound = {"a1": [web_a], "a2": [full], "b1": [web_b]}
    decision = decide_scale_down(nodes, bound, [], config, now=1000.0, unneeded_since={n.name: 0.0 for n in nodes}, draining=[])
    assert decision.kept["a1"] == "its pods would not fit on the other nodes"
    assert decision.kept["b1"] == "its pods would not fit on the other nodes"
    assert decision.to_drain == []


def test_scale_down_drains_a_zone_spread_pod_when_the_other_zone_keeps_the_skew():
    """Zone a: a1 and a2 each run one web pod; zone b: b1 runs one. a1's pod moves to a2 (zone a
    then has 2 and zone b 1: skew 1), so the underused a1 may go."""
    config = config_from_mapping({"scaleDown.nodeUnneededDuration": "1m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    nodes = [node("a1", "us-east-1a"), node("a2", "us-east-1a"), node("b1", "us-east-1b")]
    bound = {
        name: [replace(pending(f"web-{name}", spread()), node_name=name, phase="Running")] for name in ("a1", "a2", "b1")
    }
    decision = decide_scale_down(nodes, bound, [], config, now=1000.0, unneeded_since={n.name: 0.0 for n in nodes}, draining=[])
    assert [c.node for c in decision.to_drain] == ["a1"]
