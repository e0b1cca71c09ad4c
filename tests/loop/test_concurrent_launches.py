"""Launches run off the loop (SPEC §4: `maxConcurrentLaunches`, timeouts, in-flight room).

A simulated cloud whose launch and terminate calls take 5 s of simulated time to answer; the
loop runs every second (step 1s). Calls are started when a loop submits them, and their
answers are read by the first loop at or after start + 5 s (autoscaler/loop/calls.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.scenario import Scenario, Simulation
from tests.helpers import make_pod, replicas

CALL = 5.0


def world(call_time: float = CALL, **options) -> Simulation:
    options = {"loopPeriod": "1s", **options}
    config = config_from_mapping(options)
    scenario = Scenario("test", "aws", "us-east-1", 3600.0, 1.0, config, 30.0, [], Path("."), call_time=call_time)
    return Simulation(scenario, track_cheapest=False)


def add(sim: Simulation, *pods) -> None:
    for pod in pods:
        sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))


def entries(sim: Simulation, kind: str) -> list[float]:
    return [e.time - sim.start for e in sim.reconciler.timeline if e.kind == kind]


def test_a_burst_of_forty_nodes_starts_every_launch_in_one_loop_while_the_loop_keeps_serving():
    """Given an idle node about to be removed, when 40 pods of 5 CPU (one t3a.2xlarge each)
    arrive together with maxConcurrentLaunches=40, then all 40 launch calls start in the first
    loop; during the 5 s the cloud takes to answer, the loops still make a cost estimate for a
    gated pod and start draining the idle node; and nothing is launched twice."""
    sim = world(maxConcurrentLaunches=40, **{"scaleDown.nodeUnneededDuration": "60s"})
    add(sim, make_pod("old", "1", "1Gi", owner="ReplicaSet/old"))
    sim.run_for(40)  # launched at 0 s, answered at 5 s, registered at 30 s
    assert len(sim.cluster.nodes) == 1
    sim.cluster.remove_workload("ReplicaSet/default/old")
    sim.run_for(58)  # the node is unneeded from ~40 s: due for removal at ~100 s
    burst_at = sim.clock.now() - sim.start
    add(sim, *replicas("burst", 40, "5", "1Gi"))
    sim.step()
    add(sim, make_pod("quote", "4", "8Gi", owner="ReplicaSet/quote", spec={"schedulingGates": [{"name": "nodecostestimate"}]}))
    burst = [i for i in sim.provider.launched if i.instance_type == "t3a.2xlarge" and i.launched_at - sim.start == burst_at]
    assert len(burst) == 40  # every call started in the first loop of the burst
    sim.run_for(CALL)
    answered = [t for t in entries(sim, "launch") if t >= burst_at]
    assert answered == [burst_at + CALL] * 40  # the cloud answered them all 5 s later
    # while they were unanswered, the loops went on with estimates and scale-down
    assert [t for t in entries(sim, "estimate") if burst_at < t < burst_at + CALL]
    assert [t for t in entries(sim, "drain") if burst_at <= t < burst_at + CALL]
    sim.run_for(60)
    assert len(sim.provider.launched) == 41
    assert sum(1 for p in sim.cluster.pods.values() if p.owner.endswith("/burst") and p.phase == "Running") == 40


def test_at_most_max_concurrent_launches_are_in_flight_and_queued_ones_count_as_room():
    """With the default of 10, the 40 calls start 10 at a time as answers come back (every 5 s),
    no second launch is made for pods whose launch is still queued, and all 40 pods run."""
    sim = world()
    add(sim, *replicas("burst", 40, "3", "1Gi"))
    sim.run_for(30)
    starts: dict[float, int] = {}
    for instance in sim.provider.launched:
        at = instance.launched_at - sim.start
        starts[at] = starts.get(at, 0) + 1
    assert starts == {0.0: 10, 5.0: 10, 10.0: 10, 15.0: 10}
    sim.run_for(60)
    assert len(sim.provider.launched) == 40
    assert sum(1 for p in sim.cluster.pods.values() if p.phase == "Running") == 40


def test_a_launch_call_that_never_answers_does_not_stop_the_loop_and_is_retried_with_the_same_key():
    """Given a cloud whose calls hang (answer after 10 minutes) and cloudCallTimeout=30s, when a
    pod needs a node, then the loop goes on (a gated pod gets its estimate meanwhile), the call
    is given up after 30 s, and the retry sends the same request id, so the instance the
    first call started is the one the pod gets: one instance, not two."""
    sim = world(call_time=600, cloudCallTimeout="30s")
    add(sim, make_pod("web", "3", "1Gi", owner="ReplicaSet/web"))
    sim.step()
    add(sim, make_pod("quote", "4", "8Gi", owner="ReplicaSet/quote", spec={"schedulingGates": [{"name": "nodecostestimate"}]}))
    sim.run_for(5)
    assert entries(sim, "estimate")
    sim.run_for(40)
    assert entries(sim, "launch-timeout") == [30.0]
    assert len({i.request_id for i in sim.provider.launched}) == 1
    assert len(sim.provider.launched) == 1
    sim.run_for(60)
    assert [p.phase for p in sim.cluster.pods.values() if p.owner.endswith("/web")] == ["Running"]
    assert len(sim.provider.launched) == 1


def test_a_launch_the_clouds_list_does_not_show_yet_is_still_room():
    """Given a cloud whose instance list lags its launch calls by 20 s (eventual consistency),
    when a pod's launch has been answered but the instance is not listed yet, then the loops
    meanwhile send no second launch call for the pod."""
    sim = world()
    listing = sim.provider.list_instances
    sim.provider.list_instances = lambda: [i for i in listing() if sim.clock.now() - i.launched_at >= 20]
    add(sim, make_pod("web", "3", "1Gi", owner="ReplicaSet/web"))
    sim.run_for(60)
    assert sim.provider.launch_calls == 1
    assert [p.phase for p in sim.cluster.pods.values()] == ["Running"]
