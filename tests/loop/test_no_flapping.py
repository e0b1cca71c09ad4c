"""No flapping (SPEC §4): launch idempotency keys name one attempt; a node launched for pods
that it does not end up holding is noticed, reported on the pods, and never cycled.

Numbers: loopPeriod 10s (one reconcile per 10 s step), the simulated cloud boots in 60 s.
A pod of 3 CPU is bin-select and gets a t3a.xlarge (3920m allocatable) of its own.
"""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import make_pod, replicas
from tests.loop.test_reconcile import add, running, world

ANN = "smart-autoscaler.io/"
ONLY_T3A_XLARGE = {ANN + "instance-type-regexp": r"^t3a\.xlarge$"}


def launches(sim):
    return [(i.instance_type, i.request_id) for i in sim.provider.launched]


def test_node_taken_by_another_pod_gets_the_pod_a_new_node_within_one_loop_with_a_new_key():
    """Given pod P whose node is on its way, and an older unmanaged pod Q of the same size with
    nowhere to run, when the node registers and the scheduler gives it to Q, then in that same
    loop P gets a new launch with a new request id (not the old instance back), a Warning
    LaunchedNodeTaken says what happened, and P runs on the second node."""
    sim = world(launch_delay=60)
    q = make_pod("q", "3", "1Gi", owner="ReplicaSet/q", labels={"smart-autoscaler.io/managed": "false"})
    sim.cluster.add_pod(replace(q, unschedulable=False, created=sim.clock.now() - 60))
    add(sim, make_pod("p", "3", "1Gi", owner="ReplicaSet/p"))
    sim.step()
    (first,) = sim.provider.launched
    sim.run_for(60)  # the node registers at 60 s; the scheduler binds the older pod Q to it
    assert sim.cluster.pods["default/q"].node_name == f"sim-{first.instance_id}"
    assert sim.cluster.pods["default/p"].node_name == ""
    second = sim.provider.launched[1]
    assert second.request_id != first.request_id and second.instance_id != first.instance_id
    assert second.launched_at - first.launched_at <= 60 + 10  # within one loop of registering
    (event,) = sim.cluster.events_for("default/p", "LaunchedNodeTaken")
    assert event.event_type == "Warning"
    assert f"node sim-{first.instance_id} (t3a.xlarge on-demand" in event.message and "default/q" in event.message
    sim.run_for(70)
    assert running(sim) == ["default/p", "default/q"]
    assert len(sim.provider.launched) == 2


def test_a_retry_of_the_same_attempt_after_a_crash_keeps_its_key_but_a_spent_one_gets_a_new_key():
    """Both ways: a new process planning the same need while the launch is in flight sends the
    same request id (one instance); once that instance has become a node and was taken, the
    new process's first try gets the old instance back, sees it is spent, and launches anew."""
    from autoscaler.loop.reconcile import Reconciler

    sim = world(launch_delay=60)
    q = make_pod("q", "3", "1Gi", owner="ReplicaSet/q", labels={"smart-autoscaler.io/managed": "false"})
    add(sim, make_pod("p", "3", "1Gi", owner="ReplicaSet/p"))
    sim.step()
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.step()  # the restarted process adopts the launch: no second instance
    assert len({i.instance_id for i in sim.provider.launched}) == 1
    sim.cluster.add_pod(replace(q, unschedulable=False, created=sim.clock.now() - 60))
    sim.run_for(50)  # registers; Q (older) takes it
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.run_for(20)
    instances = {i.instance_id for i in sim.provider.launched}
    assert len(instances) == 2
    sim.run_for(70)
    assert running(sim) == ["default/p", "default/q"]


def test_pod_the_scheduler_never_places_on_the_launched_type_gets_one_launch_a_warning_and_no_cycle():
    """Given t3a.xlarge nodes that register with 1 CPU less than the catalog says, and a pod of
    3 CPU that may only use t3a.xlarge, when it is launched for and the node stands Ready and
    empty while the scheduler keeps answering "Insufficient cpu", then after 30 s the pod gets
    a Warning naming the pod, the offering and the reason; the idle node is removed; and in an
    hour nothing else is launched: the pod is reported unplaceable instead."""
    sim = world(launch_delay=60, **{"scaleDown.nodeUnneededDuration": "5m"})
    sim.provider.inject_short_allocatable("t3a.xlarge", cpu=1000)
    add(sim, make_pod("p", "3", "1Gi", owner="ReplicaSet/p", annotations=ONLY_T3A_XLARGE))
    sim.run_for(3600)
    assert [t for t, _ in launches(sim)] == ["t3a.xlarge"]
    (warning,) = sim.cluster.events_for("default/p", "LaunchedNodeNotUsed")
    assert warning.event_type == "Warning"
    node = f"sim-{sim.provider.launched[0].instance_id}"
    assert f"node {node} (t3a.xlarge on-demand in us-east-1a) was launched for pod default/p" in warning.message
    assert "Insufficient cpu" in warning.message and "less than the cpu=3920m" in warning.message
    assert "check the node's capacity and kube-reserved" in warning.message
    assert sim.cluster.nodes == {}
    blocked = sim.cluster.events_for("default/p", "NodeAddRequestWarning")
    assert blocked and "backed off" in blocked[-1].message and "t3a.xlarge" in blocked[-1].message


