"""Bin-select: each pod set gets the cheapest node that fits (SPEC §2, §4).

Pods of one set (same owner, same requests and constraints) may share a node when the
cheapest node for one of them has room for more. Then every fitting option is priced as
"full nodes of that option plus one node for the remainder" and the cheapest plan wins;
on a tie, the smaller node. When the cheapest node holds only one pod, the set gets one
node per pod even if a bigger node could hold several for less — the pod asked for a node
of its own, and that is what the published Luna results show (4 × g6.8xlarge, not one
g6.24xlarge, for four 1-GPU workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autoscaler.model import BIN_SELECT, Pod, PodShape
from autoscaler.planner.fit import as_matrix, as_row, copies_that_fit
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.types import NewNode, Placement
from autoscaler.resources import Resources
from pricing.types import ON_DEMAND

_EPSILON = 1e-9


@dataclass
class PodSet:
    shape: PodShape
    pods: list[Pod]


@dataclass
class ReusableNode:
    """An idle bin-select node, or one on its way, that may take pods instead of a new node."""

    name: str
    instance_type: str
    capacity_type: str
    zone: str
    free: Resources
    reserved_for: frozenset[str] = frozenset()
    taken: list[str] = field(default_factory=list)


@dataclass
class BinSelectResult:
    new_nodes: list[NewNode] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    no_option: list[PodSet] = field(default_factory=list)


def undominated(options: list[NodeOption]) -> list[NodeOption]:
    """Drop every option that an earlier one (cheaper, or as cheap and smaller) beats on every resource.

    Such an option can never be the cheapest fit, nor hold more pods for less, so the
    per-pod search runs over a few dozen options instead of every type in the region.
    """
    if not options:
        return []
    matrix = as_matrix([option.allocatable for option in options])
    kept: list[int] = []
    for index in range(len(options)):
        if kept and (matrix[kept] >= matrix[index]).all(axis=1).any():
            continue
        kept.append(index)
    return [options[index] for index in kept]


class _OptionMatrix:
    """The undominated options of an ordered option list, as one matrix, built once per list."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[list[NodeOption], list[NodeOption], np.ndarray, np.ndarray]] = {}

    def get(self, options: list[NodeOption]) -> tuple[list[NodeOption], np.ndarray, np.ndarray]:
        entry = self._cache.get(id(options))
        if entry is None or entry[0] is not options:
            useful = undominated(options)
            matrix = as_matrix([option.allocatable for option in useful])
            prices = np.array([option.price for option in useful], dtype=np.float64)
            entry = self._cache[id(options)] = (options, useful, matrix, prices)
        return entry[1], entry[2], entry[3]


def _per_node_limit(shape: PodShape) -> int | None:
    constraints = shape.constraints
    if constraints.one_per_node or constraints.host_ports:
        return 1
    return None


def _choose_layout(
    options: list[NodeOption], fits: np.ndarray, prices: np.ndarray, count: int
) -> list[tuple[NodeOption, int]]:
    """[(option, pods on each such node)] for `count` pods, cheapest in total."""
    fitting = np.nonzero(fits > 0)[0]
    first = int(fitting[0])
    per_first = int(min(fits[first], count))
    if count == 1 or per_first == 1:
        return [(options[first], 1)] * count
    capped = np.minimum(fits[fitting], count)
    # cheapest single node able to hold r pods, for every r < count
    remainder_price = {}
    remainder_option = {}
    for r in range(1, int(capped.max()) + 1):
        holders = fitting[capped >= r]
        if len(holders):
            index = int(holders[0])  # options are ordered by price, then size
            remainder_price[r] = float(prices[index])
            remainder_option[r] = index
    best: tuple[float, tuple, int, int] | None = None
    for position, index in enumerate(fitting):
        per_node = int(capped[position])
        full, rest = divmod(count, per_node)
        total = full * float(prices[index]) + (remainder_price[rest] if rest else 0.0)
        candidate = (total, options[index].size_key, int(index), per_node)
        if best is None or total < best[0] - _EPSILON or (abs(total - best[0]) <= _EPSILON and candidate[1] < best[1]):
            best = candidate
    assert best is not None
    _, _, index, per_node = best
    full, rest = divmod(count, per_node)
    layout = [(options[index], per_node)] * full
    if rest:
        layout.append((options[remainder_option[rest]], rest))
    return layout


def _in_zones(zone: str, zones: set[str]) -> bool:
    """An option priced for a whole region (a catalog without zones) covers the region's zones."""
    return zone in zones or any(zone.startswith(f"{region}-") for region in zones)


def _reuse(pod_set: PodSet, options: list[NodeOption], reusable: list[ReusableNode]) -> tuple[list[Placement], list[Pod]]:
    """Put pods on idle or in-flight bin-select nodes whose type satisfies them."""
    if not reusable:
        return [], pod_set.pods
    acceptable = {(option.name, option.capacity_type): set(option.zones) for option in options}
    placements = []
    remaining = []
    keys = {pod.key for pod in pod_set.pods}
    # nodes launched for these very pods first
    ordered = sorted(reusable, key=lambda node: (not (node.reserved_for & keys), node.name))
    limit = _per_node_limit(pod_set.shape)
    request = pod_set.shape.requests
    for pod in pod_set.pods:
        placed = False
        for node in ordered:
            zones = acceptable.get((node.instance_type, node.capacity_type))
            if zones is None or (node.zone and not _in_zones(node.zone, zones)):
                continue
            if node.reserved_for and pod.key not in node.reserved_for and not (node.reserved_for & keys):
                continue
            if limit is not None and len(node.taken) >= limit:
                continue
            if request.fits_in(node.free):
                node.free = node.free - request
                node.taken.append(pod.key)
                placements.append(Placement(pod.key, node.name))
                placed = True
                break
        if not placed:
            remaining.append(pod)
    return placements, remaining


def select_nodes(
    pod_sets: list[PodSet],
    book: OptionBook,
    reusable: list[ReusableNode],
    matrices: _OptionMatrix | None = None,
) -> BinSelectResult:
    result = BinSelectResult()
    matrices = matrices or _OptionMatrix()
    for pod_set in pod_sets:
        all_options, _ = book.candidates(pod_set.shape.constraints, BIN_SELECT, (ON_DEMAND,))
        placements, pods = _reuse(pod_set, all_options, reusable)
        result.placements.extend(placements)
        if not pods:
            continue
        options, matrix, prices = matrices.get(all_options)
        fits = copies_that_fit(matrix, as_row(pod_set.shape.requests))
        limit = _per_node_limit(pod_set.shape)
        if limit is not None:
            fits = np.minimum(fits, limit)
        if not (fits > 0).any():
            result.no_option.append(PodSet(pod_set.shape, pods))
            continue
        start = 0
        for option, per_node in _choose_layout(options, fits, prices, len(pods)):
            keys = tuple(pod.key for pod in pods[start : start + per_node])
            result.new_nodes.append(NewNode(option, BIN_SELECT, keys))
            start += per_node
    return result
