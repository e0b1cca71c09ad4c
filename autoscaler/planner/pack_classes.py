"""Pod classes of the bin-pack: pods with the same node-level constraints (node affinity,
tolerations, devices, instance selection) may get the same offerings. A class knows which
bins its pods may join (the bin's offering is one of the class's, or an open node matches its
affinity and taints) and which offering a new bin of its own gets.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING

import numpy as np

from autoscaler.config import Config
from autoscaler.model import PodConstraints, tolerates_all
from autoscaler.nodelabels import HOSTNAME, INSTANCE_TYPE, ZONE, node_labels
from autoscaler.planner.fit import as_matrix, growing_windows
from autoscaler.planner.options import NodeOption
from autoscaler.regex import compile_user_regex
from autoscaler.resources import Resources

if TYPE_CHECKING:
    from autoscaler.planner.packer import Packer

_ALTERNATIVES = 4


_INTER_POD = frozenset({"host_ports", "pod_affinity", "pod_anti_affinity", "spread"})
_NODE_LEVEL = tuple(f.name for f in fields(PodConstraints) if f.name not in _INTER_POD)
_KEYS: dict[tuple, PodConstraints] = {}
_SEEN: dict[int, tuple[PodConstraints, PodConstraints]] = {}  # by identity: no hashing of the rules


def node_level(constraints: PodConstraints) -> tuple:
    """What of a pod's constraints decides its offerings (all but the inter-pod rules)."""
    return tuple(getattr(constraints, name) for name in _NODE_LEVEL)


def class_key(constraints: PodConstraints) -> PodConstraints:
    """The node-level part of a pod's constraints (what decides its offerings), one object per
    distinct part (thousands of Deployments differing only in their spread selectors share it)."""
    if not (constraints.host_ports or constraints.inter_pod):
        return constraints
    seen = _SEEN.get(id(constraints))
    if seen is not None and seen[0] is constraints:
        return seen[1]
    level = node_level(constraints)
    found = _KEYS.get(level)
    if found is None:
        if len(_KEYS) > 4096:
            _KEYS.clear()
        found = _KEYS[level] = replace(constraints, host_ports=frozenset(), pod_affinity=(), pod_anti_affinity=(), spread=())
    if len(_SEEN) > 65536:
        _SEEN.clear()
    _SEEN[id(constraints)] = (constraints, found)
    return found


def meets_shape(option: NodeOption, config: Config, wants_gpu: bool) -> bool:
    itype = option.instance_type
    if itype.vcpu * 1000 < config.bin_packing_node_cpu or itype.memory_mib * 2**20 < config.bin_packing_node_memory:
        return False
    if wants_gpu and itype.gpu_count * option.gpu_time_slices < max(config.bin_packing_node_gpu, 1):
        if itype.gpu_count or not option.allocatable.gpu:
            return False
    if config.bin_packing_node_type_regexp and not compile_user_regex(config.bin_packing_node_type_regexp).search(
        itype.name
    ):
        return False
    return True


class _Priced:
    """A shaped offering with its price in one zone, made a NodeOption only when chosen."""

    __slots__ = ("option", "price", "zone")

    def __init__(self, option: NodeOption, price: float, zone: str) -> None:
        self.option, self.price, self.zone = option, price, zone

    @property
    def allocatable(self) -> Resources:
        return self.option.allocatable

    def option_in_zone(self) -> NodeOption:
        return replace(self.option, price=self.price, zones=(self.zone,))


