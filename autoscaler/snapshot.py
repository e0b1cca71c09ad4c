"""ClusterView + in-flight launches -> the planner's nodes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from autoscaler.cluster import ClusterView, DaemonSetInfo, KubeNode
from autoscaler.model import Node, Pod
from autoscaler.nodelabels import CAPACITY_TYPE, CREATED_BY, CREATED_BY_VALUE, REGION, ROLE, ZONE, catalog_type_name
from autoscaler.planner.options import DaemonSetOverhead
from autoscaler.nodeload import node_load
from autoscaler.resources import Resources
from pricing.flex import sized_from_tags
from pricing.types import Offering, RegionCatalog, Taint

IN_FLIGHT_PREFIX = "in-flight/"
# Taints a new node carries until its kubelet, network and cloud controller are ready; they
# go away by themselves, so a young managed node is room despite them -- whatever its Ready
# condition says: the node lifecycle controller and the cloud controller manager take them
# off after the node turns Ready (seconds later, longer after an API outage). The list
# follows Kubernetes' well-known taints (kubernetes.io/docs/reference/labels-annotations-
# taints), Karpenter's KnownEphemeralTaints (pkg/scheduling/taints.go) and the start-up taints
# documented by Cluster API (node.cluster.x-k8s.io/uninitialized) and Cilium
# (node.cilium.io/agent-not-ready); taints under readiness.k8s.io/ are the Node Readiness
# Controller's (KEP-5233), which Karpenter also treats as ephemeral.
STARTUP_TAINT_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/network-unavailable",
        "node.cloudprovider.kubernetes.io/uninitialized",
        "node.cluster.x-k8s.io/uninitialized",
        "node.cilium.io/agent-not-ready",
    }
)
STARTUP_TAINT_PREFIXES = ("readiness.k8s.io/",)


def is_startup_taint(taint: Taint) -> bool:
    return taint.key in STARTUP_TAINT_KEYS or taint.key.startswith(STARTUP_TAINT_PREFIXES)


def has_startup_taint(node: KubeNode) -> bool:
    """Whether the node still carries a start-up taint (not initialized yet, as Karpenter says)."""
    return any(is_startup_taint(taint) for taint in node.taints)


@dataclass(frozen=True)
class PriceIndex:
    """(instance type, capacity type) -> (lowest price, physical GPUs), from the catalog."""

    entries: Mapping[tuple[str, str], tuple[float, int]]
    flex_shapes: tuple = ()  # pricing.flex.FlexShape: a flexible node's price is its size's

    @classmethod
    def of(cls, catalog: RegionCatalog) -> PriceIndex:
        return cls(_index(catalog.offerings), catalog.flex_shapes)

    def price(self, instance_type: str, capacity_type: str, size: Mapping[str, str] | None = None) -> float:
        """The lowest price of the type; for a flexible shape, the price of the size that `size`
        (the node's labels or the instance's tags) names, when it names one."""
        if size and self.flex_shapes:
            sized = sized_from_tags(self.flex_shapes, instance_type, capacity_type, size)
            if sized is not None:
                return sized[1]
        return self.entries.get((instance_type, capacity_type), (0.0, 0))[0]

    def gpus(self, instance_type: str, capacity_type: str) -> int:
        return self.entries.get((instance_type, capacity_type), (0.0, 0))[1]


def _index(offerings: Iterable[Offering]) -> dict[tuple[str, str], tuple[float, int]]:
    index: dict[tuple[str, str], tuple[float, int]] = {}
    for offering in offerings:
        key = (offering.instance_type.name, offering.capacity_type)
        known = index.get(key)
        if known is None or offering.price < known[0]:
            index[key] = (offering.price, offering.instance_type.gpu_count)
    return index


@dataclass(frozen=True)
class InFlightNode:
    """A launched instance that has no Node yet: room the planner may count on."""

    instance_id: str
    instance_type: str
    capacity_type: str
    zone: str
    role: str
    allocatable: Resources
    price: float
    gpus: int
    launched_at: float
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    reserved_for: tuple[str, ...] = ()


def is_managed_node(node: KubeNode) -> bool:
    return node.labels.get(CREATED_BY) == CREATED_BY_VALUE


def pods_by_node(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    bound: dict[str, list[Pod]] = {}
    for pod in pods:
        if pod.node_name and not pod.terminal:
            bound.setdefault(pod.node_name, []).append(pod)
    return bound


# node name -> (the Node, its load, the price index, (young, starting, reserved for), the planner
# Node made of them): a loop whose Node and pods did not change since the last one reuses it.
_MADE: dict[str, tuple] = {}


def planner_nodes(
    view: ClusterView,
    in_flight: Iterable[InFlightNode],
    prices: PriceIndex,
    bound: Mapping[str, list[Pod]] | None = None,
    now: float = 0.0,
    startup_grace: float = 0.0,
    reserved: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Node]:
    """Planner nodes for every Node and in-flight launch. A managed node younger than
    `startup_grace` (the scale-up timeout) that is not Ready yet, still carries a start-up
    taint, or is not used yet, is still the room its launch was made for: its start-up taints
    are ignored (Ready or not) and, as a bin-select node, it may take its pods even when idle
    nodes are not reused. `reserved`: registered nodes launched for pods that still wait (node
    name -> pod keys), which stay those pods' room while the scheduler binds them."""
    bound = pods_by_node(view.pods) if bound is None else bound
    reserved = reserved or {}
    nodes = []
    if len(_MADE) > 200_000:
        _MADE.clear()
    for kube_node in view.nodes:
        load = node_load(kube_node.name, bound.get(kube_node.name, ()))
        labels = kube_node.labels
        managed = is_managed_node(kube_node)
        young = managed and now - kube_node.created < startup_grace
        starting = young and (not kube_node.ready or has_startup_taint(kube_node) or load.workload_pods == 0)
        reserved_for = reserved.get(kube_node.name, ())
        made = _MADE.get(kube_node.name)
        if (made is not None and made[0] is kube_node and made[1] is load and made[2] is prices
                and made[3] == (young, starting, reserved_for)):
            nodes.append(made[4])  # nothing it is made from changed since the last loop
            continue
        taints = kube_node.taints
        if young:
            taints = tuple(t for t in taints if not is_startup_taint(t))
        itype = catalog_type_name(labels, kube_node.allocatable.gpu)
        capacity = labels.get(CAPACITY_TYPE, labels.get("karpenter.sh/capacity-type", "on-demand"))
        zone = labels.get(ZONE, "")
        if zone.isdigit():
            # No availability zone: Azure labels an unzoned node with its fault domain ("0",
            # "1", ...). Such a node is somewhere in the region, as region-wide offerings are.
            zone = labels.get(REGION, "")
        nodes.append(
            Node(
                name=kube_node.name,
                instance_type=itype,
                capacity_type=capacity,
                zone=zone,
                allocatable=kube_node.allocatable,
                labels=labels,
                taints=taints,
                managed=managed,
                starting=starting,
                role=labels.get(ROLE, ""),
                price=prices.price(itype, capacity, labels),
                gpus=prices.gpus(itype, capacity),
                ready=kube_node.ready,
                unschedulable=kube_node.unschedulable,
                created=kube_node.created,
                provider_id=kube_node.provider_id,
                used=load.used,
                workload_pods=load.workload_pods,
                host_ports=load.ports,
                pods=tuple(bound.get(kube_node.name, ())),
                reserved_for=reserved_for,
            )
        )
        _MADE[kube_node.name] = (kube_node, load, prices, (young, starting, reserved_for), nodes[-1])
    for flight in in_flight:
        nodes.append(
            Node(
                name=IN_FLIGHT_PREFIX + flight.instance_id,
                instance_type=flight.instance_type,
                capacity_type=flight.capacity_type,
                zone=flight.zone,
                allocatable=flight.allocatable,
                labels=flight.labels,
                taints=flight.taints,
                managed=True,
                role=flight.role,
                price=flight.price,
                gpus=flight.gpus,
                in_flight=True,
                ready=False,
                created=flight.launched_at,
                reserved_for=flight.reserved_for,
            )
        )
    return nodes


def daemonset_overheads(daemonsets: Iterable[DaemonSetInfo]) -> list[DaemonSetOverhead]:
    return [
        DaemonSetOverhead(f"{ds.namespace}/{ds.name}", ds.requests, ds.affinity, ds.tolerations, ds.host_ports)
        for ds in daemonsets
    ]
