"""The bin-pack's state: its bins, its zones, its pod classes, and how many pods matching each
selector in play each bin and each zone holds (what the rules read). `take` is the one way
pods get into bins, so the counters always agree with the bins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, Node, Pod, PodConstraints, PodShape, SpreadConstraint
from autoscaler.placement.spread import SpreadDomains
from autoscaler.planner.bins import UNPINNED, Bins
from autoscaler.planner.fit import DIMENSIONS, as_row
from autoscaler.nodelabels import HOSTNAME, ZONE, node_labels
from autoscaler.planner.groups import PodGroup, SelectorRegistry
from autoscaler.planner.flexsize import sized_for
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.types import NewNode, Placement
from autoscaler.planner.pack_classes import PodClass, class_key, meets_shape
from autoscaler.planner.replicas import ReplicaNames
from autoscaler.resources import Resources


@dataclass
class BinPackResult:
    new_nodes: list[NewNode] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    no_option: list[tuple[PodShape, list[Pod]]] = field(default_factory=list)
    unplaceable: list[tuple[list[Pod], str]] = field(default_factory=list)  # rules that cannot be met


class PackState:
    """Counters of the bin-pack: bins, zones, pod classes, matching pods per selector and zone."""

    def __init__(
        self, book: OptionBook, config: Config, open_nodes: list[Node], all_nodes: list[Node], registry: SelectorRegistry
    ) -> None:
        self.book, self.config, self.registry = book, config, registry
        self.replica_names = ReplicaNames()  # names of replicas planned as a count (pack() sets it)
        self.zone_ids: dict[str, int] = {}
        self.zone_names: list[str] = []
        self.bins = Bins(len(open_nodes) + 64, registry.host_keyed)
        self.classes: dict[PodConstraints, PodClass] = {}
        self.class_list: list[PodClass] = []
        self.all_nodes = all_nodes
        self.open_names = {node.name for node in open_nodes}
        self.total = np.zeros(max(len(registry.selectors), 1), dtype=np.int64)  # matching pods anywhere
        self.zone_counts: dict[int, dict[int, int]] = {}  # selector -> zone -> placed matching pods
        self.sym_zones: dict[int, set[int]] = {}  # selector -> zones with a zone anti-affinity term on it
        self.placed_zone_counts: dict[int, dict[int, int]] = {}  # selector -> zone -> pods this plan placed
        self.existing_spread: dict[tuple, SpreadDomains] = {}  # spread domains of the existing nodes, per rule
        self.host_floors = True  # hostname spreads count from the existing domains' minimum (host_spread.py)
        self.host_floor_cache: dict[tuple, int] = {}
        self.planned_domains: Sequence[Node] = ()  # the plan's other new nodes (bin-select), as domains
        self.floor_uses: list[tuple[int, SpreadConstraint, PodGroup]] = []
        self.largest: dict[PodConstraints, Resources] = {}
        # Catalog zones get the first ids, always in the same order, so that what pod classes
        # keep on the option book (zone masks) holds for every plan made with that book.
        statics = getattr(book, "_pack_statics", None)
        if statics is None:
            zones = list(book.catalog.zones)
            statics = {"zones": zones, "classes": {}}
            try:
                book._pack_statics = statics
            except AttributeError:
                pass
        for zone in statics["zones"]:
            self._zone(zone)
        self.book_statics: dict = statics["classes"]
        counted = bool(registry.selectors)  # no term in play: running pods count for nothing
        for node in all_nodes if counted else ():
            zone = self._zone(node.zone) if node.zone else UNPINNED
            for pod in node.pods:
                self._count_existing(pod, zone)
        first = self.bins.add_open(
            np.array([_columns(node.free) for node in open_nodes], dtype=np.int64).reshape(-1, DIMENSIONS).T,
            [node.name for node in open_nodes],
            [self._zone(node.zone or "") for node in open_nodes],
            [node.host_ports for node in open_nodes],
        )
        for index, node in enumerate(open_nodes if counted else (), start=first):
            for pod in node.pods:
                for sid in registry.signature(pod):
                    if sid in self.bins.rows:
                        self.bins.counts[self.bins.rows[sid], index] += 1
                for term in pod.constraints.pod_anti_affinity:
                    if term.topology_key == HOSTNAME:
                        self.bins.sym[self.bins.row(registry.ids[term.pods]), index] += 1
        self.open_nodes = open_nodes
        self.open_seed = self.bins.counts[:, : len(open_nodes)].copy()  # their running pods' counts
        self.option_labels: dict[int, tuple[NodeOption, dict[str, str]]] = {}  # a new node's labels, per offering
        self.result = BinPackResult()
        self._alternatives_seen: dict[tuple, tuple[NodeOption, ...]] = {}
        self._rows: dict[int, np.ndarray] = {}
        self._class_of: dict[int, tuple[PodConstraints, PodClass]] = {}
        self._class_by_node_level: dict[tuple, PodClass] = {}
        self.skip = 0  # bins before it have no room for the plan's smallest pod
        self.skip_stale = True  # bins were opened since `skip` was last moved
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
            if term.topology_key == ZONE and zone >= 0:
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
        c = constraints
        node_level = (c.affinity, c.tolerations, c.gpu_resource, c.extra_devices, c.selection, c.gpu_time_slices)
        found = self._class_by_node_level.get(node_level)
        if found is not None:
            return found
        key = class_key(constraints)
        found = self.classes.get(key)
        if found is None:
            options, _ = self.book.candidates(key, BIN_PACK, self.config.bin_packing_node_pricing)
            # flexible shapes sized to the bin-pack shape and the class's largest pod
            largest = self.largest.get(key) or Resources(pods=1)
            options = sized_for(self.book, options, largest, self.config.bin_packing_node_cpu, self.config.bin_packing_node_memory)
            shaped = [o for o in options if meets_shape(o, self.config, key.gpu_resource is not None)]
            found = self.classes[key] = PodClass(len(self.classes), key, shaped, options, self)
            self.class_list.append(found)
        self._class_by_node_level[node_level] = found
        return found

    def new_node_labels(self, option: NodeOption) -> dict[str, str]:
        """The labels a new bin-pack node of `option` carries, its zone left empty (made once per offering)."""
        made = self.option_labels.get(id(option))
        if made is None or made[0] is not option:
            catalog = self.book.catalog
            labels = node_labels(catalog.cloud, catalog.region, option.instance_type, option.capacity_type, "",
                                 BIN_PACK, dict(self.config.node_labels))
            made = self.option_labels[id(option)] = (option, labels)
        return made[1]

    # ---- the rules for one group

    def _take(self, group: PodGroup, klass: PodClass, index: int, pods: list[Pod], zone: int, bins_count: int = 1) -> None:
        """Put `pods` on bin `index`, or spread them evenly over `bins_count` bins from `index` on
        (new bins of one option and zone, opened together)."""
        bins = self.bins
        end = index + bins_count
        take = len(pods) // bins_count
        shape = group.shape
        # One bin (most takes) is written through plain indexes: numpy's scalar path costs a
        # tenth of a one-element slice's.
        at = index if bins_count == 1 else slice(index, end)
        row = self._row(shape)
        if bins_count == 1:
            bins.free[:, index] -= row if take == 1 else row * take
        else:
            bins.free[:, index:end] -= (row * take)[:, None]
        keys = self.replica_names.keys(pods)
        held = bins.pods
        if bins_count == 1:
            held[index].extend(keys[:take])
        else:
            for offset in range(bins_count):
                held[index + offset].extend(keys[offset * take : (offset + 1) * take])
        bins.add_class(index, end, klass.index)
        if shape.constraints.host_ports:
            bins.add_ports(index, end, shape.constraints.host_ports)
        pinned = int(bins.zone[index])
        if pinned == UNPINNED:
            if zone >= 0:
                bins.zone[at] = zone
                bins.zmask[at] = 1 << zone
                pinned = zone
            else:
                bins.zmask[at] &= klass.zone_ok(index)
            bins.version += 1
        rows, zone_keyed = bins.rows, self.registry.zone_keyed
        for sid in group.sids:
            if sid in rows:
                bins.counts[rows[sid], at] += take
            self.total[sid] += len(pods)
            if pinned >= 0 and sid in zone_keyed:
                per_zone = self.zone_counts.setdefault(sid, {})
                per_zone[pinned] = per_zone.get(pinned, 0) + len(pods)
                placed = self.placed_zone_counts.setdefault(sid, {})
                placed[pinned] = placed.get(pinned, 0) + len(pods)
        for constraint in shape.constraints.spread:
            if constraint.topology_key == HOSTNAME:
                bins.hold[bins.row(self.registry.ids[constraint.pods]), at] += take
        for term in shape.constraints.pod_anti_affinity:
            sid = self.registry.ids[term.pods]
            if term.topology_key == HOSTNAME:
                bins.sym[bins.row(sid), at] += take
            elif term.topology_key == ZONE and pinned >= 0:
                self.sym_zones.setdefault(sid, set()).add(pinned)


def _columns(room: Resources) -> tuple[int, int, int, int, int]:
    return (room.cpu, room.memory, room.gpu, room.pods, room.ephemeral)
