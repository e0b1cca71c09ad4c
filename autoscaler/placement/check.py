"""PlacementState: pod-by-pod fit over a whole cluster, as kube-scheduler's filters decide it.

Used where pods are placed one at a time on known nodes: the in-memory cluster's scheduler,
scale-down ("would every pod on this node fit on the remaining nodes, together?") and
bin-select's reuse of idle or in-flight nodes. What is placed is taken for real, so the pods
of one question see each other (host ports, anti-affinity, spread counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from autoscaler.model import Pod, ports_conflict, tolerates_all
from autoscaler.nodelabels import HOSTNAME
from autoscaler.placement.rules import self_matching
from autoscaler.placement.spread import domain_of, skew_allows, spread_domains
from autoscaler.resources import Resources
from pricing.types import Taint

NO_PORTS = "node(s) didn't have free ports for the requested pod ports"
AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
SPREAD = "node(s) didn't match pod topology spread constraints"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
UNSCHEDULABLE = "node(s) were unschedulable"
DRAINING = "node(s) were being drained"


@dataclass
class NodeState:
    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    free: Resources
    pods: list[Pod] = field(default_factory=list)
    schedulable: bool = True  # False: cordoned (the caller says why in `blocked`)
    blocked: str = UNSCHEDULABLE

    @property
    def ports(self) -> frozenset:
        ports: set = set()
        for pod in self.pods:
            ports |= pod.constraints.host_ports
        return frozenset(ports)


class _PodView:
    """What the cluster looks like to one pod: domains its terms forbid or need, spread counts."""

    def __init__(self, state: PlacementState, pod: Pod) -> None:
        constraints = pod.constraints
        self.forbidden: set[tuple[str, str]] = set()  # (topology key, domain)
        self.symmetric: set[tuple[str, str]] = set()
        self.needed: list[tuple[str, set[str]]] = []
        self.spread: list[tuple[object, dict[str, int], set[str]]] = []
        nodes = state.nodes.values()
        for term in constraints.pod_anti_affinity:
            for node in nodes:
                domain = domain_of(node.labels, node.name, term.topology_key)
                if domain is not None and any(term.pods.matches(p.namespace, p.labels) for p in node.pods):
                    self.forbidden.add((term.topology_key, domain))
        for node in nodes:
            for other in node.pods:
                for term in other.constraints.pod_anti_affinity:
                    if term.pods.matches(pod.namespace, pod.labels):
                        domain = domain_of(node.labels, node.name, term.topology_key)
                        if domain is not None:
                            self.symmetric.add((term.topology_key, domain))
        if constraints.pod_affinity:
            needed = []
            for term in constraints.pod_affinity:
                domains = set()
                for node in nodes:
                    domain = domain_of(node.labels, node.name, term.topology_key)
                    if domain is not None and any(term.pods.matches(p.namespace, p.labels) for p in node.pods):
                        domains.add(domain)
                needed.append((term.topology_key, domains))
            if any(domains for _, domains in needed) or not self_matching(pod):
                self.needed = needed
        for constraint in constraints.spread:
            found = spread_domains(constraint, constraints, nodes)
            counts, domains = found.counts, set(found.domains)
            self.spread.append((constraint, counts, domains))


class PlacementState:
    def __init__(self, nodes: Iterable[NodeState]) -> None:
        self.nodes: dict[str, NodeState] = {node.name: node for node in nodes}
        self._views: dict[int, tuple[Pod, _PodView]] = {}
        anti = [p for node in self.nodes.values() for p in node.pods if p.shape.constraints.pod_anti_affinity]
        self._anti_terms = len(anti)
        self.has_zone_anti_terms = any(
            term.topology_key != HOSTNAME for p in anti for term in p.shape.constraints.pod_anti_affinity
        )

    def _view(self, pod: Pod) -> _PodView | None:
        constraints = pod.constraints
        if not (constraints.inter_pod or self._anti_terms):
            return None
        cached = self._views.get(id(pod))
        if cached is None or cached[0] is not pod:
            cached = self._views[id(pod)] = (pod, _PodView(self, pod))
        return cached[1]

    def why_not(self, pod: Pod, name: str) -> str | None:
        """Why `pod` cannot go on node `name` now (a kube-scheduler-style reason), or None."""
        node = self.nodes[name]
        constraints = pod.constraints
        if not node.schedulable:
            return node.blocked
        if constraints.unplannable:
            return constraints.unplannable
        if not constraints.affinity.matches(node.labels, name):
            return NODE_AFFINITY
        if not tolerates_all(constraints.tolerations, node.taints):
            first = next(
                t for t in node.taints
                if t.effect != "PreferNoSchedule" and not any(x.tolerates(t) for x in constraints.tolerations)
            )
            return f"node(s) had untolerated taint {{{first.key}: {first.value}}}"
        if constraints.host_ports and ports_conflict(constraints.host_ports, node.ports):
            return NO_PORTS
        short = pod.requests.shortfall(node.free)
        if short:
            resource = {"gpu": constraints.gpu_resource or "nvidia.com/gpu"}.get(short[0], short[0])
            return "Too many pods" if resource == "pods" else f"Insufficient {resource}"
        view = self._view(pod)
        if view is None:
            return None
        labels = node.labels
        for key, domain in view.symmetric:
            if domain_of(labels, name, key) == domain:
                return EXISTING_ANTI
        for key, domain in view.forbidden:
            if domain_of(labels, name, key) == domain:
                return ANTI_AFFINITY
        for key, domains in view.needed:
            if domain_of(labels, name, key) not in domains:
                return AFFINITY
        for constraint, counts, domains in view.spread:
            domain = domain_of(labels, name, constraint.topology_key)
            if domain is None or not skew_allows(
                constraint, counts, domain, domains, constraint.pods.matches(pod.namespace, pod.labels)
            ):
                return SPREAD
        return None

    def place(self, pod: Pod, name: str) -> None:
        node = self.nodes[name]
        node.pods.append(pod)
        node.free = node.free - pod.requests
        if pod.constraints.pod_anti_affinity:
            self._anti_terms += 1
            self.has_zone_anti_terms = self.has_zone_anti_terms or any(
                term.topology_key != HOSTNAME for term in pod.constraints.pod_anti_affinity
            )
        self._views.clear()

    def remove_node(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is not None:
            self._anti_terms -= sum(1 for p in node.pods if p.constraints.pod_anti_affinity)
        self._views.clear()

    def vacate(self, name: str, leaving: Iterable[Pod], why: str = DRAINING) -> None:
        """A node being drained: cordoned, without the pods that leave it, and still there --
        still a domain of topology spread (autoscaler.placement.spread) until it is deleted,
        as kube-scheduler counts it while its pods look for room."""
        node = self.nodes.get(name)
        if node is None:
            return
        gone = {id(pod) for pod in leaving}
        kept = [pod for pod in node.pods if id(pod) not in gone]
        self._anti_terms -= sum(1 for p in node.pods if id(p) in gone and p.constraints.pod_anti_affinity)
        node.pods = kept
        node.schedulable = False
        node.blocked = why
        self._views.clear()

    def first_fit(self, pod: Pod, names: Iterable[str]) -> tuple[str | None, dict[str, int]]:
        """The first node of `names` the pod fits, or None and how many nodes gave each reason."""
        reasons: dict[str, int] = {}
        for name in names:
            why = self.why_not(pod, name)
            if why is None:
                return name, reasons
            reasons[why] = reasons.get(why, 0) + 1
        return None, reasons

    def fit_all(self, pods: Iterable[Pod], names: list[str]) -> bool:
        """Place every pod (largest first) on the first node of `names` it fits; False when one
        finds none (the pods placed before stay placed: use a copy to ask "what if")."""
        for pod in sorted(pods, key=lambda p: (p.requests.cpu, p.requests.memory), reverse=True):
            chosen, _ = self.first_fit(pod, names)
            if chosen is None:
                return False
            self.place(pod, chosen)
        return True

    def copy(self) -> PlacementState:
        return PlacementState(
            NodeState(n.name, n.labels, n.taints, n.free, list(n.pods), n.schedulable, n.blocked)
            for n in self.nodes.values()
        )
