"""Vectorised fit arithmetic over many nodes or options at once (numpy, int64)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from autoscaler.resources import Resources

DIMENSIONS = 5  # cpu, memory, gpu, pods, ephemeral
_BIG = np.int64(1) << np.int64(62)


def as_row(resources: Resources) -> np.ndarray:
    return np.array(
        (resources.cpu, resources.memory, resources.gpu, resources.pods, resources.ephemeral), dtype=np.int64
    )


def as_matrix(rows: Sequence[Resources]) -> np.ndarray:
    matrix = np.zeros((len(rows), DIMENSIONS), dtype=np.int64)
    for index, item in enumerate(rows):
        matrix[index] = (item.cpu, item.memory, item.gpu, item.pods, item.ephemeral)
    return matrix


def copies_that_fit(columns: np.ndarray, request: Resources) -> np.ndarray:
    """For each node or option (a column of `columns`, one row per resource), how many copies of
    `request` fit (0 when none)."""
    counts = None
    for dim, want in enumerate((request.cpu, request.memory, request.gpu, request.pods, request.ephemeral)):
        if want > 0:
            have = columns[dim] // want
            counts = have if counts is None else np.minimum(counts, have, out=counts)
    if counts is None:
        return np.full(columns.shape[1], _BIG, dtype=np.int64)
    return counts


def copies_in(room: Resources, request: Resources) -> int:
    """How many copies of `request` one node's `room` holds (plain integers: for one node, numpy
    costs more than the arithmetic)."""
    copies = int(_BIG)
    for have, want in ((room.cpu, request.cpu), (room.memory, request.memory), (room.gpu, request.gpu),
                       (room.pods, request.pods), (room.ephemeral, request.ephemeral)):
        if want > 0:
            copies = min(copies, max(have // want, 0))
    return copies


def first_fitting(room: np.ndarray, request: np.ndarray) -> int:
    """Index of the first row of `room` that holds `request`, or -1."""
    if len(room) == 0:
        return -1
    fits = (room >= request).all(axis=1)
    index = int(fits.argmax())
    return index if fits[index] else -1
