"""Bin-pack: small pods share nodes of one configured shape (SPEC §2).

The node type is the cheapest that has at least the configured shape (listed vCPUs, memory
and GPUs, a GPU counting `nvidiaGPUTimeSlices` times) and that holds each pod. Pods first
fill room on existing and in-flight bin-pack nodes, then go first-fit decreasing, over
every resource, into as few new nodes as possible. Identical pods are placed as a block:
how many fit in each node is one division, so 50,000 identical pods cost what one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, Pod, PodConstraints, PodShape, tolerates_all
from autoscaler.planner.fit import DIMENSIONS, as_row, copies_that_fit
from autoscaler.planner.flexsize import sized_for
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.types import NewNode, Placement
from autoscaler.regex import compile_user_regex
from autoscaler.resources import Resources


@dataclass
class OpenNode:
    """An existing or in-flight bin-pack node with room, as the packer sees it."""

    name: str
    free: Resources
    labels: dict[str, str]
    taints: tuple
    host_ports: frozenset = frozenset()


@dataclass
class BinPackResult:
    new_nodes: list[NewNode] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    no_option: list[tuple[PodShape, list[Pod]]] = field(default_factory=list)


def _meets_shape(option: NodeOption, config: Config, wants_gpu: bool) -> bool:
    itype = option.instance_type
    if itype.vcpu * 1000 < config.bin_packing_node_cpu or itype.memory_mib * 2**20 < config.bin_packing_node_memory:
        return False
    if wants_gpu and itype.gpu_count * option.gpu_time_slices < max(config.bin_packing_node_gpu, 1):
        return False
    if config.bin_packing_node_type_regexp and not compile_user_regex(config.bin_packing_node_type_regexp).search(
        itype.name
    ):
        return False
    return True


def _decreasing(shapes: list[PodShape], reference: Resources) -> list[PodShape]:
    """Largest first, by the largest share of the node any resource takes."""

    def share(shape: PodShape) -> tuple[float, int, int]:
        r = shape.requests
        shares = [r.cpu / max(reference.cpu, 1), r.memory / max(reference.memory, 1)]
        if reference.gpu:
            shares.append(r.gpu / reference.gpu)
        return (max(shares), r.cpu, r.memory)

    return sorted(shapes, key=share, reverse=True)


class _Bins:
    """Free room of every node the packer may use, existing ones first, one array per resource."""

    def __init__(self, capacity: int) -> None:
        self.free = np.zeros((DIMENSIONS, max(capacity, 4)), dtype=np.int64)
        self.count = 0
        self.names: list[str | None] = []  # None for a new node
        self.pods: list[list[str]] = []

    def add(self, room: np.ndarray, name: str | None) -> int:
        if self.count == self.free.shape[1]:
            self.free = np.concatenate([self.free, np.zeros_like(self.free)], axis=1)
        self.free[:, self.count] = room
        self.names.append(name)
        self.pods.append([])
        self.count += 1
        return self.count - 1

    def first_fit(self, request: np.ndarray, start: int) -> int:
        """Index of the first bin from `start` with room for one `request`, or -1."""
        end = self.count
        if start >= end:
            return -1
        fits = None
        for dim in range(DIMENSIONS):
            need = request[dim]
            if need <= 0:
                continue
            column = self.free[dim, start:end] >= need
            fits = column if fits is None else (fits & column)
        if fits is None:
            return start
        first = int(fits.argmax())
        return start + first if fits[first] else -1

    def copies(self, request: np.ndarray, start: int) -> np.ndarray:
        return copies_that_fit(self.free[:, start : self.count].T, request)


def _pack_class(
    shapes: list[PodShape],
    pods_by_shape: dict[PodShape, list[Pod]],
    option: NodeOption,
    open_nodes: list[OpenNode],
    result: BinPackResult,
) -> None:
    total = sum(len(pods_by_shape[shape]) for shape in shapes)
    bins = _Bins(len(open_nodes) + min(total, 4096))
    for node in open_nodes:
        bins.add(as_row(node.free), node.name)
    existing = bins.count
    empty = as_row(option.allocatable)
    one_each = any(shape.constraints.host_ports or shape.constraints.one_per_node for shape in shapes)
    ordered = _decreasing(shapes, option.allocatable)
    smallest = np.full(DIMENSIONS, np.iinfo(np.int64).max, dtype=np.int64)
    for shape in ordered:
        smallest = np.minimum(smallest, as_row(shape.requests))
    # Bins before `skip` cannot take even the smallest pod of the class: no need to look there.
    skip = 0
    for shape in ordered:
        pods = pods_by_shape[shape]
        request = as_row(shape.requests)
        start = 0
        if bins.count > skip and not shape.constraints.one_per_node:
            if len(pods) == 1 and not one_each:
                index = bins.first_fit(request, skip)
                if index >= 0:
                    bins.free[:, index] -= request
                    bins.pods[index].append(pods[0].key)
                    while skip < bins.count and (bins.free[:, skip] < smallest).any():
                        skip += 1
                    continue
            else:
                counts = bins.copies(request, skip)
                if one_each:
                    counts = np.minimum(counts, 1)
                    for at in range(len(counts)):
                        index = skip + at
                        ports = open_nodes[index].host_ports if index < existing else frozenset()
                        if (index >= existing and bins.pods[index]) or (ports & shape.constraints.host_ports):
                            counts[at] = 0
                for at in np.nonzero(counts)[0]:
                    index = skip + int(at)
                    take = int(min(counts[at], len(pods) - start))
                    bins.free[:, index] -= request * take
                    bins.pods[index].extend(pod.key for pod in pods[start : start + take])
                    start += take
                    if start == len(pods):
                        break
        if start < len(pods):
            per_node = int(copies_that_fit(empty[None, :], request)[0])
            if one_each:
                per_node = min(per_node, 1)
            while start < len(pods):
                take = min(per_node, len(pods) - start)
                index = bins.add(empty - request * take, None)
                bins.pods[index].extend(pod.key for pod in pods[start : start + take])
                start += take
    for index in range(bins.count):
        if not bins.pods[index]:
            continue
        name = bins.names[index]
        if name is None:
            result.new_nodes.append(NewNode(option, BIN_PACK, tuple(bins.pods[index])))
        else:
            result.placements.extend(Placement(pod, name) for pod in bins.pods[index])
    for index, node in enumerate(open_nodes):
        node.free = Resources(*(int(v) for v in bins.free[:, index]))


def _compatible(nodes: list[OpenNode], constraints: PodConstraints) -> list[OpenNode]:
    return [
        node
        for node in nodes
        if constraints.affinity.matches(node.labels) and tolerates_all(constraints.tolerations, node.taints)
    ]


def pack_nodes(
    pods_by_shape: dict[PodShape, list[Pod]],
    book: OptionBook,
    config: Config,
    open_nodes: list[OpenNode],
) -> BinPackResult:
    result = BinPackResult()
    classes: dict[PodConstraints, list[PodShape]] = {}
    for shape in pods_by_shape:
        classes.setdefault(shape.constraints, []).append(shape)
    for constraints, shapes in classes.items():
        options, _ = book.candidates(constraints, BIN_PACK, config.bin_packing_node_pricing)
        wants_gpu = constraints.gpu_resource is not None
        compatible = _compatible(open_nodes, constraints)
        remaining = list(shapes)
        while remaining:
            largest = Resources(
                max(s.requests.cpu for s in remaining),
                max(s.requests.memory for s in remaining),
                max(s.requests.gpu for s in remaining),
                1,
                max(s.requests.ephemeral for s in remaining),
            )
            fitted = sized_for(book, options, largest, config.bin_packing_node_cpu, config.bin_packing_node_memory)
            shaped = [option for option in fitted if _meets_shape(option, config, wants_gpu)]
            option = next((o for o in shaped if largest.fits_in(o.allocatable)), None)
            if option is not None:
                _pack_class(remaining, pods_by_shape, option, compatible, result)
                break
            # No one type holds every pod: serve the pods the cheapest shaped type holds,
            # then look again for the rest.
            biggest = max(remaining, key=lambda s: (s.requests.cpu, s.requests.memory))
            option = next((o for o in shaped if biggest.requests.fits_in(o.allocatable)), None)
            if option is None:
                result.no_option.append((biggest, pods_by_shape[biggest]))
                remaining.remove(biggest)
                continue
            served = [s for s in remaining if s.requests.fits_in(option.allocatable)]
            _pack_class(served, pods_by_shape, option, compatible, result)
            remaining = [s for s in remaining if s not in served]
    return result
