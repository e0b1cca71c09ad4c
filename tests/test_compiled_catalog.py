"""The compiled catalog (pricing/compiled.py): built once, kept on disk, the same catalog back."""

from __future__ import annotations

import os

import pytest

from pricing import compiled
from pricing.catalog import CatalogError, CatalogSettings, region_catalog
from pricing.types import LazyOfferings

build = region_catalog.__wrapped__  # past the per-process cache: every call builds or loads

REGIONS = [("aws", "us-east-1"), ("gcp", "us-central1"), ("azure", "eastus"), ("oci", "us-ashburn-1")]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path))
    return tmp_path / "catalog"


@pytest.mark.parametrize("cloud,region", REGIONS)
def test_a_catalog_loaded_compiled_is_the_catalog_built_from_the_data(cache, monkeypatch, cloud, region):
    """Given no compiled file, when the catalog is asked for twice, then the first call builds
    it and leaves one file, and the second loads that file: every offering, group, zone, note
    and flexible shape equal to a catalog built without the cache."""
    first = build(cloud, region)
    [kept] = list(cache.iterdir())
    second = build(cloud, region)
    assert isinstance(second.offerings, LazyOfferings) and not isinstance(first.offerings, LazyOfferings)
    monkeypatch.setenv(compiled.CACHE_ENV, "")
    fresh = build(cloud, region)
    assert list(cache.iterdir()) == [kept]
    assert tuple(second.offerings) == tuple(fresh.offerings) and len(fresh.offerings) > 100
    assert second.groups == fresh.groups and second.zones == fresh.zones
    assert (second.sources, second.notes, second.flex_shapes) == (fresh.sources, fresh.notes, fresh.flex_shapes)


def test_a_damaged_compiled_file_is_rebuilt_without_a_word_to_the_user(cache):
    """Given a compiled file cut short, when the catalog is asked for, then it is built from
    the data again (12,302 AWS us-east-1 offerings) and the file is whole again."""
    expected = len(build("aws", "us-east-1").offerings)
    [kept] = list(cache.iterdir())
    kept.write_bytes(kept.read_bytes()[:1000])
    assert len(build("aws", "us-east-1").offerings) == expected
    assert isinstance(build("aws", "us-east-1").offerings, LazyOfferings)


def test_an_unwritable_cache_directory_only_means_building_every_time(tmp_path, monkeypatch):
    """Given a cache directory that is a file (cannot be created), when the catalog is asked
    for, then it is built and nothing fails."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(compiled.CACHE_ENV, str(blocker))
    assert len(build("gcp", "us-central1").offerings) > 0


def test_settings_and_regions_name_their_own_files_and_an_unknown_region_still_fails(cache):
    """Given two settings (spot ratio 0.5 and 0.3), when both are asked for, then each has its
    own file with its own spot prices; an unknown region is an error naming it, and leaves no file."""
    half = build("aws", "us-east-1", CatalogSettings(spot_price_ratio=0.5))
    third = build("aws", "us-east-1", CatalogSettings(spot_price_ratio=0.3))
    assert len(list(cache.iterdir())) == 2
    assert build("aws", "us-east-1", CatalogSettings(spot_price_ratio=0.3)).groups == third.groups
    assert third.groups != half.groups
    with pytest.raises(CatalogError, match="us-east-9"):
        build("aws", "us-east-9")
    assert len(list(cache.iterdir())) == 2


def test_a_changed_data_file_names_a_new_compiled_file(cache, monkeypatch):
    """Given a compiled catalog, when a pricing data file's modification time changes (an
    upgrade, an edited catalog), then the next process looks for a different file."""
    data = compiled._PRICING / "data" / "regions.json"
    before = compiled._inputs_digest()
    stat = data.stat()
    try:
        os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert compiled._inputs_digest() != before
    finally:
        os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_folder_keeps_the_sixteen_newest_compiled_catalogs(cache, monkeypatch):
    """Given the default GCP catalog compiled first, then 18 spot price ratios one after another
    (each names its own compiled file), when each has been compiled, then the folder keeps the 16
    written last, and the store of option lists beside them is neither counted nor removed."""
    from autoscaler.config import config_from_mapping
    from pricing.option_store import candidate_store
    from autoscaler.planner.options import OptionBook
    from autoscaler.model import BIN_PACK, PodConstraints

    catalog = build("gcp", "us-central1")
    store = candidate_store(catalog, config_from_mapping({"cloud": "gcp", "region": "us-central1"}), ())
    OptionBook(catalog, store=store, config=config_from_mapping({"cloud": "gcp", "region": "us-central1"})).candidates(
        PodConstraints(), BIN_PACK)
    store.flush()
    [first] = cache.glob("gcp-*.marshal")
    os.utime(first, ns=(10**9, 10**9))  # the oldest of all
    made = []
    for step in range(18):
        build("gcp", "us-central1", CatalogSettings(spot_price_ratio=0.3 + step / 100))
        [newest] = sorted(cache.glob("gcp-*.marshal"), key=lambda p: p.stat().st_mtime_ns)[-1:]
        made.append(newest)
        os.utime(newest, ns=((step + 10) * 10**9, (step + 10) * 10**9))
    assert sorted(cache.glob("gcp-*.marshal")) == sorted(made[2:])
    assert store.path.exists()
