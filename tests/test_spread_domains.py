"""The one spread-domain rule (autoscaler.placement.spread), from the Kubernetes concept page
"Pod Topology Spread Constraints": which nodes are domains, and what they count.

- nodeAffinityPolicy Honor (default): nodes outside the pod's nodeSelector/affinity are no
  domain; Ignore: they are.
- nodeTaintsPolicy Ignore (default): a tainted or cordoned node is a domain; Honor: only nodes
  whose taints the pod tolerates.
- a node without every topology key of the pod's spread constraints is no domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.model import Pod
from autoscaler.placement.spread import skew_allows, spread_domains
from pricing.types import Taint
from tests.helpers import make_pod

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
GPU = Taint("nvidia.com/gpu", "present", "NoSchedule")


@dataclass
class N:
    name: str
    labels: dict
    taints: tuple = ()
    pods: list = field(default_factory=list)


def web(policy: dict | None = None, node_selector: dict | None = None, extra_key: str | None = None) -> Pod:
    constraint = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "web"}}, **(policy or {})}
    spreads = [constraint]
    if extra_key:
        spreads.append({**constraint, "topologyKey": extra_key})
    spec = {"topologySpreadConstraints": spreads}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return make_pod("web-x", "100m", "64Mi", labels={"app": "web"}, owner="ReplicaSet/web", spec=spec)


def domains_for(pod: Pod, nodes: list[N]):
    (constraint, *_) = pod.constraints.spread
    return spread_domains(constraint, pod.constraints, nodes)


def cluster() -> list[N]:
    """Zone a: one web pod on a plain node. Zone b: a GPU-tainted node. Zone c: a node labelled pool=batch."""
    running = make_pod("web-0", "100m", "64Mi", labels={"app": "web"}, owner="ReplicaSet/web")
    return [
        N("a1", {ZONE: "a", HOSTNAME: "a1", "pool": "web"}, pods=[running]),
        N("b1", {ZONE: "b", HOSTNAME: "b1", "pool": "web"}, taints=(GPU,)),
        N("c1", {ZONE: "c", HOSTNAME: "c1", "pool": "batch"}),
    ]


def test_by_default_a_tainted_node_is_a_domain_and_holds_the_minimum_at_zero():
    found = domains_for(web(), cluster())
    assert found.domains == {"a", "b", "c"} and found.counts == {"a": 1}
    (constraint,) = web().constraints.spread
    assert not skew_allows(constraint, found.counts, "a", found.domains)  # a would have 2 against 0


def test_node_taints_policy_honor_leaves_out_the_nodes_whose_taints_the_pod_does_not_tolerate():
    found = domains_for(web({"nodeTaintsPolicy": "Honor"}), cluster())
    assert found.domains == {"a", "c"}


def test_node_affinity_policy_honor_leaves_out_nodes_outside_the_pods_node_selector_and_ignore_keeps_them():
    assert domains_for(web(node_selector={"pool": "web"}), cluster()).domains == {"a", "b"}
    assert domains_for(web({"nodeAffinityPolicy": "Ignore"}, node_selector={"pool": "web"}), cluster()).domains == {"a", "b", "c"}


def test_a_node_without_every_topology_key_of_the_pod_is_no_domain():
    found = domains_for(web(extra_key="example.com/rack"), cluster() + [N("d1", {ZONE: "d", "example.com/rack": "r1"})])
    assert found.domains == {"d"}
