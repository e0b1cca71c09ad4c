"""The option book's candidate lists kept on disk (pricing/option_store.py): a later
process reads what an earlier one filtered, and gets exactly what filtering would give."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.config import config_from_mapping
from autoscaler.model import BIN_PACK, BIN_SELECT, NodeAffinity, PodConstraints, Toleration
import importlib
from pricing.option_store import CandidateStore, OptionStores, canonical, candidate_store
from autoscaler.planner.options import DaemonSetOverhead, OptionBook
from autoscaler.resources import Resources
from pricing import compiled
from pricing.catalog import region_catalog
from pricing.types import ON_DEMAND, SPOT

from tests.helpers import make_pod

build = region_catalog.__wrapped__
plan_module = importlib.import_module("autoscaler.planner.plan")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(plan_module, "_BOOKS", {})
    return tmp_path / "catalog"


def _fields(options):
    return [(o.name, o.capacity_type, o.price, o.zones, o.allocatable, o.price_estimated, o.price_note, o.taints,
             o.gpu_time_slices, o.host_ports) for o in options]


CLASSES = [
    (PodConstraints(), BIN_PACK, (ON_DEMAND,)),
    (PodConstraints(gpu_resource="nvidia.com/gpu"), BIN_SELECT, (ON_DEMAND, SPOT)),
    (PodConstraints(tolerations=(Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),),
                    gpu_resource="nvidia.com/gpu"), BIN_SELECT, (SPOT,)),
]


def test_a_second_process_reads_the_lists_the_first_filtered_and_they_are_the_same(cache):
    """Given a compiled us-east-1 catalog and three pod classes (plain, GPU, GPU with a
    toleration), when one book filters them and a later book with a fresh catalog object reads
    them from disk, then every option (type, price, zones, allocatable, taints) and every
    rejection count is what filtering the catalog again gives."""
    config = config_from_mapping({})
    daemonsets = (DaemonSetOverhead("logs", Resources(100, 2**27, 0, 1)),)
    first_catalog = build("aws", "us-east-1")
    store = candidate_store(first_catalog, config, daemonsets)
    writer = OptionBook(first_catalog, config, None, daemonsets, store)
    built = [writer.candidates(*c) for c in CLASSES]
    store.flush()
    assert store.path.exists() and store.path.parent == cache

    catalog = build("aws", "us-east-1")
    reader = OptionBook(catalog, config, None, daemonsets, candidate_store(catalog, config, daemonsets))
    plain = OptionBook(catalog, config, None, daemonsets)
    for c, (options, rejections) in zip(CLASSES, built):
        read, read_rejections = reader.candidates(*c)
        fresh, fresh_rejections = plain.candidates(*c)
        assert len(read) > 0 and _fields(read) == _fields(fresh) == _fields(options)
        assert read[0].instance_type is catalog.groups[0].instance_type or read[0].instance_type in {
            g.instance_type for g in catalog.groups}
        assert read_rejections == fresh_rejections == rejections


def test_another_configuration_or_daemonset_reads_another_file(cache):
    """Given lists stored for the default configuration, when minNodeCpu is 8 or a DaemonSet
    runs, then the book's file is another one, and its lists hold no node under 8 CPUs."""
    catalog = build("aws", "us-east-1")
    default = config_from_mapping({})
    big = config_from_mapping({"minNodeCpu": "8"})
    paths = {candidate_store(catalog, default, ()).path, candidate_store(catalog, big, ()).path,
             candidate_store(catalog, default, (DaemonSetOverhead("x", Resources(100, 1)),)).path}
    assert len(paths) == 3
    for config in (default, big):
        store = candidate_store(catalog, config, ())
        OptionBook(catalog, config, None, (), store).candidates(*CLASSES[0])
        store.flush()
    options, _ = OptionBook(catalog, big, None, (), candidate_store(catalog, big, ())).candidates(*CLASSES[0])
    assert options and min(o.instance_type.vcpu for o in options) >= 8


