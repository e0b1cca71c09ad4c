"""What the bin-pack's bins come to: new nodes with their alternatives, placements on open nodes."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from autoscaler.model import BIN_PACK
from autoscaler.planner.fit import as_row
from autoscaler.planner.types import NewNode, Placement

if TYPE_CHECKING:
    from autoscaler.planner.packer import BinPackResult, Packer


def finish(packer: Packer) -> BinPackResult:
    """The new nodes (with alternatives) and the placements on open nodes the bins hold."""
    bins, result = packer.bins, packer.result
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
        zone_name = packer.zone_names[zone] if zone >= 0 else None
        if zone_name is not None and option.zones != (zone_name,):
            option = replace(option, zones=(zone_name,))
        used = as_row(option.allocatable)[None, :] - bins.free[:, indexes].T
        members = [packer.class_list[i] for i in classes]
        alternatives = members[0].alternatives(option, used, zone_name, members[1:])
        for at, index in enumerate(indexes):
            chosen_nodes[index] = NewNode(option, BIN_PACK, tuple(bins.pods[index]), alternatives[at])
    result.new_nodes.extend(chosen_nodes[index] for index in sorted(chosen_nodes))
    return result
