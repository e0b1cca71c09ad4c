"""The scheduling rules of the bin-pack for one group of identical pods, at the moment it is
placed: how many per bin, which zones, how many per zone, and why pods are left without a node.
The semantics are those of `autoscaler.placement.rules`; here they are read off the packer's
counters (matching pods per selector per bin and per zone) instead of pod lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autoscaler.model import ports_conflict
from autoscaler.planner.bins import UNPINNED
from autoscaler.nodelabels import HOSTNAME, ZONE
from autoscaler.planner.groups import PodGroup
from autoscaler.planner.options import NodeOption
from autoscaler.planner.host_spread import existing_domains, host_limit
from autoscaler.planner.label_spread import label_quota, placeable_values
from autoscaler.planner.zones import spread_allowed, spread_quota

if TYPE_CHECKING:
    from autoscaler.planner.pack_classes import PodClass
    from autoscaler.planner.packer import Packer

ALL_ZONES = -1  # every bit set


@dataclass
class Rules:
    """What the rules say about one group right now."""

    per_bin: int
    zones: int = ALL_ZONES  # bitmask of zones the group may use
    quota: dict[int, int] | None = None  # zone -> pods it may still take
    needs_zone: bool = False
    seed: bool = False  # first pod of an affinity group: place one, then look again
    # spreads on other node labels: (key, value -> pods of the group it may take)
    labels: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    even: bool = False  # new nodes get equal shares (a hostname spread above maxSkew per node)
    reason: str = ""


def zone_counts_for(packer: Packer, sid: int, group: PodGroup, constraint) -> tuple[dict[str, int], list[str]]:
    """Matching pods per zone and the zones that are domains, by the one spread-domain rule
    (`autoscaler.placement.spread`) over the existing nodes, plus what this plan placed."""
    if not packer.all_nodes:
        return _placed_counts(packer, sid, {}), []
    existing = existing_domains(packer, group, constraint)
    return _placed_counts(packer, sid, existing.counts), sorted(existing.domains)


def _placed_counts(packer: Packer, sid: int, existing: dict[str, int]) -> dict[str, int]:
    counts = dict(existing)
    for zone_index, count in packer.placed_zone_counts.get(sid, {}).items():
        name = packer.zone_names[zone_index]
        counts[name] = counts.get(name, 0) + count
    return counts


def rules_for(packer: Packer, group: PodGroup, klass: PodClass, wanted: int) -> Rules:
    constraints = group.shape.constraints
    if not (group.sids or constraints.host_ports or constraints.inter_pod):
        return Rules(per_bin=wanted)
    ids = packer.registry.ids
    rules = Rules(per_bin=wanted)
    if constraints.host_ports:
        rules.per_bin = 1
    if not packer.registry.zone_keyed.isdisjoint(group.sids):
        rules.needs_zone = True
    for sid in group.sids:
        for zone in packer.sym_zones.get(sid, ()):
            rules.zones &= ~(1 << zone)
    keys = klass.label_keys()
    for key in [c.topology_key for c in constraints.spread] + [t.topology_key for t in constraints.pod_affinity]:
        if key not in keys:
            # kube-scheduler filters out nodes without the key: no new node would take the pod.
            rules.reason = f"topology key {key} is not a label of the nodes it may get"
            return rules
    for term in constraints.pod_anti_affinity:
        sid = ids[term.pods]
        mine = sid in group.sids
        if term.topology_key == HOSTNAME:
            if mine:
                rules.per_bin = 1
            continue
        if term.topology_key != ZONE:
            continue
        rules.needs_zone = True
        for zone, count in packer.zone_counts.get(sid, {}).items():
            if count:
                rules.zones &= ~(1 << zone)
        if mine:
            rules.quota = merge_quota(rules.quota, {z: 1 for z in klass.zone_indices()})
    for term in constraints.pod_affinity:
        sid = ids[term.pods]
        if packer.total[sid] == 0:
            if not group.self_start:
                rules.reason = f"no pod matches its required pod affinity ({term.pods.describe()})"
                return rules
            rules.seed = True
            rules.per_bin = 1
            continue
        if term.topology_key == ZONE:
            rules.needs_zone = True
            allowed = 0
            for zone, count in packer.zone_counts.get(sid, {}).items():
                if count:
                    allowed |= 1 << zone
            rules.zones &= allowed
    for constraint in zone_spreads(packer, group):
        sid = ids[constraint.pods]
        if constraint.topology_key == HOSTNAME:
            if sid in group.sids:
                limit = host_limit(packer, group, constraint)
                rules.even = rules.even or limit > constraint.max_skew
                rules.per_bin = min(rules.per_bin, limit)
            continue
        if constraint.topology_key != ZONE:
            if sid in group.sids and constraint in group.shape.constraints.spread:
                rules.labels.append((constraint.topology_key, label_quota(packer, group, klass, constraint, wanted)))
            continue
        rules.needs_zone = True
        counts, domains = zone_counts_for(packer, sid, group, constraint)
        placeable = [packer.zone_names[z] for z in klass.zone_indices() if rules.zones & (1 << z)]
        if sid in group.sids:
            quota = spread_quota(constraint, wanted, counts, domains, placeable)
            rules.quota = merge_quota(rules.quota, {packer.zone_ids[z]: q for z, q in quota.items()})
        else:
            allowed = 0
            for zone in spread_allowed(constraint, counts, domains, placeable):
                allowed |= 1 << packer.zone_ids[zone]
            rules.zones &= allowed
    if rules.quota is not None:
        rules.quota = {z: q for z, q in rules.quota.items() if rules.zones & (1 << z)}
    return rules

def zone_spreads(packer: Packer, group: PodGroup) -> list:
    """The group's own spread constraints, and the zone spreads of other pods it counts for."""
    own = list(group.shape.constraints.spread)
    for sid in group.sids:
        for constraint in packer.registry.zone_spreads.get(sid, ()):
            if constraint not in own:
                own.append(constraint)
    return own

