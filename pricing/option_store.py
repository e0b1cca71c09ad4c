"""An option book's candidate lists kept on disk, beside the compiled catalog they come from.

The first plan of a process filters the whole catalog (2,600 offer groups in us-east-1) for
each class of pod: about ten milliseconds a class, most of a cold `preview` or a restarted
daemon's first plan. A candidate list is a pure function of the catalog, the configuration,
the DaemonSets and the class's constraints, so it is written once per such inputs, as plain
values (`marshal`: offer group positions and the figures worked out for them), and read back
by later processes. Keys are canonical texts of those inputs; a file is named by a digest of
the compiled catalog's name, the configuration and the DaemonSets. Plans with back-offs (a
daemon after a failed launch) do not use it: back-offs change by the minute.

Every stored option is checked against the catalog it is rebuilt on (the offer group at that
position must still be that type and capacity type); anything unreadable is ignored and the
list built again. A cache directory that cannot be written only means each process filters.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

from autoscaler.resources import Resources
from pricing.compiled import compiled_file, keep_newest, write_atomically
from pricing.types import RegionCatalog

log = logging.getLogger("smart_autoscaler.pricing")

FORMAT = 1  # bump when an entry's layout below changes
MAX_OPTIONS = 20_000  # options kept per file (about 3 MB); classes past it are filtered every time
MAX_FILES = 8  # files kept in the folder, the most recently written: configurations change


class NotCanonical(TypeError):
    """A value with no stable text across processes (a set of unknown objects, say)."""


def canonical(value: Any) -> str:
    """A text of `value` equal in every process exactly when the values are equal: dataclasses by
    their compared fields, sets sorted (their iteration order follows the per-process string
    hash), dicts by sorted items."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(canonical(item) for item in value) + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(canonical(item) for item in value)) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{canonical(k)}:{canonical(v)}" for k, v in value.items())) + "}"
    if is_dataclass(value) and not isinstance(value, type):
        parts = (f"{f.name}={canonical(getattr(value, f.name))}" for f in fields(value) if f.compare)
        return f"{type(value).__name__}(" + ",".join(parts) + ")"
    raise NotCanonical(f"no canonical text for {type(value).__name__}")


class CandidateStore:
    """The stored candidate lists of one option book, read from disk when made: looked up when
    the book misses, added to when it builds one (in memory: the planner does no file access),
    written by `flush`, which the caller of `plan` runs after it."""

    def __init__(self, path: Path, catalog: RegionCatalog) -> None:
        self.path = path
        self._groups = catalog.groups
        self._entries: dict[str, tuple] = self._read(path)
        self._dirty = False
        self._position: dict[tuple[str, str], int] | None = None  # (type, capacity) -> group index

    @staticmethod
    def _read(path: Path) -> dict[str, tuple]:
        try:
            data = marshal.loads(path.read_bytes())
            if isinstance(data, tuple) and len(data) == 2 and data[0] == FORMAT and isinstance(data[1], dict):
                return data[1]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, EOFError, TypeError) as err:
            log.debug("stored option lists %s unreadable (%s): building them again", path, err)
        return {}

    def get(self, key: str, make_option: Any) -> tuple[list, tuple] | None:
        """(options, rejection counts) stored for `key`, with `make_option(group, price, zones,
        allocatable, estimated, note, slices, host_ports)` rebuilding each; None when absent
        or not of this catalog."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            stored, rejections = entry
            groups = self._groups
            options = []
            for index, name, capacity, price, zones, room, estimated, note, slices, ports in stored:
                group = groups[index]
                if group.instance_type.name != name or group.capacity_type != capacity:
                    raise ValueError(f"offer group {index} is no longer {name}/{capacity}")
                options.append(make_option(group, price, zones, Resources(*room), estimated, note, slices,
                                           frozenset(ports)))
            return options, tuple(rejections)
        except (ValueError, TypeError, IndexError) as err:
            log.debug("stored option list unusable (%s): building it again", err)
            return None

    def put(self, key: str, options: Sequence[Any], rejections: tuple) -> None:
        entries = self._entries
        if key in entries or sum(len(stored) for stored, _ in entries.values()) + len(options) > MAX_OPTIONS:
            return
        position = self._position
        if position is None:
            position = self._position = {
                (g.instance_type.name, g.capacity_type): i for i, g in enumerate(self._groups)
            }
        stored = []
        for option in options:
            index = position.get((option.name, option.capacity_type))
            if index is None:
                return  # an option not from the catalog's groups: nothing to rebuild it from
            room = option.allocatable
            stored.append((index, option.name, option.capacity_type, option.price, option.zones,
                           (room.cpu, room.memory, room.gpu, room.pods, room.ephemeral),
                           option.price_estimated, option.price_note, option.gpu_time_slices,
                           tuple(sorted(option.host_ports))))
        entries[key] = (tuple(stored), rejections)
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            self._dirty = False
            write_atomically(self.path, marshal.dumps((FORMAT, self._entries)))
            keep_newest(self.path.parent, "options-*.marshal", MAX_FILES)


def candidate_store(catalog: RegionCatalog, config: Any, daemonsets: Sequence[Any]) -> CandidateStore | None:
    """The store of the book for these inputs; None when the catalog was not compiled to disk
    (its figures have no name) or the inputs have no canonical text."""
    source = compiled_file(catalog)
    if source is None:
        return None
    try:
        inputs = f"{FORMAT} {source.name} {canonical(config)} {canonical(tuple(daemonsets))}"
    except NotCanonical as err:
        log.debug("option lists not stored: %s", err)
        return None
    digest = hashlib.sha256(inputs.encode()).hexdigest()[:32]
    return CandidateStore(source.with_name(f"options-{digest}.marshal"), catalog)


class OptionStores:
    """The stores a long-running process plans with (the daemon), one per configuration and
    DaemonSets of its current catalog: each read from disk once, written after the plans that
    added to it. A new catalog (live prices) drops the old one's stores."""

    def __init__(self) -> None:
        self._catalog: RegionCatalog | None = None
        self._stores: dict[tuple, CandidateStore | None] = {}

    def for_plan(self, catalog: RegionCatalog, config: Any, daemonsets: Sequence[Any]) -> CandidateStore | None:
        if catalog is not self._catalog:
            self._catalog, self._stores = catalog, {}
        try:
            key = (config, tuple(daemonsets))
            hash(key)
        except TypeError:
            return None
        if key not in self._stores:
            if len(self._stores) >= MAX_FILES:
                self._stores.clear()
            self._stores[key] = candidate_store(catalog, config, daemonsets)
        return self._stores[key]

    def flush(self) -> None:
        for store in self._stores.values():
            if store is not None:
                store.flush()


def entry_key(constraints: Any, role: str, capacity_types: tuple[str, ...]) -> str | None:
    try:
        return f"{canonical(constraints)} {role} {capacity_types}"
    except NotCanonical:
        return None
