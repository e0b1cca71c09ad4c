"""The bins of the bin-pack: open nodes and new nodes, one numpy column each.

Per bin: free room per resource, the zone it is pinned to (or the zones it may still take),
how many of its pods match each selector a hostname term counts, and how many carry a
hostname anti-affinity term of each selector (for symmetric anti-affinity). Selectors only
zone terms count have no row (they are counted per zone): 6,000 Deployments spreading over
zones must not cost 6,000 rows per bin. Host ports are kept per bin in Python sets: only
pods that ask for ports look at them.
"""

from __future__ import annotations

import numpy as np

from autoscaler.model import HostPort
from autoscaler.planner.fit import DIMENSIONS
from autoscaler.planner.options import NodeOption

UNPINNED = -1
_NO_CLASSES: frozenset[int] = frozenset()


class Bins:
    def __init__(self, capacity: int, host_selectors: list[int]) -> None:
        capacity = max(capacity, 8)
        # selector -> its row; every other selector reads the last row, which stays zero
        self.rows = {sid: row for row, sid in enumerate(host_selectors)}
        self.no_row = len(host_selectors)
        selectors = len(host_selectors) + 1
        self.free = np.zeros((DIMENSIONS, capacity), dtype=np.int64)
        self.zone = np.full(capacity, UNPINNED, dtype=np.int64)
        self.zmask = np.zeros(capacity, dtype=np.int64)
        self.selectors = selectors
        self.counts = np.zeros((selectors, capacity), dtype=np.int64)
        self.sym = np.zeros((selectors, capacity), dtype=np.int64)
        self.hold = np.zeros((selectors, capacity), dtype=np.int64)  # pods with a hostname spread on s
        self.count = 0
        self.version = 0  # bumped whenever a bin is added or its zones change
        self.names: list[str | None] = []  # None for a new node
        self.options: list[NodeOption | None] = []
        self.pods: list[list[str]] = []
        # Host ports taken and pod classes (for alternatives) per bin, as frozensets replaced
        # when they grow: a block of bins opened together shares one until they differ.
        self.ports: list[frozenset[HostPort]] = []
        self.classes: list[frozenset[int]] = []

    def row(self, sid: int) -> int:
        """The row of a selector in counts, sym and hold (the zero row when no hostname term
        counts it: read it, never write it)."""
        return self.rows.get(sid, self.no_row)

    def _grow(self, at_least: int) -> None:
        more = max(self.free.shape[1], at_least)
        self.free = np.concatenate([self.free, np.zeros((DIMENSIONS, more), dtype=np.int64)], axis=1)
        self.zone = np.concatenate([self.zone, np.full(more, UNPINNED, dtype=np.int64)])
        self.zmask = np.concatenate([self.zmask, np.zeros(more, dtype=np.int64)])
        rows = self.counts.shape[0]
        self.counts = np.concatenate([self.counts, np.zeros((rows, more), dtype=np.int64)], axis=1)
        self.sym = np.concatenate([self.sym, np.zeros((rows, more), dtype=np.int64)], axis=1)
        self.hold = np.concatenate([self.hold, np.zeros((rows, more), dtype=np.int64)], axis=1)

    def add_block(
        self, room: np.ndarray, count: int, option: NodeOption, zone: int, zmask: int, ports: frozenset
    ) -> int:
        """`count` new, empty bins of one option; the index of the first."""
        return self._append(room[:, None], count, zone, zmask, [None] * count, [option] * count, [ports] * count)

    def add_open(self, rooms: np.ndarray, names: list[str], zones: list[int], ports: list[frozenset]) -> int:
        """Bins for nodes that exist (one column of `rooms` each, pinned to their zones); the
        index of the first."""
        zone = np.array(zones, dtype=np.int64)
        return self._append(rooms, len(names), zone, np.left_shift(1, zone), names, [None] * len(names), ports)

    def _append(self, rooms, count: int, zone, zmask, names: list, options: list, ports: list) -> int:
        if self.count + count > self.free.shape[1]:
            self._grow(self.count + count - self.free.shape[1])
        first, end = self.count, self.count + count
        if count:
            self.free[:, first:end] = rooms
            self.zone[first:end] = zone
            self.zmask[first:end] = zmask
            self.version += 1
        self.names.extend(names)
        self.options.extend(options)
        self.pods.extend([[] for _ in range(count)])
        self.ports.extend(ports)
        self.classes.extend([_NO_CLASSES] * count)
        self.count = end
        return first

    def add_class(self, start: int, end: int, klass: int) -> None:
        """Pods of class `klass` are on bins `start` to `end` (exclusive)."""
        made: dict[int, frozenset[int]] = {}
        classes = self.classes
        for index in range(start, end):
            have = classes[index]
            if klass not in have:
                grown = made.get(id(have))
                if grown is None:
                    grown = made[id(have)] = have | {klass}
                classes[index] = grown

    def add_ports(self, start: int, end: int, ports: frozenset[HostPort]) -> None:
        for index in range(start, end):
            self.ports[index] = self.ports[index] | ports

