"""Node TTL cycling decisions (SPEC §5, nodeTTL): expiry with jitter, the rate limit, replacement first."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.cluster import KubeNode
from autoscaler.nodelabels import CREATED_BY, CREATED_BY_VALUE, ROLE
from autoscaler.planner.ttl import DRAIN, HOLD, LAUNCH, WAIT, decide_ttl, expires_at, replacement_step
from autoscaler.planner.types import NewNode, Placement, Plan, Unplaceable
from autoscaler.resources import Resources
from tests.helpers import config, make_pod

DAY = 86400.0
T0 = 1_800_000_000.0
WEEK = config(nodeTTL="7d")  # jitter: a tenth of the TTL (16.8 h)


def node(name, created=T0, managed=True):
    labels = {ROLE: "bin-pack", **({CREATED_BY: CREATED_BY_VALUE} if managed else {})}
    return KubeNode(name, labels=labels, allocatable=Resources(cpu=4000, memory=2**34, pods=110), ready=True, created=created)


def test_a_fleet_launched_together_expires_spread_over_the_jitter_window_never_past_the_ttl():
    fleet = [node(f"n{i:02}") for i in range(50)]
    expiries = sorted(expires_at(n, WEEK) for n in fleet)
    # then every node expires within [7d - 16.8h, 7d] of its launch, spread over hours
    assert all(T0 + 7 * DAY - 0.1 * 7 * DAY <= e <= T0 + 7 * DAY for e in expiries)
    assert expiries[-1] - expiries[0] > 12 * 3600
    # and the same after a restart (hashed from the name, not random)
    assert sorted(expires_at(n, WEEK) for n in fleet) == expiries


def test_at_most_max_parallel_expired_nodes_start_cycling_oldest_first():
    fleet = [node("old", T0 - 9 * DAY), node("older", T0 - 10 * DAY), node("young", T0 - DAY)]
    decision = decide_ttl(fleet, config(nodeTTL="7d", nodeTTLMaxParallel=1), T0, cycling=())
    assert [e.node for e in decision.start] == ["older"]
    assert "nodeTTLMaxParallel=1" in decision.waiting["old"]
    # while one cycles, nothing else starts
    assert decide_ttl(fleet, config(nodeTTL="7d"), T0, cycling=("older",)).start == []


def test_unmanaged_and_busy_nodes_are_not_cycled_and_no_ttl_means_none():
    fleet = [node("foreign", T0 - 30 * DAY, managed=False), node("draining", T0 - 30 * DAY)]
    assert decide_ttl(fleet, WEEK, T0, cycling=(), busy=("draining",)).start == []
    assert decide_ttl([node("x", T0 - 30 * DAY)], config(), T0, cycling=()).start == []


def _pods(*names, **kwargs):
    return [replace(make_pod(n, owner="ReplicaSet/web", **kwargs), node_name="old", phase="Running") for n in names]


def test_pods_with_room_elsewhere_mean_drain_now():
    placement = Plan(placements=(Placement("default/a", "n2"),))
    assert replacement_step(_pods("a"), placement, on_the_way=()).kind == DRAIN


def test_pods_that_need_a_new_node_get_it_launched_first():
    new = NewNode(option=None, mode="bin-pack", pods=("default/a",))  # type: ignore[arg-type]
    step = replacement_step(_pods("a"), Plan(new_nodes=(new,)), on_the_way=())
    assert step.kind == LAUNCH and step.new_nodes == (new,)


def test_a_replacement_on_its_way_is_waited_for():
    placement = Plan(placements=(Placement("default/a", "in-flight/i-9"),))
    step = replacement_step(_pods("a"), placement, on_the_way={"in-flight/i-9"})
    assert step.kind == WAIT and "in-flight/i-9" in step.reason


def test_do_not_evict_pod_holds_the_node():
    pods = _pods("a") + _pods("batch", annotations={"smart-autoscaler.io/do-not-evict": "true"})
    step = replacement_step(pods, Plan(), on_the_way=())
    assert step.kind == HOLD and "default/batch" in step.reason


def test_only_a_cluster_limit_in_the_way_drains_since_removal_frees_it_other_problems_wait():
    limited = Plan(unplaceable=(Unplaceable("default/a", "maxNodes=3 reached", limit="maxNodes"),))
    assert replacement_step(_pods("a"), limited, ()).kind == DRAIN
    stuck = Plan(unplaceable=(Unplaceable("default/a", "every offering backed off"),))
    assert replacement_step(_pods("a"), stuck, ()).kind == WAIT
