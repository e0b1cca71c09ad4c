"""Pod classes of the bin-pack: pods with the same node-level constraints (node affinity,
tolerations, devices, instance selection) may get the same offerings. A class knows which
bins its pods may join (the bin's offering is one of the class's, or an open node matches its
affinity and taints) and which offering a new bin of its own gets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from autoscaler.config import Config
from autoscaler.model import NodeAffinity, PodConstraints, Requirement, tolerates_all
from autoscaler.nodelabels import INSTANCE_TYPE, ZONE
from autoscaler.planner.fit import as_matrix
from autoscaler.planner.options import NodeOption
from autoscaler.regex import compile_user_regex
from autoscaler.resources import Resources

if TYPE_CHECKING:
    from autoscaler.planner.packer import Packer

_ALTERNATIVES = 4


def class_key(constraints: PodConstraints) -> PodConstraints:
    """The node-level part of a pod's constraints (what decides its offerings)."""
    if not (constraints.host_ports or constraints.inter_pod):
        return constraints
    return replace(constraints, host_ports=frozenset(), pod_affinity=(), pod_anti_affinity=(), spread=())


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


def _with_zone(affinity: NodeAffinity, zone: str) -> NodeAffinity:
    pin = Requirement(ZONE, "In", (zone,))
    if not affinity.terms:
        return NodeAffinity(((pin,),))
    return NodeAffinity(tuple(term + (pin,) for term in affinity.terms))


class PodClass:
    def __init__(
        self, index: int, key: PodConstraints, shaped: list[NodeOption], options: list[NodeOption], packer: Packer
    ) -> None:
        self.index, self.key, self.shaped, self.options, self.packer = index, key, shaped, options, packer
        self.allowed: dict[tuple[str, str], int] = {}
        for option in options:
            mask = 0
            for zone in option.zones:
                mask |= 1 << packer._zone(zone)
            self.allowed[(option.name, option.capacity_type)] = mask
        self._eligible = np.zeros(0, dtype=bool)
        self._seen = 0
        self._zone_ok = np.zeros(0, dtype=np.int64)
        self._options: dict[tuple, NodeOption | None] = {}
        self._matrix = as_matrix([o.allocatable for o in shaped]) if shaped else None
        self._zones: list[int] | None = None

    def zone_indices(self) -> list[int]:
        if self._zones is None:
            mask = 0
            for value in self.allowed.values():
                mask |= value
            self._zones = [z for z in range(len(self.packer.zone_names)) if mask & (1 << z)]
        return self._zones

    def zone_mask(self, option: NodeOption) -> int:
        return self.allowed.get((option.name, option.capacity_type), 0)

    def eligible(self, count: int) -> np.ndarray:
        """Which bins (of the first `count`) pods of this class may join, by offering or labels."""
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
                        self.key.affinity.matches(node.labels)
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
        return self._eligible[:count] & ((bins.zmask[:count] & self._zone_ok[:count]) != 0)

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
                pinned = replace(self.key, affinity=_with_zone(self.key.affinity, zone_name))
                chosen = self._cheapest(self.packer.pod_class(pinned).shaped, requests, zone_name)
                if chosen is not None and chosen.zones != (zone_name,):
                    chosen = replace(chosen, zones=(zone_name,))
        self._options[key] = chosen
        return chosen

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
    ) -> tuple[NodeOption, ...]:
        """The next cheapest shaped offerings that hold the same pods in the same zone and that
        every class on the bin may get."""
        if self._matrix is None:
            return ()
        fits = np.nonzero((self._matrix >= used).all(axis=1))[0]
        found = []
        for index in fits:
            option = self.shaped[int(index)]
            if option.name == chosen.name and option.capacity_type == chosen.capacity_type:
                continue
            if zone is not None:
                if zone not in option.zones:
                    continue
                option = replace(option, zones=(zone,))
            if any((option.name, option.capacity_type) not in other.allowed for other in others):
                continue
            found.append(option)
            if len(found) == _ALTERNATIVES:
                break
        return tuple(found)
