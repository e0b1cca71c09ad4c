"""Hot-node mitigation and TTL cycling in the real loop, on the in-memory cluster, the simulated
cloud and the simulated metrics-server (SPEC §5). Given / when / then, with numbers.

Bin-pack nodes are t3a.xlarge (4 vCPU, 3920m allocatable); the loop runs every 10 s."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.planner.hotnodes import HOT_TAINT
from autoscaler.planner.ttl import EXPIRED_TAINT
from autoscaler.sim.cluster import PdbSpec
from tests.helpers import make_pod, replicas
from tests.loop.test_reconcile import add, running, world

HOT = {"manageHighUtilization": {"enabled": True, "loopPeriod": "30s"}, "scaleDown": {"enabled": False}}
GIB = 2**30


def node_events(sim, node: str) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in sim.cluster.events if e.ref.kind == "Node" and e.ref.name == node]


def one_hot_node(**options):
    """Three web pods (1 CPU each) on one bin-pack node, each using 1.1 CPU: 3.3 of 4 CPUs, red."""
    sim = world(**{**HOT, **options})
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(120)
    [node] = sim.cluster.nodes
    return sim, node


def test_red_node_loses_exactly_one_pod_per_pass_and_only_on_fresh_metrics():
    sim, node = one_hot_node()
    sim.metrics_server.set_usage("ReplicaSet/default/web", 1100, GIB)
    # when three passes run (90 s)
    sim.run_for(90)
    # then the node is tainted, and the first pass evicted one pod; after that the node is at
    # 2.2 CPUs (55%, between green and yellow) and nothing more goes
    assert HOT_TAINT in sim.cluster.nodes[node].taints
    assert len(sim.reconciler.hot_nodes.evicted) == 1
    assert sim.reconciler.metrics.evictions.labels("hot-node")._value.get() == 1
    assert len(sim.cluster.nodes) == 2  # the evicted pod's replacement got a node of its own


def test_stale_metrics_mean_no_action_and_a_warning_saying_so():
    sim, node = one_hot_node()
    sim.metrics_server.set_usage("ReplicaSet/default/web", 1300, GIB)
    sim.metrics_server.resolution = 10_000  # metrics-server stops scraping: its last data age
    sim.run_for(400)
    assert HOT_TAINT not in sim.cluster.nodes[node].taints
    assert sim.reconciler.hot_nodes.evicted == []
    [(reason, message)] = [e for e in node_events(sim, node) if e[0] == "HotNodeMetricsUnavailable"]
    assert "older than manageHighUtilization.maxMetricsAge=150s" in message


def test_metrics_api_down_means_no_action():
    sim, node = one_hot_node()
    sim.metrics_server.set_usage("ReplicaSet/default/web", 1300, GIB)
    sim.metrics_server.available = False
    sim.run_for(120)
    assert sim.reconciler.hot_nodes.evicted == [] and HOT_TAINT not in sim.cluster.nodes[node].taints
    assert any("503" in m for r, m in node_events(sim, node) if r == "HotNodeMetricsUnavailable")


def test_pdb_allowing_no_disruption_keeps_every_pod_on_a_red_node():
    sim = world(**HOT)
    add(sim, *replicas("db", 3, "1", "1Gi", labels={"app": "db"}))
    sim.cluster.add_pdb(PdbSpec("default", "db", {"app": "db"}, max_unavailable=0))
    sim.run_for(120)
    [node] = sim.cluster.nodes
    sim.metrics_server.set_usage("ReplicaSet/default/db", 1200, GIB)
    sim.run_for(120)
    assert HOT_TAINT in sim.cluster.nodes[node].taints and sim.reconciler.hot_nodes.evicted == []
    [message] = [m for r, m in node_events(sim, node) if r == "HotNodeRed"]
    assert "PodDisruptionBudget default/db allows no disruption" in message


def test_expired_node_gets_its_replacement_before_any_pod_is_evicted():
    sim = world(nodeTTL="1h", nodeTTLJitter="1m", scaleDown={"enabled": False})
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(120)
    [old] = sim.cluster.nodes
    # when the node passes its TTL (1h less up to 1m)
    sim.run_for(3600)
    # then a second node was launched, and the pods were evicted only once it was Ready
    events = [(e.kind, e.time) for e in sim.reconciler.timeline if e.kind in ("launch", "registered", "evict", "remove")]
    kinds = [kind for kind, _ in events]
    assert kinds == ["launch", "registered", "launch", "registered", "evict", "evict", "evict", "remove"]
    assert old not in sim.cluster.nodes and len(running(sim)) == 3
    assert not [p for p in sim.cluster.pods.values() if p.unschedulable]  # no pod ever waited
    assert sim.reconciler.metrics.scale_downs.labels("ttl")._value.get() == 1


def test_do_not_evict_pod_holds_an_expired_node_until_it_ends():
    sim = world(nodeTTL="30m", nodeTTLJitter="1m", scaleDown={"enabled": False})
    job = make_pod("train", "3", "4Gi", owner="Job/train", annotations={"smart-autoscaler.io/do-not-evict": "true"})
    sim.cluster.add_pod(replace(job, unschedulable=False, created=sim.clock.now()), run_for=3600)
    sim.run_for(35 * 60)
    [node] = sim.cluster.nodes
    assert EXPIRED_TAINT in sim.cluster.nodes[node].taints  # expired: nothing new lands on it
    assert sim.cluster.evictions == []
    assert any("held until pod(s) default/train end (do-not-evict)" in m for _, m in node_events(sim, node))
    # when the job ends (1h after it started) the node has nothing to move and is removed
    sim.run_for(40 * 60)
    assert node not in sim.cluster.nodes and sim.cluster.evictions == []


def test_at_most_node_ttl_max_parallel_nodes_cycle_at_once():
    sim = world(nodeTTL="1h", nodeTTLJitter="1s", nodeTTLMaxParallel=1, scaleDown={"enabled": False})
    add(sim, *replicas("web", 21, "1", "1Gi"))  # 3 per node: 7 nodes launched together
    sim.run_for(120)
    assert len(sim.cluster.nodes) == 7
    sim.run_for(3500)
    most = 0
    for _ in range(6 * 30):  # 30 minutes past the TTL
        sim.run_for(10)
        most = max(most, sum(1 for c in sim.reconciler.ttl.cycles.values() if not c.held))
    assert most == 1 and len(sim.reconciler.ttl.cycled) >= 3


def test_dry_run_says_what_it_would_do_and_touches_nothing():
    sim, node = one_hot_node(nodeTTL="10m", nodeTTLJitter="1s")
    sim.reconciler.dry_run = True
    sim.metrics_server.set_usage("ReplicaSet/default/web", 1200, GIB)
    sim.run_for(15 * 60)
    assert sim.cluster.nodes[node].taints == () and sim.cluster.evictions == []
    said = [e.message for e in sim.reconciler.timeline if e.kind == "dry-run"]
    assert any(m.startswith(f"hot-node: would act on node {node}: node is red") for m in said)
    assert any(m.startswith(f"ttl: would cycle node {node}") for m in said)
    assert len([m for m in said if m.startswith("hot-node")]) == 1  # not repeated every pass
