"""Zones for the new nodes of a bin-select pod set whose rules count per zone (topology
spread, anti-affinity or affinity on topology.kubernetes.io/zone or another node label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscaler.placement.check import PlacementState
from autoscaler.nodelabels import HOSTNAME
from autoscaler.placement.spread import domain_of, spread_domains
from autoscaler.planner.options import NodeOption
from autoscaler.planner.zones import spread_allowed, spread_quota
from autoscaler.nodelabels import ZONE, node_labels


@dataclass
class ZoneLayout:
    quota: list[tuple[str, int]]  # zone -> pods of the set it gets
    reason: str = ""  # why the pods beyond the quota get nothing


def _matching(state: PlacementState | None, selector, key: str) -> tuple[dict[str, int], set[str]]:
    """Pods matching an inter-pod (anti-)affinity term per domain: every node counts."""
    counts: dict[str, int] = {}
    domains: set[str] = set()
    if state is None:
        return counts, domains
    for node in state.nodes.values():
        domain = domain_of(node.labels, node.name, key)
        if domain is None:
            continue
        domains.add(domain)
        matched = sum(1 for p in node.pods if selector.matches(p.namespace, p.labels))
        if matched:
            counts[domain] = counts.get(domain, 0) + matched
    return counts, domains


def _spread_counts(state: PlacementState | None, constraint, constraints) -> tuple[dict[str, int], set[str]]:
    if state is None:
        return {}, set()
    found = spread_domains(constraint, constraints, state.nodes.values())
    return found.counts, set(found.domains)


def zone_layout(pod_set, options: list[NodeOption], fits: np.ndarray, state: PlacementState | None) -> ZoneLayout | None:
    constraints = pod_set.shape.constraints
    if not constraints.inter_pod and (state is None or not state.has_zone_anti_terms):
        return None
    first = pod_set.pods[0]
    wanted = len(pod_set.pods)
    zoned = [t for t in constraints.pod_anti_affinity + constraints.pod_affinity if t.topology_key == ZONE]
    spreads = [c for c in constraints.spread if c.topology_key == ZONE]
    symmetric = set()
    if state is not None:
        for node in state.nodes.values():
            for other in node.pods:
                for term in other.constraints.pod_anti_affinity:
                    if term.topology_key == ZONE and term.pods.matches(first.namespace, first.labels):
                        symmetric.add(node.labels.get(ZONE, ""))
    if not (zoned or spreads or symmetric):
        return None
    placeable = list(dict.fromkeys(z for option, fit in zip(options, fits) if fit > 0 for z in option.zones))
    allowed = [z for z in placeable if z not in symmetric]
    quota: dict[str, int] | None = None
    reasons = []
    for term in constraints.pod_anti_affinity:
        if term.topology_key != ZONE:
            continue
        counts, _ = _matching(state, term.pods, ZONE)
        allowed = [z for z in allowed if not counts.get(z)]
        if term.pods.matches(first.namespace, first.labels):
            quota = _merge(quota, {z: 1 for z in allowed})
            reasons.append(f"required pod anti-affinity on {ZONE} allows one pod per zone ({', '.join(allowed) or 'none left'})")
    for term in constraints.pod_affinity:
        if term.topology_key != ZONE:
            continue
        counts, _ = _matching(state, term.pods, ZONE)
        if counts:
            allowed = [z for z in allowed if counts.get(z)]
        elif not term.pods.matches(first.namespace, first.labels):
            return ZoneLayout([], f"no pod matches its required pod affinity ({term.pods.describe()})")
    for constraint in spreads:
        counts, domains = _spread_counts(state, constraint, constraints)
        if constraint.pods.matches(first.namespace, first.labels):
            quota = _merge(quota, spread_quota(constraint, wanted, counts, sorted(domains), allowed))
            reasons.append(
                f"topology spread on {ZONE} (maxSkew {constraint.max_skew}) cannot be kept with more pods in "
                f"the zones it may get ({', '.join(allowed)})"
            )
        else:
            permitted = spread_allowed(constraint, counts, sorted(domains), allowed)
            allowed = [z for z in allowed if z in permitted]
    if quota is None:
        if not allowed:
            return ZoneLayout([], "its zone rules leave no zone it may get")
        return ZoneLayout([(allowed[0], wanted)])
    quota = {z: q for z, q in quota.items() if z in allowed}
    return ZoneLayout(sorted(quota.items(), key=lambda item: -item[1]), "; ".join(reasons))


def missing_topology_key(constraints, option: NodeOption, book) -> str | None:
    """A spread or affinity topology key a new node would not carry (kube-scheduler filters such
    nodes out), or None."""
    keys = [c.topology_key for c in constraints.spread] + [t.topology_key for t in constraints.pod_affinity]
    if not keys:
        return None
    catalog = book.catalog
    labels = node_labels(catalog.cloud, catalog.region, option.instance_type, option.capacity_type, "", "bin-select",
                         dict(book.config.node_labels))
    labels[HOSTNAME] = ""
    return next((key for key in keys if key not in labels), None)


def _merge(old: dict[str, int] | None, new: dict[str, int]) -> dict[str, int]:
    if old is None:
        return new
    return {zone: min(old.get(zone, 0), count) for zone, count in new.items()}
