"""Spot interruptions in the real loop, on the in-memory cluster and the simulated cloud.
Given / when / then, with numbers.

Bin-pack nodes are t3a.xlarge spot (binPackingNodePricing: spot); the loop runs every 10 s; the
simulated cloud boots an instance 60 s after its launch. An AWS spot interruption warning comes
two minutes before the instance is reclaimed; GCP's preemption notice 30 seconds before."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.loop.interruptions import INTERRUPTED_TAINT_KEY
from autoscaler.sim.cluster import PdbSpec
from providers.interruptions import NoticeBatch
from tests.helpers import make_pod, replicas
from tests.loop.test_reconcile import add, running, world

SPOT = {"binPackingNodePricing": "spot", "scaleDown": {"enabled": False}}


def three_web_pods_on_one_spot_node(**options):
    sim = world(**{**SPOT, **options})
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(90)
    [node] = sim.cluster.nodes
    [instance] = sim.provider.list_instances()
    assert instance.capacity_type == "spot" and len(running(sim)) == 3
    return sim, node, instance


def timeline(sim, *kinds: str, since: float = 0.0) -> list[tuple[float, str, str]]:
    return [(e.time, e.kind, e.message) for e in sim.reconciler.timeline if e.kind in kinds and e.time >= since]


def metric(sim, name: str, *labels: str) -> float:
    counter = getattr(sim.reconciler.metrics, name)
    return (counter.labels(*labels) if labels else counter)._value.get()


def test_interrupted_node_is_replaced_before_its_pods_are_evicted_and_before_the_cloud_reclaims_it():
    sim, node, instance = three_web_pods_on_one_spot_node()
    noticed = sim.clock.now()
    # when the cloud says it takes the instance back in 120 s
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.step()
    # then at once: tainted, and a replacement launched in the same loop
    assert any(t.key == INTERRUPTED_TAINT_KEY for t in sim.cluster.nodes[node].taints)
    assert len(sim.provider.launched) == 2
    replacement = sim.provider.launched[1]
    # the interrupted offering (t3a.xlarge spot in its zone) is backed off: the replacement is another offering
    assert (replacement.instance_type, replacement.zone) != (instance.instance_type, instance.zone)
    assert replacement.capacity_type == "spot"
    sim.run_for(150)
    # the pods were evicted only after the replacement registered, and all before the deadline
    events = timeline(sim, "registered", "evict", "remove", since=noticed)
    kinds = [kind for _, kind, _ in events]
    assert kinds == ["registered", "evict", "evict", "evict", "remove"]
    assert all(at < noticed + 120 for at, kind, _ in events if kind == "evict")
    assert node not in sim.cluster.nodes and len(running(sim)) == 3
    assert metric(sim, "interruption_notices", "simulated", "spot-interruption") == 1
    assert metric(sim, "interruption_pods_waited") == 0
    assert sim.reconciler.metrics.interruption_replacement._sum.get() <= 90  # notice -> replacement Ready
    assert metric(sim, "scale_downs", "spot-interruption") == 1


def test_a_notice_delivered_again_and_again_acts_once_and_is_deleted_once_handled():
    sim, node, instance = three_web_pods_on_one_spot_node()
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.provider.interrupt(instance.instance_id, notice=120)  # a second message for the same instance
    sim.run_for(30)  # three loops: the simulated channel hands every unhandled message out again
    assert len(sim.provider.launched) == 2  # one replacement, not one per delivery
    assert sim.provider.notices == []  # both messages deleted after they were handled
    assert metric(sim, "interruption_notices", "simulated", "spot-interruption") == 2
    assert len([e for e in sim.cluster.events if e.reason == "SpotInterrupted"]) == 1


def test_a_30_second_notice_evicts_at_once_and_the_pods_get_new_capacity():
    sim, node, instance = three_web_pods_on_one_spot_node()
    # GCP gives 30 s: less than the drain lead time (45 s), so the pods cannot wait for a replacement
    sim.provider.interrupt(instance.instance_id, notice=30, kind="preempted")
    sim.run_for(20)
    assert len(sim.cluster.evictions) == 3  # evicted gracefully, before the instance went
    assert metric(sim, "interruption_pods_waited") == 3
    sim.run_for(120)
    assert node not in sim.cluster.nodes and len(running(sim)) == 3
    assert len(sim.provider.launched) == 2  # the replacement launched for them, no more


def test_a_pod_disruption_budget_is_respected_while_the_deadline_runs():
    sim = world(**SPOT)
    add(sim, *replicas("db", 3, "1", "1Gi", labels={"app": "db"}))
    sim.cluster.add_pdb(PdbSpec("default", "db", {"app": "db"}, max_unavailable=0))
    sim.run_for(90)
    [node] = sim.cluster.nodes
    [instance] = sim.provider.list_instances()
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.run_for(110)
    assert sim.cluster.evictions == []  # the budget allowed no disruption: none was forced
    sim.run_for(120)  # the cloud reclaims the node; the controller's pods land on the replacement
    assert node not in sim.cluster.nodes and len(running(sim)) == 3
    assert len(sim.provider.launched) == 2


def test_a_rebalance_recommendation_is_only_reported_by_default():
    sim, node, instance = three_web_pods_on_one_spot_node()
    sim.provider.interrupt(instance.instance_id, kind="rebalance-recommendation")
    sim.run_for(300)
    assert len(sim.provider.launched) == 1 and sim.cluster.evictions == [] and node in sim.cluster.nodes
    assert [e.reason for e in sim.cluster.events if e.ref.name == node] == ["SpotRebalanceRecommendation"]
    assert metric(sim, "interruption_notices", "simulated", "rebalance-recommendation") == 1


def test_a_rebalance_recommendation_replaces_the_node_when_configured():
    sim, node, instance = three_web_pods_on_one_spot_node(spotInterruption={"rebalance": "replace"})
    noticed = sim.clock.now()
    sim.provider.interrupt(instance.instance_id, kind="rebalance-recommendation")
    sim.run_for(300)
    # replaced first, then drained (no deadline: it waits for the replacement whatever it takes)
    assert [k for _, k, _ in timeline(sim, "registered", "evict", "remove", since=noticed)] == ["registered", "evict", "evict", "evict", "remove"]
    assert node not in sim.cluster.nodes and len(running(sim)) == 3 and len(sim.provider.launched) == 2


def test_pods_that_allow_on_demand_only_get_an_on_demand_replacement_of_a_spot_node():
    # A job that must not run on spot was bin-packed onto the spot node? Never: its rule keeps it
    # off spot. Here the node's pods allow spot and on-demand; spot is stocked out everywhere
    # after the interruption, so on-demand replaces it.
    sim, node, instance = three_web_pods_on_one_spot_node(binPackingNodePricing="spot,on-demand")
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"):
        sim.provider.inject_stockout(instance.instance_type, "spot", zone, None)
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.run_for(150)
    replacement = sim.provider.launched[-1]
    assert node not in sim.cluster.nodes and len(running(sim)) == 3
    assert replacement.capacity_type in ("spot", "on-demand") and replacement.instance_id != instance.instance_id


def test_a_malformed_message_is_counted_and_dropped_and_the_loop_goes_on():
    sim, node, instance = three_web_pods_on_one_spot_node()
    delivered = sim.provider.interruption_notices

    def with_a_bad_message(handled=()):
        batch = delivered(handled)
        return NoticeBatch(batch.notices, ("msg-1: body is not JSON",))

    sim.provider.interruption_notices = with_a_bad_message
    add(sim, *replicas("api", 3, "1", "1Gi"))
    sim.run_for(90)
    assert metric(sim, "interruption_notices", "simulated", "malformed") >= 1
    assert len(running(sim)) == 6  # the other pods still got their node


def test_an_interruption_survives_a_restart_through_its_taint():
    sim, node, instance = three_web_pods_on_one_spot_node()
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.step()
    # the daemon restarts: a new loop with nothing in memory (the message was already deleted)
    from autoscaler.loop.reconcile import Reconciler

    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.run_for(150)
    assert node not in sim.cluster.nodes and len(running(sim)) == 3


def test_do_not_evict_pods_still_get_room_when_the_cloud_takes_their_node():
    sim = world(**SPOT)
    job = make_pod("train", "1", "1Gi", owner="Job/train", annotations={"smart-autoscaler.io/do-not-evict": "true"})
    add(sim, replace(job, unschedulable=False))
    sim.run_for(90)
    [node] = sim.cluster.nodes
    [instance] = sim.provider.list_instances()
    sim.provider.interrupt(instance.instance_id, notice=120)
    sim.run_for(60)
    assert len(sim.provider.launched) == 2  # a replacement for the job's next pod
    assert sim.cluster.evictions == []  # do-not-evict is honoured; the pod ends with the node
