"""Room is what will really come (issue 19, item 1): a node launched for pods stays their room
while it carries start-up taints, whatever its Ready condition says.

The in-memory cluster's cloud controller keeps `node.cloudprovider.kubernetes.io/uninitialized`
on new nodes for a while after they are Ready, as a cloud controller manager does.
"""

from __future__ import annotations

from dataclasses import replace


from autoscaler.sim.scenario import Simulation
from tests.loop.fault_world import add, world
from tests.helpers import make_pod, replicas


def planned_nodes(sim: Simulation) -> int:
    return len(sim.provider.launched)


def test_six_cpu_pods_on_nodes_uninitialized_for_a_while_get_the_two_nodes_planned():
    """Given 6 pods of 1 CPU (two 4-CPU bin-pack nodes' worth) and new nodes that are Ready but
    keep the cloud's `uninitialized` taint for 8 s, when the loop runs every 2 s for 2 minutes,
    then exactly the 2 planned nodes are launched, and every pod runs."""
    sim = world()
    sim.cloud_init_delay = 8.0
    add(sim, *replicas("web", 6, "1", "1Gi"))
    sim.step()
    planned = planned_nodes(sim)
    sim.run_for(60)
    assert planned == 2
    assert planned_nodes(sim) == 2
    assert all(p.node_name for p in sim.cluster.pods.values())
    assert sim.cluster.deleted_nodes == []


def test_a_gpu_pod_on_a_node_uninitialized_for_a_while_gets_one_gpu_node():
    """Given one pod asking for 1 GPU and a node uninitialized for 8 s after it is Ready, then one
    GPU node is launched, not two."""
    sim = world()
    sim.cloud_init_delay = 8.0
    add(sim, make_pod("train", "4", "16Gi", 1, owner="Job/train"))
    sim.run_for(60)
    assert [i.instance_type for i in sim.provider.launched] == [sim.provider.launched[0].instance_type]
    assert sim.cluster.pods["default/train"].node_name


def test_a_ready_node_still_not_ready_tainted_after_an_outage_stays_the_room_it_was_launched_for():
    """Given a node Ready but still tainted `node.kubernetes.io/not-ready` (the node lifecycle
    controller has not caught up, e.g. after an API outage) for 20 s, then no second node."""
    sim = world()
    sim.cloud_init_delay = 0.0
    add(sim, *replicas("api", 2, "1", "1Gi"))
    original = sim.cluster.add_node

    def tainted(node, ready_after=0.0, initialized_after=0.0):
        original(node, ready_after=0.0)
        from autoscaler.sim.cluster import NOT_READY_TAINT

        stuck = replace(sim.cluster.nodes[node.name], ready=True, taints=(NOT_READY_TAINT,))
        sim.cluster.nodes[node.name] = stuck
        sim.cluster._ready_at[node.name] = sim.clock.now() + 20.0  # the controller clears it then

    sim.cluster.add_node = tainted
    sim.run_for(60)
    assert planned_nodes(sim) == 1
    assert all(p.node_name for p in sim.cluster.pods.values())
