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
    held, names, options, classes, zones = bins.pods, bins.names, bins.options, bins.classes, bins.zone.tolist()
    for index in range(bins.count):
        if not held[index]:
            continue
        name = names[index]
        if name is not None:
            result.placements.extend(Placement(pod, name) for pod in held[index])
            continue
        option = options[index]
        key = (classes[index], zones[index], option.name, option.capacity_type)
        found = new.get(key)
        if found is None:
            new[key] = [index]
        else:
            found.append(index)
    chosen_nodes: dict[int, NewNode] = {}
    for (on_bin, zone, _, _), indexes in new.items():
        option = options[indexes[0]]
        zone_name = packer.zone_names[zone] if zone >= 0 else None
        if zone_name is not None and option.zones != (zone_name,):
            option = replace(option, zones=(zone_name,))
        used = as_row(option.allocatable)[None, :] - bins.free[:, indexes].T
        members = [packer.class_list[i] for i in sorted(on_bin)]
        alternatives = members[0].alternatives(option, used, zone_name, members[1:])
        for index, others in zip(indexes, alternatives):
            chosen_nodes[index] = NewNode(option, BIN_PACK, tuple(held[index]), others)
    result.new_nodes.extend(chosen_nodes[index] for index in sorted(chosen_nodes))
    return result