def test_a_stored_list_that_no_longer_matches_the_catalog_is_built_again(cache):
    """Given a stored list whose first option points at another offer group (a catalog changed
    under the same name), when a book reads it, then the list is filtered again: the same 817
    options as a book without a store."""
    config = config_from_mapping({})
    catalog = build("aws", "us-east-1")
    store = candidate_store(catalog, config, ())
    OptionBook(catalog, config, None, (), store).candidates(*CLASSES[0])
    store.flush()
    tampered = candidate_store(catalog, config, ())
    entries = tampered._entries
    [key] = entries
    stored, rejections = entries[key]
    first = list(stored[0])
    first[0] = (first[0] + 1) % len(catalog.groups)
    entries[key] = ((tuple(first),) + stored[1:], rejections)
    tampered._dirty = True
    tampered.flush()
    read, _ = OptionBook(catalog, config, None, (), candidate_store(catalog, config, ())).candidates(*CLASSES[0])
    assert _fields(read) == _fields(OptionBook(catalog, config).candidates(*CLASSES[0])[0])


def test_a_damaged_file_or_an_unwritable_folder_only_means_filtering(cache, tmp_path):
    """Given a store file cut short, and a store in a folder that is a file, when books use them,
    then they filter the catalog as without a store and nothing fails."""
    config = config_from_mapping({})
    catalog = build("aws", "us-east-1")
    path = candidate_store(catalog, config, ()).path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xe3\x00broken")
    store = candidate_store(catalog, config, ())  # reads the broken file
    expected = _fields(OptionBook(catalog, config).candidates(*CLASSES[0])[0])
    assert _fields(OptionBook(catalog, config, None, (), store).candidates(*CLASSES[0])[0]) == expected
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = CandidateStore(blocker / "options.marshal", catalog)
    assert _fields(OptionBook(catalog, config, None, (), unwritable).candidates(*CLASSES[0])[0]) == expected
    unwritable.flush()
    assert blocker.read_text() == ""


def test_a_catalog_not_compiled_to_disk_has_no_store(cache, monkeypatch):
    """Given the cache turned off (SMART_AUTOSCALER_CACHE_DIR empty), when a plan runs, then no
    store is made and the plan still places the pod."""
    monkeypatch.setenv(compiled.CACHE_ENV, "")
    catalog = build("aws", "us-east-1")
    assert candidate_store(catalog, config_from_mapping({}), ()) is None
    result = plan_module.plan([make_pod("a")], catalog, config_from_mapping({}))
    assert len(result.new_nodes) == 1


def test_plans_of_two_processes_agree_and_the_second_reads_the_store(cache):
    """Given two processes with different string hash seeds planning the same three pods (a
    plain one, one with a zone node selector, one with a toleration), when the first has written
    its lists, then the second finds every list on disk (filters none) and plans the same node."""
    script = (
        "import json, sys\n"
        "from autoscaler.config import config_from_mapping\n"
        "from autoscaler.planner import plan\n"
        "from autoscaler.planner.options import OptionBook\n"
        "from autoscaler.podspec import pod_from_manifest\n"
        "from pricing.catalog import region_catalog\n"
        "filtered = []\n"
        "real = OptionBook._static_ok\n"
        "OptionBook._static_ok = lambda self, *a: filtered.append(1) or real(self, *a)\n"
        "def manifest(name, **spec):\n"
        "    return {'metadata': {'name': name, 'namespace': 'default'}, 'spec': {'containers': [\n"
        "        {'name': 'c', 'image': 'i', 'resources': {'requests': {'cpu': '1', 'memory': '1Gi'}}}], **spec}}\n"
        "pods = [pod_from_manifest(m) for m in (\n"
        "    manifest('plain'), manifest('zoned', nodeSelector={'topology.kubernetes.io/zone': 'us-east-1b'}),\n"
        "    manifest('tolerant', tolerations=[{'key': 'k', 'operator': 'Exists'}]))]\n"
        "from pricing.option_store import candidate_store\n"
        "catalog, config = region_catalog('aws', 'us-east-1'), config_from_mapping({})\n"
        "store = candidate_store(catalog, config, ())\n"
        "result = plan(pods, catalog, config, option_store=store)\n"
        "store.flush()\n"
        "print(json.dumps([len(filtered), sorted((n.option.name, n.option.zones, sorted(n.pods)) for n in result.new_nodes)]))\n"
    )

    def run(seed: str) -> list:
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        import json

        return json.loads(done.stdout)

    first_filtered, first_nodes = run("1")
    second_filtered, second_nodes = run("2")
    assert first_filtered > 0 and second_filtered == 0
    assert first_nodes == second_nodes and sum(len(pods) for _, _, pods in first_nodes) == 3


