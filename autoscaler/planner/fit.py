"""Vectorised fit arithmetic over many nodes or options at once (numpy, int64)."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from autoscaler.resources import Resources

DIMENSIONS = 5  # cpu, memory, gpu, pods, ephemeral
_BIG = np.int64(1) << np.int64(62)


def amounts(resources: Resources) -> tuple[int, int, int, int, int]:
    """The amounts of `resources` in the order of the rows and columns here."""
    return (resources.cpu, resources.memory, resources.gpu, resources.pods, resources.ephemeral)


def as_row(resources: Resources) -> np.ndarray:
    return np.array(amounts(resources), dtype=np.int64)


def as_matrix(rows: Sequence[Resources]) -> np.ndarray:
    matrix = np.zeros((len(rows), DIMENSIONS), dtype=np.int64)
    for index, item in enumerate(rows):
        matrix[index] = amounts(item)
    return matrix


def copies_that_fit(columns: np.ndarray, request: Sequence[int], one: bool = False) -> np.ndarray:
    """For each node, bin or option (a column of `columns`, one row per resource), how many copies
    of `request` (its amount per resource) fit; with `one`, whether one fits, as booleans. Only
    the resources the request asks for are compared."""
    result = None
    for dim, want in enumerate(request):
        if want > 0:
            column = columns[dim] >= want if one else columns[dim] // want
            if result is None:
                result = column
            elif one:
                result &= column
            else:
                np.minimum(result, column, out=result)
    if result is None:
        return np.ones(columns.shape[1], dtype=bool) if one else np.full(columns.shape[1], _BIG, dtype=np.int64)
    return result


def growing_windows(start: int, end: int, first: int = 32, growth: int = 4) -> Iterator[tuple[int, int]]:
    """(start, stop) of windows covering `start` to `end`, each `growth` times the one before: a
    search for the first few matches, which are usually near the start, compares one small
    window instead of the whole range."""
    size = first
    while start < end:
        stop = min(end, start + size)
        yield start, stop
        start, size = stop, size * growth


def copies_in(room: Resources, request: Resources) -> int:
    """How many copies of `request` one node's `room` holds (plain integers: for one node, numpy
    costs more than the arithmetic)."""
    return min((max(have // want, 0) for have, want in zip(amounts(room), amounts(request)) if want > 0),
               default=int(_BIG))


def first_fitting(room: np.ndarray, request: np.ndarray) -> int:
    """Index of the first row of `room` that holds `request`, or -1."""
    if len(room) == 0:
        return -1
    fits = (room >= request).all(axis=1)
    index = int(fits.argmax())
    return index if fits[index] else -1
