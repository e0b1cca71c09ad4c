"""First-fit decreasing over every resource, with the scheduling rules restricting which bin a
pod may join (the one placement simulation's rules, `autoscaler.placement.rules`, over blocks
of identical pods and numpy columns of bins).

Pods of any constraint class share a bin when the bin's offering is one they may get and the
rules allow it: different host ports share, a spread of maxSkew 2 on the hostname puts two per
node, anti-affinity keeps matching pods apart, zone spread fills zones lowest first. "One per
node" is what the rules produce, never a flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, Node, Pod, PodConstraints, PodShape, ports_conflict, tolerates_all
from autoscaler.nodelabels import INSTANCE_TYPE, ZONE
from autoscaler.planner.bins import UNPINNED, Bins
from autoscaler.planner.fit import as_row, copies_that_fit
from autoscaler.planner.groups import HOSTNAME, PodGroup, SelectorRegistry, group_pods
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.pack_classes import PodClass, class_key, meets_shape
from autoscaler.planner.types import NewNode, Placement
from autoscaler.planner.zones import spread_allowed, spread_quota
from autoscaler.placement.rules import spread_eligible
from autoscaler.resources import Resources

ALL_ZONES = -1  # every bit set


@dataclass
class BinPackResult:
    new_nodes: list[NewNode] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    no_option: list[tuple[PodShape, list[Pod]]] = field(default_factory=list)
    unplaceable: list[tuple[list[Pod], str]] = field(default_factory=list)  # rules that cannot be met


@dataclass
class _Rules:
    """What the rules say about one group right now."""

    per_bin: int
    zones: int = ALL_ZONES  # bitmask of zones the group may use
    quota: dict[int, int] | None = None  # zone -> pods it may still take
    needs_zone: bool = False
    seed: bool = False  # first pod of an affinity group: place one, then look again
    reason: str = ""


class Packer:
    def __init__(
        self, book: OptionBook, config: Config, open_nodes: list[Node], all_nodes: list[Node], registry: SelectorRegistry
    ) -> None:
        self.book, self.config, self.registry = book, config, registry
        self.zone_ids: dict[str, int] = {}
        self.zone_names: list[str] = []
        self.bins = Bins(len(open_nodes) + 64, len(registry.selectors))
        self.classes: dict[PodConstraints, PodClass] = {}
        self.class_list: list[PodClass] = []
        self.all_nodes = all_nodes
        self.open_names = {node.name for node in open_nodes}
        self.total = np.zeros(max(len(registry.selectors), 1), dtype=np.int64)  # matching pods anywhere
        self.zone_counts: dict[int, dict[int, int]] = {}  # selector -> zone -> placed matching pods
        self.sym_zones: dict[int, set[int]] = {}  # selector -> zones with a zone anti-affinity term on it
        self.largest: dict[PodConstraints, Resources] = {}
        for node in all_nodes:
            zone = self._zone(node.zone) if node.zone else UNPINNED
            for pod in node.pods:
                self._count_existing(pod, zone)
        for node in open_nodes:
            zone = self._zone(node.zone or "")
            index = self.bins.add(as_row(node.free), node.name, None, zone, 1 << zone, set(node.host_ports))
            for pod in node.pods:
                for sid in registry.signature(pod):
                    self.bins.counts[sid, index] += 1
                for term in pod.constraints.pod_anti_affinity:
                    if term.topology_key == HOSTNAME:
                        self.bins.sym[registry.ids[term.pods], index] += 1
        self.open_nodes = open_nodes
        self.result = BinPackResult()
        self._alternatives_seen: dict[tuple, tuple[NodeOption, ...]] = {}
        self._rows: dict[int, np.ndarray] = {}
        self._class_of: dict[int, tuple[PodConstraints, PodClass]] = {}
        self.skip = 0
        self.smallest = np.zeros(5, dtype=np.int64)

    # ---- bookkeeping

    def _zone(self, name: str) -> int:
        index = self.zone_ids.get(name)
        if index is None:
            index = self.zone_ids[name] = len(self.zone_names)
            self.zone_names.append(name)
        return index

    def _count_existing(self, pod: Pod, zone: int) -> None:
        for sid in self.registry.signature(pod):
            self.total[sid] += 1
            if zone >= 0 and sid in self.registry.zone_keyed:
                per_zone = self.zone_counts.setdefault(sid, {})
                per_zone[zone] = per_zone.get(zone, 0) + 1
        for term in pod.constraints.pod_anti_affinity:
            if term.topology_key != HOSTNAME and zone >= 0:
                self.sym_zones.setdefault(self.registry.ids[term.pods], set()).add(zone)

    def _row(self, shape: PodShape) -> np.ndarray:
        row = self._rows.get(id(shape))
        if row is None:
            row = self._rows[id(shape)] = as_row(shape.requests)
        return row

    def pod_class(self, constraints: PodConstraints) -> PodClass:
        known = self._class_of.get(id(constraints))
        if known is not None and known[0] is constraints:
            return known[1]
        klass = self._pod_class(constraints)
        self._class_of[id(constraints)] = (constraints, klass)
        return klass

    def _pod_class(self, constraints: PodConstraints) -> PodClass:
        key = class_key(constraints)
        found = self.classes.get(key)
        if found is None:
            options, _ = self.book.candidates(key, BIN_PACK, self.config.bin_packing_node_pricing)
            shaped = [o for o in options if meets_shape(o, self.config, key.gpu_resource is not None)]
            found = self.classes[key] = PodClass(len(self.classes), key, shaped, options, self)
            self.class_list.append(found)
        return found

    # ---- the rules for one group

    def _zone_counts_for(self, sid: int, group: PodGroup, constraint) -> tuple[dict[str, int], list[str]]:
        """Matching pods per zone over eligible nodes (existing ones by the inclusion policies, plus
        what this plan placed), and the zones that are domains."""
        constraints = group.shape.constraints
        counts: dict[str, int] = {}
        domains: set[str] = set()
        for node in self.all_nodes:
            if node.zone and spread_eligible(constraint, constraints, node.labels, node.taints):
                domains.add(node.zone)
        placed = self.zone_counts.get(sid, {})
        for zone_index, count in placed.items():
            counts[self.zone_names[zone_index]] = count
        return counts, sorted(domains)

    def _rules(self, group: PodGroup, klass: PodClass, wanted: int) -> _Rules:
        constraints = group.shape.constraints
        if not (group.sids or constraints.host_ports or constraints.inter_pod):
            return _Rules(per_bin=wanted)
        ids = self.registry.ids
        rules = _Rules(per_bin=wanted)
        if constraints.host_ports:
            rules.per_bin = 1
        if any(sid in self.registry.zone_keyed for sid in group.sids):
            rules.needs_zone = True
        for sid in group.sids:
            for zone in self.sym_zones.get(sid, ()):
                rules.zones &= ~(1 << zone)
        for term in constraints.pod_anti_affinity:
            sid = ids[term.pods]
            mine = sid in group.sids
            if term.topology_key == HOSTNAME:
                if mine:
                    rules.per_bin = 1
                continue
            rules.needs_zone = True
            for zone, count in self.zone_counts.get(sid, {}).items():
                if count:
                    rules.zones &= ~(1 << zone)
            if mine:
                rules.quota = self._merge_quota(rules.quota, {z: 1 for z in klass.zone_indices()})
        for term in constraints.pod_affinity:
            sid = ids[term.pods]
            if self.total[sid] == 0:
                if not group.self_start:
                    rules.reason = f"no pod matches its required pod affinity ({term.pods.describe()})"
                    return rules
                rules.seed = True
                rules.per_bin = 1
                continue
            if term.topology_key != HOSTNAME:
                rules.needs_zone = True
                allowed = 0
                for zone, count in self.zone_counts.get(sid, {}).items():
                    if count:
                        allowed |= 1 << zone
                rules.zones &= allowed
        for constraint in self._zone_spreads(group):
            sid = ids[constraint.pods]
            if constraint.topology_key == HOSTNAME:
                if sid in group.sids:
                    rules.per_bin = min(rules.per_bin, constraint.max_skew)
                continue
            rules.needs_zone = True
            counts, domains = self._zone_counts_for(sid, group, constraint)
            placeable = [self.zone_names[z] for z in klass.zone_indices() if rules.zones & (1 << z)]
            if sid in group.sids:
                quota = spread_quota(constraint, wanted, counts, domains, placeable)
                rules.quota = self._merge_quota(rules.quota, {self.zone_ids[z]: q for z, q in quota.items()})
            else:
                allowed = 0
                for zone in spread_allowed(constraint, counts, domains, placeable):
                    allowed |= 1 << self.zone_ids[zone]
                rules.zones &= allowed
        if rules.quota is not None:
            rules.quota = {z: q for z, q in rules.quota.items() if rules.zones & (1 << z)}
        return rules

    def _zone_spreads(self, group: PodGroup) -> list:
        """The group's own spread constraints, and the zone spreads of other pods it counts for."""
        own = list(group.shape.constraints.spread)
        for sid in group.sids:
            for constraint in self.registry.zone_spreads.get(sid, ()):
                if constraint not in own:
                    own.append(constraint)
        return own

    @staticmethod
    def _merge_quota(old: dict[int, int] | None, new: dict[int, int]) -> dict[int, int]:
        if old is None:
            return new
        return {zone: min(old.get(zone, 0), count) for zone, count in new.items()}

    def _caps(self, group: PodGroup, klass: PodClass, request: np.ndarray, rules: _Rules) -> tuple[np.ndarray, int]:
        """How many of the group's pods each bin from `lo` on may take now, and `lo` (bins before
        it have no room for even the smallest pod of the plan)."""
        bins, count, lo = self.bins, self.bins.count, self.skip
        caps = _room_for(bins.free[:, lo:count], request, rules.per_bin == 1)
        caps[~klass.eligible(count, lo)] = 0
        if rules.zones != ALL_ZONES:
            caps[(bins.zmask[lo:count] & rules.zones) == 0] = 0
        constraints = group.shape.constraints
        ids = self.registry.ids
        for sid in group.sids:
            caps[bins.sym[sid, lo:count] > 0] = 0
        for term in constraints.pod_anti_affinity:
            if term.topology_key == HOSTNAME:
                caps[bins.counts[ids[term.pods], lo:count] > 0] = 0
        for term in constraints.pod_affinity:
            sid = ids[term.pods]
            if term.topology_key == HOSTNAME and self.total[sid] > 0:
                caps[bins.counts[sid, lo:count] == 0] = 0
        for constraint in constraints.spread:
            if constraint.topology_key != HOSTNAME:
                continue
            have = bins.counts[ids[constraint.pods], lo:count]
            if ids[constraint.pods] in group.sids:
                caps = np.minimum(caps, np.maximum(constraint.max_skew - have, 0))
            else:
                caps[have >= constraint.max_skew] = 0
        for sid in group.sids:
            skew = self.registry.host_skew.get(sid)
            if skew is not None:
                held = bins.hold[sid, lo:count] > 0
                caps[held] = np.minimum(caps[held], np.maximum(skew - bins.counts[sid, lo:count][held], 0))
        np.minimum(caps, rules.per_bin, out=caps)
        if constraints.host_ports:
            for at in np.nonzero(caps)[0]:
                if ports_conflict(constraints.host_ports, frozenset(bins.ports[lo + at])):
                    caps[at] = 0
        return caps, lo

    # ---- placing

    def _take(self, group: PodGroup, klass: PodClass, index: int, pods: list[Pod], zone: int, bins_count: int = 1) -> None:
        """Put `pods` on bin `index`, or spread them evenly over `bins_count` bins from `index` on
        (new bins of one option and zone, opened together)."""
        bins = self.bins
        end = index + bins_count
        take = len(pods) // bins_count
        shape = group.shape
        bins.free[:, index:end] -= (self._row(shape) * take)[:, None]
        keys = [pod.key for pod in pods]
        for at in range(bins_count):
            bins.pods[index + at].extend(keys[at * take : (at + 1) * take])
            bins.classes[index + at].add(klass.index)
            if shape.constraints.host_ports:
                bins.ports[index + at] |= shape.constraints.host_ports
        if zone >= 0 and bins.zone[index] == UNPINNED:
            bins.zone[index:end] = zone
            bins.zmask[index:end] = 1 << zone
        elif bins.zone[index] == UNPINNED:
            bins.zmask[index:end] &= klass.zone_ok(index)
        pinned = int(bins.zone[index])
        for sid in group.sids:
            bins.counts[sid, index:end] += take
            self.total[sid] += len(pods)
            if pinned >= 0 and sid in self.registry.zone_keyed:
                per_zone = self.zone_counts.setdefault(sid, {})
                per_zone[pinned] = per_zone.get(pinned, 0) + len(pods)
        for constraint in shape.constraints.spread:
            if constraint.topology_key == HOSTNAME:
                bins.hold[self.registry.ids[constraint.pods], index:end] += take
        for term in shape.constraints.pod_anti_affinity:
            sid = self.registry.ids[term.pods]
            if term.topology_key == HOSTNAME:
                bins.sym[sid, index:end] += take
            elif pinned >= 0:
                self.sym_zones.setdefault(sid, set()).add(pinned)

    def _zone_for(self, index: int, rules: _Rules, left: dict[int, int] | None) -> int:
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
        while pods:
            rules = self._rules(group, klass, len(pods))
            if len(pods) == 1:
                rules.per_bin = 1
            if rules.reason:
                return pods
            batch = pods[:1] if rules.seed else pods
            rest = self._join(group, klass, batch, request, rules)
            if rest:
                rest = self._open(group, klass, rest, request, rules)
            placed = len(batch) - len(rest)
            pods = rest + pods[len(batch):]
            if not rules.seed or placed == 0:
                return pods
        return []

    def _first_fit(self, group: PodGroup, klass: PodClass, request: np.ndarray) -> bool:
        """One pod without inter-pod rules: the first bin with room (comparisons only)."""
        bins, count, lo = self.bins, self.bins.count, self.skip
        if lo >= count:
            return False
        fits = None
        for dim in range(len(request)):
            need = request[dim]
            if need > 0:
                column = bins.free[dim, lo:count] >= need
                fits = column if fits is None else fits & column
        eligible = klass.eligible(count, lo)
        fits = eligible if fits is None else fits & eligible
        at = int(fits.argmax())
        if not fits[at]:
            return False
        index = lo + at
        bins.free[:, index] -= request
        bins.pods[index].append(group.pods[0].key)
        bins.classes[index].add(klass.index)
        if bins.zone[index] == UNPINNED:
            bins.zmask[index] &= klass.zone_ok(index)
        while self.skip < bins.count and (bins.free[:, self.skip] < self.smallest).any():
            self.skip += 1
        return True

    def _join(self, group, klass, pods, request, rules) -> list[Pod]:
        caps, lo = self._caps(group, klass, request, rules)
        left = dict(rules.quota) if rules.quota is not None else None
        start = 0
        for at in np.nonzero(caps)[0]:
            index = lo + int(at)
            at = int(at)
            zone = self._zone_for(index, rules, left)
            if zone == -2:
                continue
            take = min(int(caps[at]), len(pods) - start)
            if left is not None and zone >= 0:
                take = min(take, left[zone])
                left[zone] -= take
            self._take(group, klass, index, pods[start : start + take], zone)
            start += take
            if start == len(pods):
                break
        if rules.quota is not None:
            rules.quota = left
        bins = self.bins
        while self.skip < bins.count and (bins.free[:, self.skip] < self.smallest).any():
            self.skip += 1
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
            per_node = int(copies_that_fit(as_row(option.allocatable)[None, :], request)[0])
            per_node = min(per_node, rules.per_bin)
            if constraints.host_ports and ports_conflict(constraints.host_ports, option.host_ports):
                per_node = 0  # the node's DaemonSet pods hold the port
            for constraint in constraints.spread:
                if constraint.topology_key == HOSTNAME and self.registry.ids[constraint.pods] in group.sids:
                    per_node = min(per_node, constraint.max_skew)
            if per_node <= 0:
                continue
            wanted = min(wanted, len(pods) - start)
            zmask = (1 << zone) if zone >= 0 else klass.zone_mask(option)
            room = as_row(option.allocatable)
            full, rest = divmod(wanted, per_node)
            for bins_count, take in ((full, per_node), (1 if rest else 0, rest)):
                if bins_count:
                    index = self.bins.add_block(room, bins_count, option, zone, zmask, option.host_ports)
                    self._take(group, klass, index, pods[start : start + bins_count * take], zone, bins_count)
                    start += bins_count * take
            if start == len(pods):
                break
        if start < len(pods) and not any(klass.option_for(group.shape.requests, z) for z, _ in zones or [(UNPINNED, 0)]):
            self.result.no_option.append((group.shape, pods[start:]))
            return []
        return pods[start:]

    def _zones_to_open(self, klass: PodClass, rules: _Rules, wanted: int) -> list[tuple[int, int]]:
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

    def finish(self) -> BinPackResult:
        bins, result = self.bins, self.result
        new: dict[tuple, list[int]] = {}
        for index in range(bins.count):
            if not bins.pods[index]:
                continue
            name = bins.names[index]
            if name is not None:
                result.placements.extend(Placement(pod, name) for pod in bins.pods[index])
                continue
            option = bins.options[index]
            key = (tuple(sorted(bins.classes[index])), int(bins.zone[index]), option.name, option.capacity_type)
            new.setdefault(key, []).append(index)
        chosen_nodes: dict[int, NewNode] = {}
        for (classes, zone, _, _), indexes in new.items():
            option = bins.options[indexes[0]]
            zone_name = self.zone_names[zone] if zone >= 0 else None
            if zone_name is not None and option.zones != (zone_name,):
                option = replace(option, zones=(zone_name,))
            used = as_row(option.allocatable)[None, :] - bins.free[:, indexes].T
            members = [self.class_list[i] for i in classes]
            alternatives = members[0].alternatives(option, used, zone_name, members[1:])
            for at, index in enumerate(indexes):
                chosen_nodes[index] = NewNode(option, BIN_PACK, tuple(bins.pods[index]), alternatives[at])
        result.new_nodes.extend(chosen_nodes[index] for index in sorted(chosen_nodes))
        return result

    def why_left(self, group: PodGroup) -> str:
        """Why the rules leave these pods without a node, in words a person understands."""
        klass = self.pod_class(group.shape.constraints)
        rules = self._rules(group, klass, len(group.pods))
        if rules.reason:
            return rules.reason
        constraints = group.shape.constraints
        option = klass.option_for(group.shape.requests, UNPINNED)
        if constraints.host_ports and option is not None and ports_conflict(constraints.host_ports, option.host_ports):
            return _port_reason(constraints.host_ports, option)
        zones = ", ".join(self.zone_names[z] for z in klass.zone_indices() if z < len(self.zone_names))
        for constraint in constraints.spread:
            if constraint.topology_key != HOSTNAME:
                return (
                    f"topology spread on {constraint.topology_key} (maxSkew {constraint.max_skew}, "
                    f"{constraint.pods.describe()}) cannot be kept with more pods in the zones it may get ({zones})"
                )
        for term in constraints.pod_anti_affinity:
            if term.topology_key != HOSTNAME:
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




def _room_for(free: np.ndarray, request: np.ndarray, one: bool) -> np.ndarray:
    """Copies of `request` each column of `free` holds (0/1 when only one is wanted)."""
    result = None
    for dim in range(len(request)):
        need = request[dim]
        if need <= 0:
            continue
        column = free[dim] >= need if one else free[dim] // need
        result = column if result is None else (result & column if one else np.minimum(result, column))
    if result is None:
        return np.full(free.shape[1], 1 << 40, dtype=np.int64)
    return result.astype(np.int64) if one else result


def _port_reason(ports, option: NodeOption) -> str:
    taken = ", ".join(f"{port}/{protocol}" for port, protocol, _ in sorted(ports & option.host_ports) or sorted(ports))
    return f"host port {taken} is taken on every new node by the DaemonSet pods that run there ({option.name})"


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
) -> BinPackResult:
    existing = [pod for node in all_nodes for pod in node.pods]
    groups, registry = group_pods(pods_by_shape, existing)
    packer = Packer(book, config, open_nodes, all_nodes, registry)
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
    for group in _order(groups, reference):
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
                packer.result.unplaceable.append((group.pods, packer.why_left(group)))
            break
        deferred = again
    return packer.finish()
