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
  count(d) + 1 - min(count over the domains) <= maxSkew; which nodes are domains and what
  they count is `autoscaler.placement.spread`, the one rule every decision uses.
"""

from __future__ import annotations

from autoscaler.model import Pod
from autoscaler.placement.spread import domain_of  # noqa: F401  (inter-pod terms use it too)


def self_matching(pod: Pod) -> bool:
    """Whether the pod matches all its own required affinity terms (it may start a group)."""
    return all(term.pods.matches(pod.namespace, pod.labels) for term in pod.constraints.pod_affinity)
