"""Bounded YAML: a document whose aliases expand far beyond what is written (a "billion laughs"
alias bomb, 1 KB that stands for gigabytes), or that refers to itself, or that nests deeper
than any Kubernetes object does, is refused before anything walks, copies or hashes it.

PyYAML builds an alias as a second reference to the same Python object, so loading stays
cheap; the cost comes later, when a template is copied per replica or serialised. The
expanded size is counted here over the shared graph (each node once), so checking a bomb
takes time in proportion to what was written, not to what it stands for.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

# Values that aliases may add beyond what the document writes out (a Kubernetes object is at
# most ~1.5 MB in etcd, some 100,000 values; honest reuse of a block adds a few hundred).
MAX_ALIAS_EXPANSION = 100_000
MAX_DEPTH = 200  # Kubernetes objects nest a few dozen levels; Python's own limit is ~1000


def expansion_problem(document: Any, *, may_share: bool = True) -> str | None:
    """Why this loaded document is refused (alias bomb, self-reference, nesting), or None.

    `may_share=False` says the document is a tree (JSON, or YAML text without a `*` alias):
    no value can stand for more than what is written or contain itself, so only its depth
    is checked, without the bookkeeping per node."""
    if not isinstance(document, (dict, list)):
        return None
    if not may_share:
        return _DEEP if _deeper_than(document, MAX_DEPTH) else None
    sizes: dict[int, int] = {}  # id of a mapping or list -> values it stands for, expanded
    on_path: set[int] = set()
    written = 0  # values as written: each mapping or list once, with its scalars
    stack: list[tuple[Any, int, bool]] = [(document, 1, False)]  # (node, depth, children done?)
    while stack:
        node, depth, done = stack.pop()
        ident = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if not done:
            if ident in sizes:
                continue
            if ident in on_path:
                return _RECURSIVE
            if depth > MAX_DEPTH:
                return _DEEP
            on_path.add(ident)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children if isinstance(child, (dict, list)))
            continue
        on_path.discard(ident)
        total, scalars = 1, 0
        for child in children:
            if isinstance(child, (dict, list)):
                total += sizes[id(child)]
            else:
                scalars += 1
        sizes[ident] = total + scalars
        written += 1 + scalars
        if sizes[ident] - written > MAX_ALIAS_EXPANSION:
            return (f"YAML aliases expand this document to more than {written + MAX_ALIAS_EXPANSION:,} values "
                    f"({written:,} written so far); refused as an alias bomb")
    return None


# Levels within which `json_tree` proves a document shallow while json.loads reads it.
_SHALLOW = 150
_PROBE = "[" * (_SHALLOW + 50) + "]" * (_SHALLOW + 50)
_json_stops_deep: bool | None = None  # whether this interpreter's json.loads honours the limit


def json_tree(text: str) -> tuple[Any, bool]:
    """(json.loads(text), whether it is known to nest at most MAX_DEPTH levels).

    Walking 20,000 Pods to measure their depth costs more than reading them. CPython 3.11's
    JSON decoder counts each level it enters against the interpreter's recursion limit, so
    reading with the limit set `_SHALLOW` levels above the current depth either succeeds (the
    document is shallower than that) or stops with RecursionError (then it is read again and
    walked). Interpreters whose decoder keeps its own count (3.12 and later) are found by a
    probe once and always walked, and so is every document read while other threads run (the
    limit is the interpreter's: they would meet it too)."""
    global _json_stops_deep
    if threading.active_count() > 1:
        return json.loads(text), False
    if _json_stops_deep is None:
        _json_stops_deep = _read_shallow(_PROBE) is None
    if _json_stops_deep:
        document = _read_shallow(text)
        if document is not None:
            return document[0], True
    return json.loads(text), False


def _read_shallow(text: str) -> tuple[Any] | None:
    """(the document,) when json.loads reads it within _SHALLOW more levels, else None."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    try:
        # The interpreter's depth is at least the Python frames counted, so the decoder gets at
        # most _SHALLOW levels, fewer when C calls below count too.
        sys.setrecursionlimit(min(limit, depth + _SHALLOW))
    except RecursionError:
        return None
    try:
        return (json.loads(text),)
    except RecursionError:
        return None
    finally:
        sys.setrecursionlimit(limit)


def _deeper_than(node: dict | list, levels: int) -> bool:
    """True when a tree of mappings and lists nests more than `levels` deep (node = level 1).
    Walked one level at a time, the children's types compared directly (JSON and YAML give
    plain dicts and lists): a 6 MB list of 20,000 Pods is 400,000 of them."""
    level = [node]
    while level:
        if levels < 1:
            return True
        levels -= 1
        below: list = []
        for parent in level:
            for child in parent.values() if type(parent) is dict else parent:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
        level = below
    return False


_DEEP = f"nested more than {MAX_DEPTH} levels deep; refused"
_RECURSIVE = "a YAML alias refers to a value that contains it (a recursive document); refused"

__all__ = ["MAX_ALIAS_EXPANSION", "MAX_DEPTH", "expansion_problem", "json_tree"]
