"""A region's catalog compiled once and kept on disk, loaded in milliseconds by later processes.

Building a region's catalog from the embedded data (decompress, parse, derive allocatable,
spot and zones for every type) and grouping its offerings for the planner costs tens of
milliseconds -- most of a `preview` run or a restarted daemon's first plan. The result is a
pure function of the data files, the pricing code and the catalog settings, so it is written
once, as plain values (`marshal`), to a file named by a digest of exactly those inputs, and
read back by every later process: the instance types and offer groups are rebuilt from it, the
12,000 Offering objects only when something asks for them (LazyOfferings).

Where: `$SMART_AUTOSCALER_CACHE_DIR` (set it empty to turn the cache off), else
`$XDG_CACHE_HOME/smart-autoscaler`, else `~/.cache/smart-autoscaler`. A directory that cannot be
written (a read-only root file system) only means every process builds the catalog itself.
"""

from __future__ import annotations

from array import array
import hashlib
import logging
import marshal
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from autoscaler.resources import Resources
from pricing.types import (
    Accelerator,
    InstanceType,
    LazyOfferings,
    Offering,
    OfferGroup,
    RegionCatalog,
    Taint,
    ZoneOffer,
)

log = logging.getLogger("smart_autoscaler.pricing")

FORMAT = 1  # bump when the layout below changes
MAX_FILES = 16  # compiled catalogs kept in the folder, the most recently written
CACHE_ENV = "SMART_AUTOSCALER_CACHE_DIR"
_PRICING = Path(__file__).resolve().parent
_TYPE_FIELDS = tuple(f.name for f in fields(InstanceType))