def test_the_plan_touches_no_file_and_the_caller_writes_what_it_added(cache):
    """Given a store for a compiled catalog with nothing on disk yet, when a plan of one pod runs
    with it, then no file was written during the plan, and after the caller's flush the file
    holds the plan's list; the daemon's stores give one store per configuration and DaemonSets
    of the current catalog, and forget the stores of a catalog replaced."""
    catalog, config = build("aws", "us-east-1"), config_from_mapping({})
    store = candidate_store(catalog, config, ())
    result = plan_module.plan([make_pod("a")], catalog, config, option_store=store)
    assert len(result.new_nodes) == 1 and not store.path.exists()
    store.flush()
    assert len(candidate_store(catalog, config, ())._entries) == 1
    stores = OptionStores()
    first = stores.for_plan(catalog, config, ())
    assert first is stores.for_plan(catalog, config, ()) and first.path == store.path
    assert stores.for_plan(catalog, config, (DaemonSetOverhead("x", Resources(100, 1)),)) is not first
    repriced = build("aws", "us-east-1")  # the daemon's catalog changes (live prices): stores start over
    assert stores.for_plan(repriced, config, ()) is not first and len(stores._stores) == 1


def test_the_daemons_back_off_view_uses_the_store_only_while_nothing_is_backed_off(cache):
    """Given the daemon's back-off view (an object, not None), when it holds no back-off, then
    the plan's lists go to the store; when one offering is backed off, then nothing is stored."""
    from autoscaler.loop.backoff import BackoffConfig, BackoffTracker
    from autoscaler.planner.backoffs import KeyedBackoffs

    catalog, config = build("aws", "us-east-1"), config_from_mapping({"minNodeCpu": "3"})
    store = candidate_store(catalog, config, ())
    plan_module.plan([make_pod("a")], catalog, config, backoffs=BackoffTracker(BackoffConfig()).view(0.0), option_store=store)
    store.flush()
    assert len(candidate_store(catalog, config, ())._entries) == 1
    other = config_from_mapping({"minNodeCpu": "5"})
    backed_off = candidate_store(catalog, other, ())
    plan_module.plan([make_pod("a")], catalog, other, backoffs=KeyedBackoffs({("m5.xlarge", "on-demand", ""): "stock-out"}),
                     option_store=backed_off)
    backed_off.flush()
    assert not backed_off.path.exists()


def test_canonical_text_orders_sets_and_skips_uncompared_fields():
    """Given two equal constraints built with host ports in another order, when written as text,
    then the texts are equal (the cached hash field, not compared, is left out)."""
    a = PodConstraints(host_ports=frozenset({(80, "TCP", ""), (443, "TCP", "")}), affinity=NodeAffinity())
    b = PodConstraints(host_ports=frozenset({(443, "TCP", ""), (80, "TCP", "")}))
    assert canonical(a) == canonical(b) and "_hash" not in canonical(a)


def test_the_folder_keeps_the_eight_most_recent_stores(cache, monkeypatch):
    """Given ten configurations (minNodeCpu 1 to 10) planned one after another, when each has
    written its store, then the folder keeps the eight written last."""
    catalog = build("aws", "us-east-1")
    paths = []
    for cpu in range(1, 11):
        config = config_from_mapping({"minNodeCpu": str(cpu)})
        store = candidate_store(catalog, config, ())
        OptionBook(catalog, config, None, (), store).candidates(*CLASSES[1])
        store.flush()
        paths.append(store.path)
        os.utime(store.path, ns=(cpu * 10**9, cpu * 10**9))
    assert sorted(cache.glob("options-*")) == sorted(paths[2:])
