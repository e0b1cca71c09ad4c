"""How many pods matching a hostname topology spread's selector a node may hold, for pods that
match their own selector, and the check that the bin-pack's final counts keep that spread.

kube-scheduler (PodTopologySpread; "Pod Topology Spread Constraints" concept page) lets a pod
onto a node when the node's matching pods, plus the pod, minus the global minimum over every
node that is a domain, are at most maxSkew. Nodes only gain pods, so the fewest matching pods
any existing domain holds (the floor) is a minimum the new nodes climb back to: a new node may
take `maxSkew + floor` (a full pool running 3 replicas on every node, maxSkew 1: 4 more per new
node, not 1). With no existing domain, or fewer than minDomains, the floor is 0: at most maxSkew
per node, which holds in any binding order.

A planned node that is a domain with fewer matching pods (a node opened for other pods the
group's node affinity also admits) holds the minimum below the floor, so a plan that used a
floor is checked at the end (`floors_hold`): over every domain (the existing nodes with what the
plan adds, and the new nodes by the labels they will carry) the most and the fewest matching
pods differ by at most maxSkew. Then every binding order reaches the plan: the emptiest domain
can take a pod while it is below its planned count, and once it is not, every node below its own
planned count holds at most `fewest + maxSkew - 1`. When the check fails the bin-pack is made
again without floors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autoscaler.model import SpreadConstraint
from autoscaler.nodelabels import HOSTNAME, ZONE
from autoscaler.planner.groups import PodGroup
from autoscaler.placement.spread import SpreadDomains, counts_as_domain, domain_of, spread_domains

if TYPE_CHECKING:
    from autoscaler.planner.pack_state import PackState


def existing_domains(packer: PackState, group: PodGroup, constraint: SpreadConstraint) -> SpreadDomains:
    """The domains of `constraint` among the nodes that are there (the plan's bin-select nodes
    included) and their matching pods, by the one spread-domain rule (`autoscaler.placement.spread`)."""
    constraints = group.shape.constraints
    key = (
        constraint,
        constraints.spread_affinity if constraint.honor_node_affinity else None,
        constraints.tolerations if constraint.honor_taints else None,
        tuple(c.topology_key for c in constraints.spread),
    )
    existing = packer.existing_spread.get(key)
    if existing is None:
        existing = packer.existing_spread[key] = spread_domains(constraint, constraints, packer.all_nodes)
    return existing


def host_limit(packer: PackState, group: PodGroup, constraint: SpreadConstraint) -> int:
    """Matching pods a node may hold under `constraint`, a hostname spread the group's pods match."""
    if not (packer.host_floors and packer.all_nodes):
        return constraint.max_skew
    key = (constraint, group.shape.constraints)
    floor = packer.host_floor_cache.get(key)
    if floor is None:
        existing = existing_domains(packer, group, constraint)
        floor = 0
        if existing.domains and len(existing.domains) >= constraint.min_domains:
            floor = min(existing.counts.get(domain, 0) for domain in existing.domains)
            for count in _planned_counts(packer, group, constraint, set(existing.domains)):
                floor = min(floor, count)
        packer.host_floor_cache[key] = floor
        if floor:
            packer.floor_uses.append((packer.registry.ids[constraint.pods], constraint, group))
    return constraint.max_skew + floor


def floors_hold(packer: PackState) -> bool:
    """Whether, for every spread that used a floor, the plan's final counts keep its maxSkew."""
    bins, opened = packer.bins, len(packer.open_nodes)
    for sid, constraint, group in packer.floor_uses:
        constraints = group.shape.constraints
        row = bins.row(sid)
        existing = existing_domains(packer, group, constraint)
        counts = {domain: existing.counts.get(domain, 0) for domain in existing.domains}
        for index, node in enumerate(packer.open_nodes):
            domain = domain_of(node.labels, node.name, HOSTNAME)
            if domain in counts:
                counts[domain] = int(bins.counts[row, index])
        planned = _planned_counts(packer, group, constraint, set(counts))
        fewest, most = min([*counts.values(), *planned]), max([*counts.values(), *planned])
        domain_of_option: dict[tuple[int, int], bool] = {}
        for index in range(opened, bins.count):
            option = bins.options[index]
            if option is None:
                continue
            pinned, zmask = int(bins.zone[index]), int(bins.zmask[index])
            known = domain_of_option.get((id(option), pinned, zmask))
            if known is None:
                zones = [pinned] if pinned >= 0 else [z for z in range(len(packer.zone_names)) if zmask & (1 << z)]
                known = domain_of_option[(id(option), pinned, zmask)] = _domain_in_a_zone(
                    packer, constraint, constraints, packer.new_node_labels(option), option.taints,
                    f"planned-{index}", zones)
            if known:
                count = int(bins.counts[row, index])
                fewest, most = min(fewest, count), max(most, count)
        if most - fewest > constraint.max_skew:
            return False
    return True


def _planned_counts(packer: PackState, group: PodGroup, constraint: SpreadConstraint, known: set[str]) -> list[int]:
    """Matching pods on the plan's bin-select nodes that are domains of `constraint` and not
    among `known`. A node whose zone the provider picks counts when any zone would make it one."""
    constraints = group.shape.constraints
    counts = []
    for node in packer.planned_domains:
        if node.name in known:
            continue
        zones = [-1] if ZONE in node.labels else list(range(len(packer.zone_names)))
        if _domain_in_a_zone(packer, constraint, constraints, node.labels, node.taints, node.name, zones):
            counts.append(sum(1 for pod in node.pods if constraint.pods.matches(pod.namespace, pod.labels)))
    return counts


def _domain_in_a_zone(packer: PackState, constraint: SpreadConstraint, constraints, labels: dict[str, str],
                      taints, name: str, zones: list[int]) -> bool:
    """Whether a new node is a domain of `constraint` in any of `zones` (zone indexes; -1 keeps
    the labels' own zone): its zone is the provider's pick, so any of them may be the one."""
    for zone in zones or [-1]:
        zoned = labels if zone < 0 else {**labels, ZONE: packer.zone_names[zone]}
        if counts_as_domain(constraint, constraints, zoned, taints, name):
            return True
    return False
