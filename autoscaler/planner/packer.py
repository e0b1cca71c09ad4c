"""First-fit decreasing over every resource, with the scheduling rules restricting which bin a
pod may join (the one placement simulation's rules, `autoscaler.placement.rules`, over blocks
of identical pods and numpy columns of bins).

Pods of any constraint class share a bin when the bin's offering is one they may get and the
rules allow it: different host ports share, a spread of maxSkew 2 on the hostname puts two per
node, anti-affinity keeps matching pods apart, zone spread fills zones lowest first. "One per
node" is what the rules produce, never a flag.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from autoscaler.config import Config
from autoscaler.model import Node, Pod, PodShape, ports_conflict
from autoscaler.planner.bins import UNPINNED
from autoscaler.planner.fit import as_row, copies_in, copies_that_fit
from autoscaler.nodelabels import HOSTNAME
from autoscaler.planner.groups import PodGroup, group_pods
from autoscaler.planner.options import OptionBook
from autoscaler.planner.pack_classes import PodClass, class_key
from autoscaler.planner.pack_state import BinPackResult, PackState
from autoscaler.planner.replicas import ReplicaNames
from autoscaler.planner.pack_result import finish
from autoscaler.planner.pack_rules import ALL_ZONES, Rules, rules_for, why_left
from autoscaler.planner.families import batches, place_family
from autoscaler.planner.host_spread import floors_hold, host_limit
from autoscaler.planner.label_spread import pinned_shape
from autoscaler.resources import Resources



class Packer(PackState):
    """Places groups of identical pods: join open bins the rules allow, then open new ones."""

    def _caps(self, group: PodGroup, klass: PodClass, request: np.ndarray, rules: Rules) -> tuple[np.ndarray, int]:
        """How many of the group's pods each bin from `lo` on may take now, and `lo` (bins before
        it have no room for even the smallest pod of the plan). For one pod per bin, a boolean
        array (one pod or none): the rules are then plain masks, with no integer arithmetic."""
        bins, count, lo = self.bins, self.bins.count, self.skip
        one = rules.per_bin == 1
        caps = copies_that_fit(bins.free[:, lo:count], request, one)
        ok = klass.eligible(count, lo) & caps if one else klass.eligible(count, lo).copy()
        zones = rules.zones
        if rules.quota is not None:  # a zone whose quota is used up takes none: its bins are out
            zones &= sum(1 << zone for zone, left in rules.quota.items() if left > 0)
        if zones != ALL_ZONES:
            ok &= (bins.zmask[lo:count] & zones) != 0
        constraints = group.shape.constraints
        ids, rows = self.registry.ids, bins.rows
        # Selectors without a row are counted by zone terms only: no node-level count to read.
        for sid in group.sids:
            if sid in rows:
                ok &= bins.sym[rows[sid], lo:count] == 0
        for term in constraints.pod_anti_affinity:
            if term.topology_key == HOSTNAME:
                ok &= bins.counts[bins.row(ids[term.pods]), lo:count] == 0
        for term in constraints.pod_affinity:
            sid = ids[term.pods]
            if term.topology_key == HOSTNAME and self.total[sid] > 0:
                ok &= bins.counts[bins.row(sid), lo:count] > 0
        for constraint in constraints.spread:
            if constraint.topology_key != HOSTNAME:
                continue
            have = bins.counts[bins.row(ids[constraint.pods]), lo:count]
            if ids[constraint.pods] not in group.sids:  # the pod adds no matching pod: the count may reach maxSkew
                ok &= have <= constraint.max_skew
                continue
            limit = host_limit(self, group, constraint)
            if one:
                ok &= have < limit
            else:
                caps = np.minimum(caps, np.maximum(limit - have, 0))
        for sid in group.sids:
            skew = self.registry.host_skew.get(sid)
            if skew is None or sid not in rows:
                continue
            held = bins.hold[rows[sid], lo:count] > 0
            have = bins.counts[rows[sid], lo:count]
            if one:
                ok &= ~held | (have < skew)
            else:
                caps[held] = np.minimum(caps[held], np.maximum(skew - have[held], 0))
        if one:
            caps = ok
        else:
            caps[~ok] = 0
            np.minimum(caps, rules.per_bin, out=caps)
        if constraints.host_ports:
            for at in np.nonzero(caps)[0]:
                if ports_conflict(constraints.host_ports, frozenset(bins.ports[lo + at])):
                    caps[at] = 0
        return caps, lo

    # ---- placing
    def _zone_for(self, index: int, rules: Rules, left: dict[int, int] | None) -> int:
        """The zone a bin is (or gets pinned to) for this group, or None-like -2 when none fits."""
        bins = self.bins
        if bins.zone[index] != UNPINNED:
            zone = int(bins.zone[index])
            return zone if left is None or left.get(zone, 0) > 0 else -2
        if not rules.needs_zone:
            return UNPINNED
        mask = int(bins.zmask[index]) & rules.zones
        best, best_left = -2, -1
        for zone in range(len(self.zone_names)):
            if mask & (1 << zone):
                room = left.get(zone, 0) if left is not None else 1
                if room > best_left and room > 0:
                    best, best_left = zone, room
        return best

    def place_group(self, group: PodGroup) -> list[Pod]:
        """Place what the rules allow; the pods left over (none when all placed)."""
        klass = self.pod_class(group.shape.constraints)
        pods = group.pods
        request = self._row(group.shape)
        constraints = group.shape.constraints
        if len(pods) == 1 and not (group.sids or constraints.host_ports or constraints.inter_pod):
            if self._first_fit(group, klass, request):
                return []
            return self._open(group, klass, pods, request, Rules(per_bin=1))  # no open bin has room
        while pods:
            rules = rules_for(self, group, klass, len(pods))
            if len(pods) == 1:
                rules.per_bin = 1
            if rules.reason:
                return pods
            if rules.labels:
                split = self._by_label(group, pods, rules.labels)
                if split is not None:
                    return split
                allowed = min(sum(quota.values()) for _, quota in rules.labels)
                if allowed < len(pods):  # the skew holds the rest back
                    return self.place_group(replace(group, pods=pods[:allowed])) + pods[allowed:] if allowed else pods
            batch = pods[:1] if rules.seed else pods
            rest = self._join(group, klass, batch, request, rules)
            if rest:
                rest = self._open(group, klass, rest, request, rules)
            placed = len(batch) - len(rest)
            pods = rest + pods[len(batch):]
            if not rules.seed or placed == 0:
                return pods
        return []

    def _by_label(self, group: PodGroup, pods: list[Pod], labels: list[tuple[str, dict[str, int]]]) -> list[Pod] | None:
        """Place each value's share of a spread on another node label as a group held to that
        value (label_spread.py); the pods left. None when the group is held on every such label."""
        for key, quota in labels:
            if key in group.pinned:
                continue
            left, start = [], 0
            for value, share in quota.items():
                if share <= 0:
                    continue
                part = PodGroup(pinned_shape(group.shape, key, value), group.namespace, group.sids,
                                pods[start : start + share], group.self_start, group.pinned | {key})
                sized_as = self.largest.get(class_key(group.shape.constraints)) or part.shape.requests
                self.largest.setdefault(class_key(part.shape.constraints), sized_as)
                left.extend(self.place_group(part))
                start += share
            return left + pods[start:]
        return None

    def _first_fit(self, group: PodGroup, klass: PodClass, request: np.ndarray) -> bool:
        """One pod without inter-pod rules: the first bin with room (comparisons only)."""
        bins, count, lo = self.bins, self.bins.count, self.skip
        if lo >= count:
            return False
        fits = copies_that_fit(bins.free[:, lo:count], request, one=True)
        if not klass.all_eligible(count):
            fits &= klass.eligible(count, lo)
        at = int(fits.argmax())
        if not fits[at]:
            return False
        index = lo + at
        bins.free[:, index] -= request
        bins.pods[index].append(self.replica_names.key(group.pods[0]))
        bins.add_class(index, index + 1, klass.index)
        if bins.zone[index] == UNPINNED:
            allowed = klass.zone_ok(index)
            if int(bins.zmask[index]) & ~allowed:
                bins.zmask[index] &= allowed
                bins.version += 1
        if index == self.skip or self.skip_stale:
            self._advance_skip()
        return True

    def _advance_skip(self) -> None:
        """Move `skip` past the bins without room for the plan's smallest pod. Only bin `skip`
        itself or bins opened at the end can make it move, so callers run it when they took
        room from bin `skip` or opened bins (`skip_stale`)."""
        bins = self.bins
        while self.skip < bins.count and (bins.free[:, self.skip] < self.smallest).any():
            self.skip += 1
        self.skip_stale = False

    def _join(self, group, klass, pods, request, rules) -> list[Pod]:
        caps, lo = self._caps(group, klass, request, rules)
        left = dict(rules.quota) if rules.quota is not None else None
        start = 0
        touched_skip = self.skip_stale
        for at in np.flatnonzero(caps).tolist():
            index = lo + at
            zone = self._zone_for(index, rules, left)
            if zone == -2:
                continue
            take = min(int(caps[at]), len(pods) - start)
            if left is not None and zone >= 0:
                take = min(take, left[zone])
                left[zone] -= take
            self._take(group, klass, index, pods[start : start + take], zone)
            touched_skip = touched_skip or index == self.skip
            start += take
            if start == len(pods):
                break
        if rules.quota is not None:
            rules.quota = left
        if touched_skip:
            self._advance_skip()
        return pods[start:]

    def _open(self, group, klass, pods, request, rules) -> list[Pod]:
        constraints = group.shape.constraints
        for term in constraints.pod_affinity:
            if term.topology_key == HOSTNAME and self.total[self.registry.ids[term.pods]] > 0:
                return pods  # must join a node that already holds a matching pod
        zones = self._zones_to_open(klass, rules, len(pods))
        start = 0
        for zone, wanted in zones:
            option = klass.option_for(group.shape.requests, zone)
            if option is None:
                continue
            per_node = min(copies_in(option.allocatable, group.shape.requests), rules.per_bin)
            if constraints.host_ports and ports_conflict(constraints.host_ports, option.host_ports):
                per_node = 0  # the node's DaemonSet pods hold the port
            for constraint in constraints.spread:
                if constraint.topology_key == HOSTNAME and self.registry.ids[constraint.pods] in group.sids:
                    per_node = min(per_node, host_limit(self, group, constraint))
            if per_node <= 0:
                continue
            wanted = min(wanted, len(pods) - start)
            zmask = (1 << zone) if zone >= 0 else klass.zone_mask(option)
            room = as_row(option.allocatable)
            if rules.even:  # equal shares keep the new nodes within maxSkew of each other
                nodes = -(-wanted // per_node)
                share, more = divmod(wanted, nodes)
                blocks = ((more, share + 1), (nodes - more, share))
            else:
                full, rest = divmod(wanted, per_node)
                blocks = ((full, per_node), (1 if rest else 0, rest))
            for bins_count, take in blocks:
                if bins_count:
                    index = self.bins.add_block(room, bins_count, option, zone, zmask, option.host_ports)
                    self.skip_stale = True
                    self._take(group, klass, index, pods[start : start + bins_count * take], zone, bins_count)
                    start += bins_count * take
            if start == len(pods):
                break
        if start < len(pods) and not any(klass.option_for(group.shape.requests, z) for z, _ in zones or [(UNPINNED, 0)]):
            self.result.no_option.append((group.shape, pods[start:]))
            return []
        return pods[start:]

    def _zones_to_open(self, klass: PodClass, rules: Rules, wanted: int) -> list[tuple[int, int]]:
        if rules.quota is not None:
            return [(zone, left) for zone, left in sorted(rules.quota.items(), key=lambda i: -i[1]) if left > 0]
        if not rules.needs_zone and rules.zones == ALL_ZONES:
            return [(UNPINNED, wanted)]
        # pinned to one allowed zone: the cheapest the class offers there
        best = None
        for zone in klass.zone_indices():
            if rules.zones & (1 << zone):
                option = klass.option_for(None, zone)
                if option is not None and (best is None or option.order_key < best[1].order_key):
                    best = (zone, option)
        return [(best[0], wanted)] if best else []

    # ---- results


def _order(groups: list[PodGroup], reference: Resources) -> list[PodGroup]:
    def share(group: PodGroup) -> tuple[float, int, int]:
        r = group.shape.requests
        shares = [r.cpu / max(reference.cpu, 1), r.memory / max(reference.memory, 1)]
        if reference.gpu:
            shares.append(r.gpu / reference.gpu)
        return (max(shares), r.cpu, r.memory)

    return sorted(groups, key=share, reverse=True)


def pack(
    pods_by_shape: dict[PodShape, list[Pod]],
    book: OptionBook,
    config: Config,
    open_nodes: list[Node],
    all_nodes: list[Node],
    replica_names: ReplicaNames | None = None,
    host_floors: bool = True,
    planned_domains: Sequence[Node] = (),
) -> BinPackResult:
    """`planned_domains`: the plan's bin-select nodes that are not among `all_nodes`, as
    hostname domains the spread floor counts (host_spread.py)."""
    existing = [pod for node in all_nodes for pod in node.pods]
    groups, registry = group_pods(pods_by_shape, existing)
    packer = Packer(book, config, open_nodes, all_nodes, registry)
    packer.host_floors, packer.planned_domains = host_floors, planned_domains
    if replica_names is not None:
        packer.replica_names = replica_names
    handed_out = packer.replica_names.handed_out()
    for group in groups:
        key = class_key(group.shape.constraints)
        r = group.shape.requests
        known = packer.largest.get(key)
        packer.largest[key] = r if known is None else Resources(
            max(known.cpu, r.cpu), max(known.memory, r.memory), max(known.gpu, r.gpu), 1, max(known.ephemeral, r.ephemeral)
        )
    if groups:
        packer.smallest = np.min(np.array([as_row(g.shape.requests) for g in groups]), axis=0)
    reference = Resources(config.bin_packing_node_cpu, config.bin_packing_node_memory, config.bin_packing_node_gpu)
    deferred = []
    for batch in batches(packer, _order(groups, reference)):
        if len(batch) > 1:
            deferred.extend(place_family(packer, batch))
            continue
        (group,) = batch
        left = packer.place_group(group)
        if left:
            deferred.append(PodGroup(group.shape, group.namespace, group.sids, left, group.self_start))
    # Pods whose rules depend on pods placed later (affinity to another group) get a second look.
    while deferred:
        again = []
        for group in deferred:
            left = packer.place_group(group)
            if left:
                again.append(PodGroup(group.shape, group.namespace, group.sids, left, group.self_start))
        if sum(len(g.pods) for g in again) == sum(len(g.pods) for g in deferred):
            for group in again:
                packer.result.unplaceable.append((group.pods, why_left(packer, group)))
            break
        deferred = again
    if packer.floor_uses and not floors_hold(packer):
        packer.replica_names.rewind(handed_out)
        return pack(pods_by_shape, book, config, open_nodes, all_nodes, replica_names, host_floors=False)
    return finish(packer)
