"""API outages and planner errors on the loop tier (issue 19, items 1 and 6).

The in-memory cluster's `api_down()` is kube-apiserver going away: the daemon's caches keep
what they last saw, every call fails, no pod is scheduled and no kubelet registers its node.
"""

from __future__ import annotations


from autoscaler.loop.contain import PLANNING_FAILED
from autoscaler.sim.scenario import Simulation
from tests.loop.fault_world import add, world
from tests.helpers import make_pod, replicas


def launched(sim: Simulation) -> list[str]:
    return sorted(i.instance_type for i in sim.provider.launched)


def test_a_30s_api_outage_with_pods_pending_launches_what_was_planned_and_removes_nothing():
    """Given 6 pods of 1 CPU pending and their 2 nodes launched, when the API server is down for
    30 s (the nodes cannot register meanwhile) and comes back, then no further node is launched,
    none is removed (nodeUnneededDuration 10s), and all 6 pods run within a minute of the return."""
    sim = world(scaleDown={"nodeUnneededDuration": "10s"})
    add(sim, *replicas("web", 6, "1", "1Gi"))
    sim.step()
    planned = launched(sim)
    sim.cluster.api_down()
    sim.run_for(30)
    assert launched(sim) == planned  # nothing decided on a stale view
    sim.cluster.api_up()
    sim.run_for(60)
    assert launched(sim) == planned == ["t3a.xlarge", "t3a.xlarge"]
    assert sim.cluster.deleted_nodes == []
    assert all(p.node_name for p in sim.cluster.pods.values())


def test_the_loop_holds_launches_until_node_conditions_are_fresh_after_an_outage():
    """Given the API server back after an outage, when pods arrive at once, then they get
    their node only after the settle time (3 loops, at least 5 s), with a timeline line saying so."""
    sim = world()
    sim.cluster.api_down()
    sim.run_for(10)
    sim.cluster.api_up()
    add(sim, make_pod("p", "1", "1Gi", owner="ReplicaSet/p"))
    sim.step()
    assert sim.provider.launched == []
    sim.run_for(8)
    assert len(sim.provider.launched) == 1
    kinds = [entry.kind for entry in sim.reconciler.timeline]
    assert "hold" in kinds and "resume" in kinds


def test_a_planner_error_for_one_pod_set_leaves_the_other_sets_launches_unchanged():
    """Given three workloads pending and the planner failing on one of them, when the loop runs,
    then the other two get exactly the nodes they get without the failing one, the failing pods
    get a PlanningFailed Warning naming the error, and the error is counted."""
    def pods():
        return [*replicas("web", 3, "1", "1Gi"), make_pod("gpu", "4", "16Gi", 1, owner="Job/gpu"),
                *replicas("bad", 2, "2", "4Gi", labels={"fault": "yes"})]

    alone = world()
    add(alone, *[p for p in pods() if p.labels.get("fault") != "yes"])
    alone.step()

    sim = world()
    sim.reconciler.scale_up.guard.fault = lambda pod: pod.labels.get("fault") == "yes"
    add(sim, *pods())
    sim.step()
    assert launched(sim) == launched(alone) and launched(sim)
    bad = sim.cluster.events_for("default/bad-0", PLANNING_FAILED)
    assert bad and "InjectedPlannerError" in bad[0].message
    assert sim.reconciler.metrics.planning_errors.labels("InjectedPlannerError")._value.get() == 1
    sim.run_for(20)
    assert all(p.node_name for p in sim.cluster.pods.values() if p.labels.get("fault") != "yes")


def test_a_pod_set_the_planner_failed_on_is_planned_again_after_its_back_off():
    """Given the planner failing on a set, when the error goes away, then the set gets its node
    once its back-off (30 s) has passed, not before."""
    sim = world()
    sim.reconciler.scale_up.guard.fault = lambda pod: True
    add(sim, make_pod("p", "1", "1Gi", owner="ReplicaSet/p"))
    sim.step()
    sim.reconciler.scale_up.guard.fault = None
    sim.run_for(20)
    assert sim.provider.launched == []
    sim.run_for(12)
    assert len(sim.provider.launched) == 1