def test_the_same_pods_may_use_another_offering_after_the_scheduler_refused_one():
    """Without the type pinned, the pod of 3 CPU goes to the next cheapest type that really
    holds it once t3a.xlarge is backed off for its set: two launches in all, then it runs."""
    sim = world(launch_delay=60, **{"scaleDown.nodeUnneededDuration": "5m"})
    sim.provider.inject_short_allocatable("t3a.xlarge", cpu=1000)
    add(sim, make_pod("p", "3", "1Gi", owner="ReplicaSet/p"))
    sim.run_for(1800)
    types = [t for t, _ in launches(sim)]
    assert types[0] == "t3a.xlarge" and len(types) == 2 and types[1] != "t3a.xlarge"
    assert running(sim) == ["default/p"]
    assert len(sim.cluster.events_for("default/p", "LaunchedNodeNotUsed")) == 1


def test_pod_refused_by_a_taint_its_launched_node_registers_with_is_reported_and_not_cycled():
    """Given t3a.xlarge nodes whose image adds a taint the pod does not tolerate, when the node
    launched for the pod registers with that taint, then the pod gets a LaunchedNodeNotUsed
    Warning naming the taint, and the next node comes from another offering: two launches in
    all, and the pod runs."""
    from pricing.types import Taint

    sim = world(launch_delay=60, **{"scaleDown.nodeUnneededDuration": "5m"})
    sim.provider.inject_registration_taint("t3a.xlarge", Taint("example.com/image", "legacy", "NoSchedule"))
    add(sim, make_pod("p", "3", "1Gi", owner="ReplicaSet/p"))
    sim.run_for(1800)
    (warning,) = sim.cluster.events_for("default/p", "LaunchedNodeNotUsed")
    assert "registered with taint(s) example.com/image=legacy:NoSchedule that the pod does not tolerate" in warning.message
    types = [t for t, _ in launches(sim)]
    assert types[0] == "t3a.xlarge" and len(types) == 2 and types[1] != "t3a.xlarge"
    assert running(sim) == ["default/p"]


def test_a_launched_node_the_scheduler_filled_halfway_stays_the_room_of_the_pods_it_waits_for():
    """Given nvidiaGPUTimeSlices 2 and two pods of one set asking for 1 GPU each, one GPU node
    (2 time slices) is launched for both. When it registers and the scheduler binds only the
    first pod before the next loops run (the second is still queued), the node is still the
    second pod's room: no second node is launched, and the second pod runs there once bound."""
    sim = world(launch_delay=60, nvidiaGPUTimeSlices=2)
    add(sim, *replicas("shared", 2, "500m", "1Gi", gpu=1))
    sim.step()
    (gpu_node,) = sim.provider.launched
    sim.cluster.hold("default/shared-1", "queued behind the first pod")
    sim.run_for(60 + 20)  # registered at 60 s; two loops see shared-0 bound and shared-1 waiting
    assert running(sim) == ["default/shared-0"]
    assert len(sim.provider.launched) == 1
    sim.cluster.release("default/shared-1")
    sim.run_for(20)
    assert running(sim) == ["default/shared-0", "default/shared-1"]
    assert {p.node_name for p in sim.cluster.pods.values()} == {f"sim-{gpu_node.instance_id}"}
    assert len(sim.provider.launched) == 1


def test_replicas_bound_crosswise_keep_the_other_launched_node_as_the_waiting_replicas_room():
    """Given two replicas of 3 CPU launched a t3a.xlarge each (A's node and B's node), when they
    register and the scheduler binds A to B's node and a 100m pod of another workload to A's
    node while B is still queued, then A's node (3,820m left) is still B's room: no third node
    is launched over the next loops, and B runs on A's node once the scheduler binds it."""
    sim = world(launch_delay=60)
    add(sim, *replicas("big", 2, "3", "1Gi", annotations=ONLY_T3A_XLARGE))
    other = make_pod("other", "100m", "128Mi", owner="ReplicaSet/other", labels={"smart-autoscaler.io/managed": "false"})
    sim.step()
    assert len(sim.provider.launched) == 2
    for key in ("default/big-0", "default/big-1"):
        sim.cluster.hold(key, "queued")
    sim.run_for(60)  # both registered
    by_pod = {watch.pods[0]: name for name, watch in sim.reconciler.attempts._watches.items()}
    a_node, b_node = by_pod["default/big-0"], by_pod["default/big-1"]
    sim.cluster.release("default/big-0")
    sim.cluster.set_pod(replace(sim.cluster.pods["default/big-0"], node_name=b_node, phase="Running"))
    sim.cluster.add_pod(replace(other, unschedulable=False, node_name=a_node, phase="Running", created=sim.clock.now()))
    sim.run_for(20)  # two loops see big-0 on B's node and big-1 waiting
    assert len(sim.provider.launched) == 2
    sim.cluster.release("default/big-1")
    sim.run_for(20)
    assert sim.cluster.pods["default/big-1"].node_name == a_node
    assert len(sim.provider.launched) == 2
