"""Which nodes are domains of a topology spread constraint, and how many matching pods each
domain holds: the one rule every decision counts with (the planner's bin-pack and bin-select,
the placement simulation behind scale-down and node reuse).

kube-scheduler's PodTopologySpread (pkg/scheduler/framework/plugins/podtopologyspread,
"Node inclusion policies" in the Pod Topology Spread Constraints concept page):
- a node counts only when it carries every topology key of the pod's hard spread constraints;
- nodeAffinityPolicy Honor (the default): only nodes matching the pod's node affinity and
  nodeSelector count; Ignore: all of them;
- nodeTaintsPolicy Ignore (the default): tainted nodes count, a cordoned node included (it is
  still a domain, with the pods it has left, until it is deleted); Honor: only nodes whose
  taints the pod tolerates;
- matching pods are counted on those nodes only; a domain of zero pods still counts for the
  minimum, and the minimum is 0 while fewer than minDomains domains exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from autoscaler.model import PodConstraints, SpreadConstraint, tolerates_all
from autoscaler.nodelabels import HOSTNAME
from pricing.types import Taint


class SpreadNode(Protocol):
    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]


def domain_of(labels: Mapping[str, str], name: str, key: str) -> str | None:
    """The node's value of a topology key (the hostname defaults to the node's name)."""
    value = labels.get(key)
    if value is None and key == HOSTNAME:
        return name
    return value


def counts_as_domain(
    constraint: SpreadConstraint, constraints: PodConstraints, labels: Mapping[str, str], taints: tuple[Taint, ...], name: str = ""
) -> bool:
    """Whether a node is a domain of `constraint`, a spread constraint of a pod with `constraints`."""
    if constraint.honor_node_affinity and not constraints.spread_affinity.matches(labels, name or None):
        return False
    if constraint.honor_taints and not tolerates_all(constraints.tolerations, taints):
        return False
    return all(domain_of(labels, name, other.topology_key) is not None for other in constraints.spread)


@dataclass(frozen=True)
class SpreadDomains:
    counts: dict[str, int]  # domain -> matching pods on the nodes that count
    domains: frozenset[str]  # every domain, those with no matching pod included


def spread_domains(
    constraint: SpreadConstraint,
    constraints: PodConstraints,
    nodes: Iterable[SpreadNode],
    pods_of: Callable[[Any], Iterable] = lambda node: node.pods,
) -> SpreadDomains:
    """The domains of `constraint` over `nodes` and the matching pods each holds."""
    counts: dict[str, int] = {}
    domains: set[str] = set()
    for node in nodes:
        if not counts_as_domain(constraint, constraints, node.labels, node.taints, node.name):
            continue
        domain = domain_of(node.labels, node.name, constraint.topology_key)
        if domain is None:
            continue
        domains.add(domain)
        matching = sum(1 for pod in pods_of(node) if constraint.pods.matches(pod.namespace, pod.labels))
        if matching:
            counts[domain] = counts.get(domain, 0) + matching
    return SpreadDomains(counts, frozenset(domains))


def lowest(constraint: SpreadConstraint, counts: Mapping[str, int], domains: Sequence[str] | set[str]) -> int:
    """The global minimum the skew is measured against (0 below minDomains domains)."""
    if len(domains) < constraint.min_domains:
        return 0
    return min([counts.get(d, 0) for d in domains]) if domains else 0


def skew_allows(
    constraint: SpreadConstraint, counts: Mapping[str, int], domain: str, domains: Iterable[str], self_match: bool = True
) -> bool:
    """Whether the pod in `domain` keeps the constraint's skew: matching pods there, plus the pod
    itself when it matches the selector, minus the global minimum, at most maxSkew (Pod Topology
    Spread Constraints: a pod its own selector does not match adds nothing)."""
    every = set(domains)
    every.add(domain)
    return counts.get(domain, 0) + int(self_match) - lowest(constraint, counts, every) <= constraint.max_skew

