"""Hot-node mitigation decisions (SPEC §5, manageHighUtilization.*): colours, taints, evictions."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.cluster import KubeNode, PdbInfo
from autoscaler.nodelabels import CREATED_BY, CREATED_BY_VALUE, ROLE
from autoscaler.planner.hotnodes import HOT_TAINT, decide_hot_nodes
from autoscaler.resources import Resources
from autoscaler.usage import UsageReport, UsageSample
from tests.helpers import config, make_pod

NOW = 1_800_000_000.0
GIB = 2**30
ON = config(manageHighUtilization={"enabled": True})  # 60/65 yellow, 80/85 red, 10/15 green


def bin_pack_node(name="n1", cpu=4000, memory=16 * GIB, role="bin-pack", managed=True, taints=()):
    labels = {ROLE: role, **({CREATED_BY: CREATED_BY_VALUE} if managed else {})}
    size = Resources(cpu=cpu, memory=memory, pods=110)
    return KubeNode(name, uid=f"uid-{name}", labels=labels, taints=tuple(taints), allocatable=size, capacity=size, ready=True)


def pods_on(node, *names, owner="ReplicaSet/web", **kwargs):
    return [replace(make_pod(name, "500m", "1Gi", owner=owner, **kwargs), node_name=node, phase="Running") for name in names]


def usage(nodes: dict, pods: dict, at=NOW - 10):
    return UsageReport(
        {n: UsageSample(cpu, mem, at, 15) for n, (cpu, mem) in nodes.items()},
        {p: UsageSample(cpu, mem, at, 15) for p, (cpu, mem) in pods.items()},
        NOW,
    )


def decide(nodes, bound, report, cfg=ON, **kwargs):
    return decide_hot_nodes(nodes, bound, kwargs.pop("pdbs", ()), report, cfg, NOW, **kwargs)


def test_yellow_node_is_tainted_and_nothing_evicted():
    # given a 4-CPU bin-pack node at 2.6 CPU used (65%), memory 20%
    node = bin_pack_node()
    bound = {"n1": pods_on("n1", "a", "b")}
    result = decide([node], bound, usage({"n1": (2600, int(3.2 * GIB))}, {}))
    # then it is yellow: NoSchedule taint smart-autoscaler.io/hot, no eviction
    assert result.colours == {"n1": "yellow"}
    [action] = result.actions
    assert (action.add_taint, action.evict) == (True, "")


def test_red_node_evicts_the_managed_pod_using_most_of_the_hot_resource():
    # given 3.4 of 4 CPUs used (85%) by pods a (0.4), b (2.5), c (0.5)
    node = bin_pack_node()
    bound = {"n1": pods_on("n1", "a", "b", "c")}
    report = usage({"n1": (3400, 2 * GIB)}, {"default/a": (400, GIB), "default/b": (2500, GIB // 2), "default/c": (500, GIB)})
    [action] = decide([node], bound, report).actions
    # then the node is tainted and b (most CPU) is evicted, one pod only
    assert (action.colour, action.add_taint, action.evict, action.resource) == ("red", True, "default/b", "cpu")


def test_red_on_memory_picks_the_pod_with_the_largest_working_set():
    node = bin_pack_node()
    bound = {"n1": pods_on("n1", "a", "b")}
    report = usage({"n1": (1000, int(14 * GIB))}, {"default/a": (900, 10 * GIB), "default/b": (100, 4 * GIB)})
    [action] = decide([node], bound, report).actions
    assert (action.resource, action.evict) == ("memory", "default/a")


def test_do_not_evict_and_pdb_blocked_pods_are_passed_over_for_the_next_one():
    node = bin_pack_node()
    top = pods_on("n1", "top", annotations={"smart-autoscaler.io/do-not-evict": "true"})
    guarded = pods_on("n1", "guarded", owner="ReplicaSet/db", labels={"app": "db"})
    rest = pods_on("n1", "small")
    pdb = PdbInfo("default", "db", {"app": "db"}, disruptions_allowed=0)
    report = usage({"n1": (3600, GIB)}, {"default/top": (2000, 0), "default/guarded": (1000, 0), "default/small": (600, 0)})
    [action] = decide([node], {"n1": top + guarded + rest}, report, pdbs=[pdb]).actions
    assert action.evict == "default/small"


def test_green_node_loses_the_taint_and_steady_one_keeps_it():
    hot = bin_pack_node("hot", taints=[HOT_TAINT])
    warm = bin_pack_node("warm", taints=[HOT_TAINT])
    bound = {"hot": pods_on("hot", "a", "b"), "warm": pods_on("warm", "c", "d")}
    # hot cooled to 5% cpu / 10% memory: green; warm at 30% cpu: between green and yellow
    report = usage({"hot": (200, int(1.6 * GIB)), "warm": (1200, GIB)}, {})
    result = decide([hot, warm], bound, report)
    assert result.colours == {"hot": "green", "warm": "steady"}
    assert [(a.node, a.remove_taint) for a in result.actions] == [("hot", True)]


def test_stale_or_missing_metrics_mean_no_action_and_say_so():
    stale, missing = bin_pack_node("stale"), bin_pack_node("missing")
    bound = {"stale": pods_on("stale", "a", "b"), "missing": pods_on("missing", "c", "d")}
    report = usage({"stale": (4000, 15 * GIB)}, {"default/a": (3000, 0)}, at=NOW - 600)  # 10 min old, limit 150 s
    result = decide([stale, missing], bound, report)
    assert result.actions == []
    assert "its metrics are from 2027-01-15T07:50:00Z, older than manageHighUtilization.maxMetricsAge=150s" in result.skipped["stale"]
    assert "no metrics" in result.skipped["missing"]
    assert result.colours == {"stale": "unknown", "missing": "unknown"}


def test_metrics_api_down_means_no_action():
    node = bin_pack_node()
    report = UsageReport(read_at=NOW, error="list nodes.metrics.k8s.io: 503 Service Unavailable")
    result = decide([node], {"n1": pods_on("n1", "a", "b")}, report)
    assert result.actions == [] and "503" in result.skipped["n1"]


def test_no_second_eviction_on_metrics_older_than_the_last_one():
    node = bin_pack_node(taints=[HOT_TAINT])
    bound = {"n1": pods_on("n1", "a", "b", "c")}
    report = usage({"n1": (3600, GIB)}, {"default/a": (2000, 0), "default/b": (1000, 0)}, at=NOW - 20)
    # given a pod was evicted 15 s ago, after these metrics were measured
    result = decide([node], bound, report, last_eviction={"n1": NOW - 15})
    # then the red node waits for newer data
    [action] = result.actions
    assert action.evict == "" and "predate the last eviction" in result.skipped["n1"]


def test_single_pod_bin_select_and_unmanaged_nodes_are_left_alone():
    single = bin_pack_node("single")
    select = bin_pack_node("select", role="bin-select")
    foreign = bin_pack_node("foreign", managed=False)
    bound = {"single": pods_on("single", "a"), "select": pods_on("select", "b", "c"), "foreign": pods_on("foreign", "d", "e")}
    report = usage({n: (3900, 15 * GIB) for n in bound}, {})
    result = decide([single, select, foreign], bound, report)
    assert result.actions == [] and result.colours == {}


def test_feature_off_removes_taints_left_behind():
    node = bin_pack_node(taints=[HOT_TAINT])
    result = decide([node], {"n1": pods_on("n1", "a", "b")}, usage({}, {}), cfg=config())
    assert [(a.node, a.remove_taint) for a in result.actions] == [("n1", True)]


def test_unmanaged_pods_are_never_evicted_and_do_not_count():
    node = bin_pack_node()
    managed = pods_on("n1", "m1", "m2")
    other = [replace(p, labels={}) for p in pods_on("n1", "other")]
    report = usage({"n1": (3800, GIB)}, {"default/other": (3000, 0), "default/m1": (300, 0), "default/m2": (200, 0)})
    [action] = decide([node], {"n1": managed + other}, report).actions
    assert action.evict == "default/m1"
