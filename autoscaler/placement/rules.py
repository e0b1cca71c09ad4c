"""Scheduling semantics shared by every fit check (kube-scheduler's filter plugins).

- NodeResourcesFit: every request, extended resources included, within the node's free room.
- TaintToleration, NodeAffinity (nodeSelector folded in): see `autoscaler.model`.
- NodePorts: a (port, protocol) clashes when either side binds every address or both the same.
- InterPodAffinity: a required affinity term needs a pod matching its selector in the node's
  domain of the topology key, unless no pod anywhere matches and the pod matches its own
  terms (the first pod of a group); a required anti-affinity term forbids domains with a
  matching pod; and an existing pod's anti-affinity term forbids its domain to pods it
  matches (symmetry).
- PodTopologySpread (DoNotSchedule): placing the pod in domain d must leave
  count(d) + 1 - min(count over eligible domains) <= maxSkew; the minimum is 0 while fewer
  than minDomains domains exist. Eligible nodes follow nodeAffinityPolicy (default Honor:
  only nodes matching the pod's node affinity) and nodeTaintsPolicy (default Ignore); nodes
  without the topology label are no domain and take no such pod.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from autoscaler.model import Pod, PodConstraints, SpreadConstraint, tolerates_all
from autoscaler.nodelabels import HOSTNAME
from pricing.types import Taint



def domain_of(labels: Mapping[str, str], name: str, key: str) -> str | None:
    """The node's value of a topology key (the hostname defaults to the node's name)."""
    value = labels.get(key)
    if value is None and key == HOSTNAME:
        return name
    return value


def spread_eligible(
    constraint: SpreadConstraint,
    constraints: PodConstraints,
    labels: Mapping[str, str],
    taints: tuple[Taint, ...],
    name: str | None = None,
) -> bool:
    """Whether a node counts as a domain of the pod's spread constraint (inclusion policies)."""
    if constraint.honor_node_affinity and not constraints.affinity.matches(labels, name):
        return False
    if constraint.honor_taints and not tolerates_all(constraints.tolerations, taints):
        return False
    return True


def skew_allows(
    constraint: SpreadConstraint, counts: Mapping[str, int], domain: str, domains: Iterable[str], self_match: bool = True
) -> bool:
    """Whether the pod in `domain` keeps the constraint's skew: matching pods there, plus the pod
    itself when it matches the selector, minus the global minimum, at most maxSkew (Pod
    Topology Spread Constraints; a pod the selector does not match adds nothing)."""
    domains = set(domains)
    domains.add(domain)
    lowest = min((counts.get(d, 0) for d in domains), default=0)
    if len(domains) < constraint.min_domains:
        lowest = 0
    return counts.get(domain, 0) + int(self_match) - lowest <= constraint.max_skew


def self_matching(pod: Pod) -> bool:
    """Whether the pod matches all its own required affinity terms (it may start a group)."""
    return all(term.pods.matches(pod.namespace, pod.labels) for term in pod.constraints.pod_affinity)