def merge_quota(old: dict[int, int] | None, new: dict[int, int]) -> dict[int, int]:
    if old is None:
        return new
    return {zone: min(old.get(zone, 0), count) for zone, count in new.items()}


def why_left(packer: Packer, group: PodGroup) -> str:
    """Why the rules leave these pods without a node, in words a person understands."""
    klass = packer.pod_class(group.shape.constraints)
    rules = rules_for(packer, group, klass, len(group.pods))
    if rules.reason:
        return rules.reason
    constraints = group.shape.constraints
    option = klass.option_for(group.shape.requests, UNPINNED)
    if constraints.host_ports and option is not None and ports_conflict(constraints.host_ports, option.host_ports):
        return port_reason(constraints.host_ports, option)
    zones = ", ".join(packer.zone_names[z] for z in klass.zone_indices() if z < len(packer.zone_names))
    for constraint in constraints.spread:
        if constraint.topology_key == ZONE:
            return (
                f"topology spread on {constraint.topology_key} (maxSkew {constraint.max_skew}, "
                f"{constraint.pods.describe()}) cannot be kept with more pods in the zones it may get ({zones})"
            )
    for constraint in constraints.spread:
        if constraint.topology_key not in (HOSTNAME, ZONE):
            values = ", ".join(placeable_values(packer, klass, constraint.topology_key))
            return (
                f"topology spread on {constraint.topology_key} (maxSkew {constraint.max_skew}, "
                f"{constraint.pods.describe()}) cannot be kept with more pods on the values its new nodes "
                f"may have ({values})"
            )
    for term in constraints.pod_anti_affinity:
        if term.topology_key == ZONE:
            return (
                f"required pod anti-affinity on {term.topology_key} ({term.pods.describe()}) leaves no zone "
                f"of those it may get ({zones})"
            )
    for term in constraints.pod_affinity:
        return (
            f"required pod affinity on {term.topology_key} ({term.pods.describe()}): the domains with "
            "matching pods have no room or offering for it"
        )
    return "existing pods' anti-affinity rules leave no zone it may get"


def port_reason(ports, option: NodeOption) -> str:
    taken = ", ".join(f"{port}/{protocol}" for port, protocol, _ in sorted(ports & option.host_ports) or sorted(ports))
    return f"host port {taken} is taken on every new node by the DaemonSet pods that run there ({option.name})"
