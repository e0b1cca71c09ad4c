"""Nodes deleted by hand, pods the planner cannot read, evictions once (issue 19, items 2, 3, 5).

The loop on the in-memory cluster and the simulated cloud, on a simulated clock.
"""

from __future__ import annotations


from autoscaler.cluster import EvictionOutcome
from autoscaler.loop.events import SCALE_DOWN_BLOCKED
from autoscaler.podrecord import read_pod
from autoscaler.sim.scenario import Simulation
from tests.loop.fault_world import add, world
from tests.helpers import make_pod, pod_manifest, replicas


def alive(sim: Simulation) -> list[str]:
    return sorted(i.instance_id for i in sim.provider.list_instances())


# ---- item 3: a Node deleted by hand


def test_a_node_deleted_by_hand_gets_its_pods_new_capacity_within_two_loops_and_no_type_is_backed_off():
    """Given 3 pods running on the node launched for them, when someone deletes that Node (the
    instance keeps running), then within two loops a new node is launched for the recreated
    pods, the orphan instance is terminated, nothing is backed off, and the timeline says the
    node was deleted by someone else (not "adopted after restart")."""
    sim = world()
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(30)
    (first,) = sim.provider.launched
    node = next(iter(sim.cluster.nodes))
    sim.cluster.delete_node(node)  # kubectl delete node
    sim.step()
    sim.step()
    assert len(sim.provider.launched) == 2
    assert sim.provider.instance(first.instance_id).state == "terminated"
    assert sim.reconciler.backoff.view(sim.clock.now()).reason(first.instance_type, first.capacity_type, first.zone) is None
    notes = " ".join(e.message for e in sim.reconciler.timeline)
    assert "deleted by someone else" in notes and "after restart" not in notes
    sim.run_for(30)
    assert all(p.node_name for p in sim.cluster.pods.values())


def test_with_deleted_node_instances_keep_the_instance_stays_and_the_pods_still_get_a_node():
    sim = world(deletedNodeInstances="keep")
    add(sim, make_pod("api", "1", "1Gi", owner="ReplicaSet/api"))
    sim.run_for(30)
    (first,) = sim.provider.launched
    sim.cluster.delete_node(next(iter(sim.cluster.nodes)))
    sim.run_for(30)
    assert sim.provider.instance(first.instance_id).state == "running"
    assert len(sim.provider.launched) == 2
    assert all(p.node_name for p in sim.cluster.pods.values())


# ---- item 2: a pod the planner cannot read


def unreadable_on(node: str, name: str = "odd", owner: str | None = "ReplicaSet/odd", managed: bool = False):
    """A pod with `cpu: 1e30` (the API server accepts it) bound to `node`, as the daemon reads it."""
    manifest = pod_manifest(name, "1e30", "1Gi", owner=owner, labels={} if managed else {"smart-autoscaler.io/managed": "false"})
    manifest["spec"]["nodeName"] = node
    manifest["status"] = {"phase": "Running"}
    return read_pod(manifest)


def test_a_node_holding_a_pod_the_planner_cannot_read_is_not_scaled_down_and_the_pod_is_told_why():
    """Given a bin-select node whose managed pod has ended and an unmanaged pod with `cpu: 1e30`
    bound to it, when the node has been unneeded for longer than nodeUnneededDuration, then it
    stays, nothing is evicted, and the pod gets a ScaleDownBlocked Warning naming the reason."""
    sim = world(scaleDown={"nodeUnneededDuration": "10s"})
    add(sim, make_pod("job", "3", "8Gi", owner="Job/job"))
    sim.run_for(30)
    node = sim.cluster.pods["default/job"].node_name
    odd = unreadable_on(node)
    assert odd.unreadable
    sim.cluster.add_pod(odd)
    sim.cluster.remove_workload("Job/default/job")
    sim.run_for(60)
    assert node in sim.cluster.nodes and sim.cluster.deleted_nodes == []
    assert sim.cluster.evictions == []
    (event,) = sim.cluster.events_for("default/odd", SCALE_DOWN_BLOCKED)
    assert "cannot be read" in event.message and "1e30" in event.message


def test_a_ttl_drain_evicts_a_pod_the_planner_cannot_read_before_the_node_goes():
    """Given nodeTTL 2m and a pod the planner cannot read on the expiring node, then the node is
    removed only after that pod was evicted through the Eviction API."""
    sim = world(nodeTTL="2m", nodeTTLJitter="0s")
    add(sim, *replicas("web", 2, "1", "1Gi"))
    sim.run_for(30)
    node = sim.cluster.pods["default/web-0"].node_name
    sim.cluster.add_pod(unreadable_on(node))
    deleted_with = {}
    delete = sim.cluster.delete_node

    def watched_delete(name):
        deleted_with[name] = sorted(k for k, p in sim.cluster.pods.items() if p.node_name == name)
        delete(name)

    sim.cluster.delete_node = watched_delete
    sim.run_for(240)
    assert node in deleted_with and deleted_with[node] == []
    assert "default/odd" in sim.cluster.evictions


# ---- item 5: evictions once, then after a back-off


def test_a_pod_that_takes_its_time_to_terminate_is_evicted_once_then_again_only_after_a_back_off():
    """Given a drain whose pod stays (terminating) for 40 s after its eviction, when the loop runs
    every 2 s, then the Eviction API is asked once in the first 30 s and a second time after,
    and the evicted-pods counter reads 1."""
    sim = world(nodeTTL="2m", nodeTTLJitter="0s")
    add(sim, make_pod("api", "1", "1Gi", owner="ReplicaSet/api"))
    sim.run_for(30)
    asked: list[float] = []
    evict = sim.cluster.evict_pod

    def slow_evict(namespace, name):
        asked.append(sim.clock.now())
        if len(asked) < 3:
            return EvictionOutcome.EVICTED  # accepted; the pod terminates in its own time
        return evict(namespace, name)

    sim.cluster.evict_pod = slow_evict
    sim.run_for(150)
    assert len(asked) >= 2
    assert asked[1] - asked[0] >= 30.0
    metrics = sim.reconciler.metrics
    assert metrics.evictions.labels("ttl")._value.get() == 1
    assert metrics.eviction_attempts.labels("ttl", "evicted")._value.get() == len(asked)