class PodClass:
    def __init__(
        self, index: int, key: PodConstraints, shaped: list[NodeOption], options: list[NodeOption], packer: Packer
    ) -> None:
        self.index, self.key, self.shaped, self.options, self.packer = index, key, shaped, options, packer
        # What depends only on the option book (kept on it, so the next plan with the same book
        # reuses it): zone masks per offering (catalog zones are numbered first, in one order),
        # the allocatable matrix, the per-zone price lists, the offerings after each chosen one.
        statics = packer.book_statics.get(key)
        if statics is None:
            allowed: dict[tuple[str, str], int] = {}
            for option in options:
                mask = 0
                for zone in option.zones:
                    mask |= 1 << packer._zone(zone)
                allowed[(option.name, option.capacity_type)] = mask
            matrix = as_matrix([o.allocatable for o in shaped]) if shaped else None
            statics = packer.book_statics[key] = (allowed, matrix, {}, {})
        self.allowed, self._matrix, self._zone_lists, self._alt_positions = statics
        self._eligible = np.zeros(0, dtype=bool)
        self._seen = 0
        self._full_key: tuple[int, int] = (-1, -1)
        self._full = np.zeros(0, dtype=bool)
        self._all = False
        self._zone_ok = np.zeros(0, dtype=np.int64)
        self._options: dict[tuple, NodeOption | None] = {}
        self._zones: list[int] | None = None
        self._label_keys: frozenset[str] | None = None
        self._pinned: dict[tuple[int, str | None], NodeOption] = {}

    def label_keys(self) -> frozenset[str]:
        """The label keys a new node of this class carries (the hostname included)."""
        if self._label_keys is None:
            packer = self.packer
            keys = {HOSTNAME} | {key for key, _ in packer.config.node_labels}
            option = self.shaped[0] if self.shaped else (self.options[0] if self.options else None)
            if option is not None:
                catalog = packer.book.catalog
                keys |= set(node_labels(catalog.cloud, catalog.region, option.instance_type, option.capacity_type, "", "bin-pack"))
            else:
                keys |= {ZONE}
            self._label_keys = frozenset(keys)
        return self._label_keys

    def zone_indices(self) -> list[int]:
        if self._zones is None:
            mask = 0
            for value in self.allowed.values():
                mask |= value
            self._zones = [z for z in range(len(self.packer.zone_names)) if mask & (1 << z)]
        return self._zones

    def zone_mask(self, option: NodeOption) -> int:
        return self.allowed.get((option.name, option.capacity_type), 0)

    def eligible(self, count: int, lo: int = 0) -> np.ndarray:
        """Which bins (from `lo` to `count`) pods of this class may join, by offering or labels."""
        done = self._seen
        if done < count:
            bins = self.packer.bins
            if len(self._eligible) < count:
                grow = max(count - len(self._eligible), len(self._eligible), 64)
                self._eligible = np.concatenate([self._eligible, np.zeros(grow, dtype=bool)])
                self._zone_ok = np.concatenate([self._zone_ok, np.zeros(grow, dtype=np.int64)])
            block: dict[int, tuple[bool, int]] = {}
            for index in range(done, count):
                option = bins.options[index]
                if option is None:
                    node = self.packer.open_nodes[index]
                    self._eligible[index] = (
                        self.key.affinity.matches(node.labels, node.name)
                        and tolerates_all(self.key.tolerations, node.taints)
                        and self._carries_devices(node.labels.get(INSTANCE_TYPE, ""), node.allocatable)
                    )
                    self._zone_ok[index] = -1
                else:
                    known = block.get(id(option))
                    if known is None:
                        mask = self.allowed.get((option.name, option.capacity_type), 0)
                        known = block[id(option)] = (mask != 0, mask)
                    self._eligible[index], self._zone_ok[index] = known
            self._seen = count
        bins = self.packer.bins
        if self._full_key != (bins.version, count):
            self._full = self._eligible[:count] & ((bins.zmask[:count] & self._zone_ok[:count]) != 0)
            self._full_key = (bins.version, count)
            self._all = bool(self._full.all())
        return self._full[lo:]

    def all_eligible(self, count: int) -> bool:
        """Whether pods of this class may join every bin (then no mask is needed)."""
        self.eligible(count)
        return self._all

    def zone_ok(self, index: int) -> int:
        if index >= self._seen:
            self.eligible(self.packer.bins.count)
        return int(self._zone_ok[index])

    def _carries_devices(self, instance_type: str, allocatable: Resources) -> bool:
        if self.key.gpu_resource is None:
            return True
        return any(option.name == instance_type for option in self.options) or not instance_type

    def option_for(self, requests: Resources | None, zone: int) -> NodeOption | None:
        """The cheapest shaped offering (in `zone` when >= 0) that holds `requests` and, when it
        can, the largest pod of the class."""
        key = (requests, zone)
        if key in self._options:
            return self._options[key]
        zone_name = self.packer.zone_names[zone] if zone >= 0 else None
        chosen = self._cheapest(self.shaped, requests, None)
        if zone_name is not None and chosen is not None:
            if zone_name in chosen.zones:  # the cheapest anywhere, at its price in this zone too
                chosen = replace(chosen, zones=(zone_name,))
            else:
                chosen = self._cheapest(self._in_zone(zone_name), requests, None)
                if chosen is not None:
                    chosen = chosen.option_in_zone()
        self._options[key] = chosen
        return chosen

    def _in_zone(self, zone: str) -> list[NodeOption]:
        """The shaped offerings at their price in `zone`, cheapest first (built once per zone)."""
        found = self._zone_lists.get(zone)
        if found is None:
            book = self.packer.book
            priced = []
            for option in self.shaped:
                price = book.zone_price(option, zone)
                if price is not None:
                    priced.append((price, option.order_key[1:], option))
            priced.sort(key=lambda item: (item[0], item[1]))
            found = self._zone_lists[zone] = [_Priced(option, price, zone) for price, _, option in priced]
        return found

    def _cheapest(self, shaped: list[NodeOption], requests: Resources | None, zone_name: str | None) -> NodeOption | None:
        chosen = None
        largest = self.packer.largest.get(self.key)
        for option in shaped:
            if zone_name is not None and zone_name not in option.zones:
                continue
            if requests is not None and not requests.fits_in(option.allocatable):
                continue
            if chosen is None:
                chosen = option
            if largest is None or largest.fits_in(option.allocatable):
                return option
        return chosen

    def alternatives(
        self, chosen: NodeOption, used: np.ndarray, zone: str | None, others: list[PodClass]
    ) -> list[tuple[NodeOption, ...]]:
        """For each row of `used` (the room a bin's pods take), the next cheapest shaped offerings
        after `chosen` that hold the same pods in the same zone and every class on the bin may get."""
        if self._matrix is None:
            return [()] * len(used)
        cache_key = (chosen.name, chosen.capacity_type, zone, tuple(other.key for other in others))
        known = self._alt_positions.get(cache_key)
        if known is None:
            after = next(
                (i + 1 for i, o in enumerate(self.shaped) if o.name == chosen.name and o.capacity_type == chosen.capacity_type),
                0,
            )
            positions = [
                position
                for position in range(after, len(self.shaped))
                if (zone is None or zone in self.shaped[position].zones)
                and all((self.shaped[position].name, self.shaped[position].capacity_type) in other.allowed for other in others)
            ]
            known = self._alt_positions[cache_key] = (positions, self._matrix[positions] if positions else None)
        positions, rooms = known
        if not positions:
            return [()] * len(used)
        pinned = self._pinned

        def option_at(at: int) -> NodeOption:
            found = pinned.get((positions[at], zone))
            if found is None:
                found = self.shaped[positions[at]]
                if zone is not None and found.zones != (zone,):
                    found = replace(found, zones=(zone,))
                pinned[(positions[at], zone)] = found
            return found

        # The first few offerings after `chosen` that hold a bin are usually near it.
        picked: list[list[int]] = [[] for _ in range(len(used))]
        waiting = np.arange(len(used))
        for start, end in growing_windows(0, len(positions)):
            if not len(waiting):
                break
            fits = (rooms[start:end][None, :, :] >= used[waiting][:, None, :]).all(axis=2)
            for row, fitting in zip(waiting.tolist(), fits):
                have = picked[row]
                if len(have) < _ALTERNATIVES:
                    have.extend(start + int(at) for at in np.flatnonzero(fitting)[: _ALTERNATIVES - len(have)])
            waiting = np.array([row for row in waiting.tolist() if len(picked[row]) < _ALTERNATIVES], dtype=np.int64)
        seen: dict[tuple[int, ...], tuple[NodeOption, ...]] = {}
        result = []
        for ats in picked:
            key = tuple(ats)
            found = seen.get(key)
            if found is None:
                found = seen[key] = tuple(option_at(at) for at in ats)
            result.append(found)
        return result
