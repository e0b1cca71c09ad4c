"""Workloads that each spread only their own pods over zones, placed as one block.

Thousands of Deployments with the same requests and node constraints, each with one zone
topology spread on its own pods (the usual `app: <name>` selector), get the same zone quota
each: no other pod matches their selectors, so every one of them starts from zero matching
pods in every domain. Identical pods first-fit into the bins of one zone the same way one
workload at a time or all at once, so the family is packed once with the quotas summed, and
the pods are then named zone by zone so that each workload has exactly its quota in each zone.
Anything else (affinity, anti-affinity, host ports, selectors other pods match, pods already
running that match) goes through `Packer.place_group` one workload at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from autoscaler.nodelabels import ZONE
from autoscaler.planner.groups import PodGroup
from autoscaler.planner.pack_classes import node_level
from autoscaler.planner.pack_rules import Rules, rules_for

if TYPE_CHECKING:
    from autoscaler.planner.packer import Packer

def _private_spread(packer: Packer, group: PodGroup, owners: dict[int, int]) -> tuple | None:
    """The family a group belongs to, or None when its rules involve anything but its own pods."""
    constraints = group.shape.constraints
    if constraints.pod_affinity or constraints.pod_anti_affinity or constraints.host_ports or len(constraints.spread) != 1:
        return None
    (spread,) = constraints.spread
    if spread.topology_key != ZONE:
        return None
    registry = packer.registry
    sid = registry.ids[spread.pods]
    if group.sids != (sid,) or owners.get(sid) != 1 or packer.total[sid] or packer.sym_zones.get(sid):
        return None
    if registry.zone_spreads.get(sid) != [spread] or sid in registry.host_skew:
        return None
    skew = (spread.max_skew, spread.min_domains, spread.honor_node_affinity, spread.honor_taints)
    return (group.shape.requests, node_level(constraints), skew, len(group.pods))


def batches(packer: Packer, groups: Iterable[PodGroup]) -> Iterator[list[PodGroup]]:
    """The groups in order, consecutive members of one family together."""
    groups = list(groups)
    owners: dict[int, int] = {}
    for group in groups:
        for sid in group.sids:
            owners[sid] = owners.get(sid, 0) + 1
    batch: list[PodGroup] = []
    batch_key = None
    for group in groups:
        key = _private_spread(packer, group, owners)
        if key is not None and key == batch_key:
            batch.append(group)
            continue
        if batch:
            yield batch
        batch, batch_key = [group], key
    if batch:
        yield batch


def place_family(packer: Packer, members: list[PodGroup]) -> list[PodGroup]:
    """Place a family; the members' pods left over, as groups (none when all placed)."""
    first = members[0]
    klass = packer.pod_class(first.shape.constraints)
    each = len(first.pods)
    rules = rules_for(packer, first, klass, each)
    request = packer._row(first.shape)
    quota = rules.quota or {}
    if rules.reason or rules.seed or not quota or any(klass.option_for(first.shape.requests, zone) is None for zone in quota):
        return [rest for member in members for rest in _one(packer, member)]
    # each member's pods, named zone by zone in the order of its quota
    named: dict[int, list] = {zone: [] for zone in quota}
    for member in members:
        start = 0
        for zone, count in quota.items():
            named[zone].extend(member.pods[start : start + count])
            start += count
    block = [pod for member in members for pod in member.pods[: sum(quota.values())]]
    together = PodGroup(first.shape, first.namespace, (), block, first.self_start)
    summed = Rules(per_bin=len(block), zones=rules.zones, quota={z: q * len(members) for z, q in quota.items()}, needs_zone=True)
    rest = packer._join(together, klass, block, request, summed)
    if rest:
        packer._open(together, klass, rest, request, summed)
    placed = _rename(packer, {pod.key for pod in block}, named)
    return _count(packer, members, placed)


def _one(packer: Packer, member: PodGroup) -> list[PodGroup]:
    left = packer.place_group(member)
    return [PodGroup(member.shape, member.namespace, member.sids, left, member.self_start)] if left else []


def _rename(packer: Packer, keys: set[str], named: dict[int, list]) -> dict[str, int]:
    """Give the block's places in each zone to the pods named for that zone; key -> zone placed."""
    bins = packer.bins
    queues = {zone: iter(pods) for zone, pods in named.items()}
    placed: dict[str, int] = {}
    for index in range(bins.count):
        held = bins.pods[index]
        if not held or not any(key in keys for key in held):
            continue
        zone = int(bins.zone[index])
        queue = queues[zone]
        for at, key in enumerate(held):
            if key in keys:
                held[at] = next(queue).key
                placed[held[at]] = zone
    return placed


def _count(packer: Packer, members: list[PodGroup], placed: dict[str, int]) -> list[PodGroup]:
    """The counters of each member's selector, and what is left of each member."""
    left_over = []
    for member in members:
        (sid,) = member.sids
        per_zone = packer.zone_counts.setdefault(sid, {})
        mine = packer.placed_zone_counts.setdefault(sid, {})
        rest = []
        for pod in member.pods:
            zone = placed.get(pod.key)
            if zone is None:
                rest.append(pod)
                continue
            per_zone[zone] = per_zone.get(zone, 0) + 1
            mine[zone] = mine.get(zone, 0) + 1
        packer.total[sid] += len(member.pods) - len(rest)
        if rest:
            left_over.append(PodGroup(member.shape, member.namespace, member.sids, rest, member.self_start))
    return left_over