def cache_dir() -> Path | None:
    """Where compiled catalogs live, or None when the cache is turned off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) / "catalog" if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "smart-autoscaler" / "catalog"


def _inputs_digest() -> str:
    """The pricing code and data files, by name, size and modification time: a changed file
    names a new compiled catalog."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for folder in (_PRICING, _PRICING / "data"):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_file() and not entry.name.endswith(".pyc"):
                stat = entry.stat()
                digest.update(f"{folder.name}/{entry.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


_DIGEST: list[str] = []


def compiled_path(cloud: str, region: str, settings_key: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    if not _DIGEST:
        _DIGEST.append(_inputs_digest())
    name = hashlib.sha256(f"{_DIGEST[0]} {cloud} {region} {settings_key}".encode()).hexdigest()[:32]
    return folder / f"{cloud}-{region}-{name}.marshal"


# ---- to and from plain values


def _type_values(itype: InstanceType) -> tuple:
    values = []
    for name in _TYPE_FIELDS:
        value = getattr(itype, name)
        if isinstance(value, Resources):
            value = (value.cpu, value.memory, value.gpu, value.pods, value.ephemeral)
        elif isinstance(value, Accelerator):
            value = (value.cloud_name, value.count)
        values.append(value)
    return tuple(values)


_CAPACITY, _ALLOCATABLE, _ACCELERATOR = (_TYPE_FIELDS.index(n) for n in ("capacity", "allocatable", "accelerator"))


def _type_from(values: tuple) -> InstanceType:
    values = list(values)
    values[_CAPACITY] = Resources(*values[_CAPACITY])
    values[_ALLOCATABLE] = Resources(*values[_ALLOCATABLE])
    if values[_ACCELERATOR] is not None:
        values[_ACCELERATOR] = Accelerator(*values[_ACCELERATOR])
    return InstanceType(*values)


def compile_catalog(catalog: RegionCatalog) -> bytes:
    """The catalog as plain values: types, taint sets, offer groups, and the offerings' order."""
    type_index: dict[int, int] = {}
    types: list[tuple] = []
    taint_index: dict[tuple, int] = {}

    def type_of(itype: InstanceType) -> int:
        index = type_index.get(id(itype))
        if index is None:
            index = type_index[id(itype)] = len(types)
            types.append(_type_values(itype))
        return index

    def taints_of(taints: tuple[Taint, ...]) -> int:
        key = tuple((t.key, t.value, t.effect) for t in taints)
        return taint_index.setdefault(key, len(taint_index))

    # One object per distinct text and zone: marshal writes a repeated object once, then refers
    # to it, so 12,000 copies of a price note cost nothing to store or load.
    same: dict = {}
    groups = tuple(
        (type_of(g.instance_type), g.capacity_type, taints_of(g.taints),
         tuple(same.setdefault(z, tuple(same.setdefault(v, v) for v in z)) for z in g.zones))
        for g in catalog.groups
    )
    # The offerings' own order, as (group, zone) positions: the groups and the order rebuild them.
    position = {
        (g.instance_type.name, g.capacity_type, z.zone): (gi, zi)
        for gi, g in enumerate(catalog.groups) for zi, z in enumerate(g.zones)
    }
    order = array("i", [i for o in catalog.offerings for i in position.get(o.key, (-1, -1))]).tobytes()
    return marshal.dumps((
        FORMAT, catalog.cloud, catalog.region, tuple(catalog.sources), tuple(catalog.notes),
        tuple(types), tuple(taint_index), groups, order,
    ))


def load_compiled(blob: bytes, flex_shapes: tuple = ()) -> RegionCatalog:
    data = marshal.loads(blob)
    if not isinstance(data, tuple) or len(data) != 9 or data[0] != FORMAT:
        raise ValueError("not a compiled catalog of this format")
    _, cloud, region, sources, notes, type_values, taint_values, group_values, order = data
    types = [_type_from(values) for values in type_values]
    taints = [tuple(Taint(*t) for t in taint_set) for taint_set in taint_values]
    make_zone = ZoneOffer._make
    groups = tuple(
        OfferGroup(types[t], capacity, taints[ti], tuple(map(make_zone, zones)))
        for t, capacity, ti, zones in group_values
    )

    def offerings() -> tuple[Offering, ...]:
        made = []
        positions = array("i")
        positions.frombytes(order)
        for gi, zi in zip(positions[::2], positions[1::2]):
            group = groups[gi]
            zone = group.zones[zi]
            made.append(Offering(group.instance_type, zone.zone, group.capacity_type, zone.price, zone.estimated,
                                 zone.note, group.taints))
        return tuple(made)

    catalog = RegionCatalog(cloud, region, LazyOfferings(offerings), sources, notes, flex_shapes)
    object.__setattr__(catalog, "_groups", groups)
    return catalog


# ---- the cache


def cached_catalog(
    cloud: str, region: str, settings_key: str | None, build: Callable[[], RegionCatalog], flex_shapes: tuple = ()
) -> RegionCatalog:
    """The region's catalog from its compiled file, else built and compiled for next time.
    `settings_key` None: settings that cannot name a file (e.g. spot advisor data): build."""
    path = compiled_path(cloud, region, settings_key) if settings_key is not None else None
    if path is not None:
        try:
            return _named(load_compiled(path.read_bytes(), flex_shapes), path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, EOFError, TypeError, KeyError, IndexError) as err:
            log.debug("compiled catalog %s unreadable (%s): building it again", path, err)
    catalog = build()
    if path is not None:
        blob = compile_catalog(catalog)
        if _faithful(blob, catalog):
            write_atomically(path, blob)
            _named(catalog, path)
            # every pricing-code version and catalog setting names a new file: keep the newest
            keep_newest(path.parent, "*-*-*.marshal", MAX_FILES)  # <cloud>-<region>-<digest>
    return catalog


def _named(catalog: RegionCatalog, path: Path) -> RegionCatalog:
    object.__setattr__(catalog, "_compiled_file", path)
    return catalog


def compiled_file(catalog: RegionCatalog) -> Path | None:
    """The file this catalog object was compiled to or loaded from: a name for exactly its
    figures (a catalog made any other way, e.g. with live prices, has none)."""
    return catalog.__dict__.get("_compiled_file")


def _faithful(blob: bytes, catalog: RegionCatalog) -> bool:
    """Whether the compiled form gives back exactly this catalog (it would not if one type's
    offerings carried different taints per zone, say): only then is it kept."""
    again = load_compiled(blob, catalog.flex_shapes)
    same = tuple(again.offerings) == tuple(catalog.offerings) and again.groups == catalog.groups
    if not same:
        log.debug("catalog %s/%s does not survive compiling; it is built in every process", catalog.cloud, catalog.region)
    return same


def keep_newest(folder: Path, pattern: str, count: int) -> None:
    """Remove all but the `count` most recently written files of `folder` matching `pattern`."""
    try:
        files = list(folder.glob(pattern))
        files.sort(key=lambda path: path.stat().st_mtime_ns, reverse=True)
        for old in files[count:]:
            old.unlink()
    except OSError as err:  # another process removed one first, or the folder is read-only
        log.debug("old cache files not removed from %s: %s", folder, err)


def write_atomically(path: Path, blob: bytes) -> None:
    """Write `blob` to `path` whole or not at all; a folder that cannot be written is only logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".marshal")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as err:
        log.debug("cache file not kept at %s: %s", path, err)


def settings_key(settings: Any) -> str | None:
    """A stable text for catalog settings, or None when they hold data a file name cannot
    stand for (the AWS spot advisor's table)."""
    if getattr(settings, "spot_advisor", None) is not None:
        return None
    return repr(settings)
