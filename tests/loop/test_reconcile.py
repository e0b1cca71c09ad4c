"""The reconcile loop against the in-memory cluster and the simulated cloud, on a simulated clock.

Given / when / then, with concrete numbers (SPEC §1, §4, §5 first bullet, §6).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.cluster import PdbSpec
from autoscaler.loop.reconcile import Reconciler
from autoscaler.sim.scenario import Scenario, Simulation
from autoscaler.sim.cloud import SimulatedProvider
from tests.helpers import make_pod, replicas

ANN = "smart-autoscaler.io/"
L4 = {ANN + "instance-gpu-skus": "L4"}


def world(launch_delay: float = 60.0, **options) -> Simulation:
    config = config_from_mapping(options)
    scenario = Scenario("test", "aws", "us-east-1", 3600.0, 10.0, config, launch_delay, [], Path("."))
    return Simulation(scenario, track_cheapest=False)


def add(sim: Simulation, *pods) -> None:
    for pod in pods:
        sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))


def launched_types(sim: Simulation) -> list[str]:
    return [i.instance_type for i in sim.provider.launched]


def running(sim: Simulation) -> list[str]:
    return sorted(k for k, p in sim.cluster.pods.items() if p.node_name and p.phase == "Running")


def reasons(sim: Simulation, pod_key: str) -> list[str]:
    return [e.reason for e in sim.cluster.events_for(pod_key)]


# ---- SPEC §1: which pods it manages


def test_unschedulable_managed_pods_get_a_node_and_run():
    sim = world()
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.step()
    assert launched_types(sim) == ["t3a.xlarge"]
    sim.run_for(60)
    assert running(sim) == ["default/web-0", "default/web-1", "default/web-2"]


def test_unmanaged_pods_cause_no_launch():
    sim = world()
    add(sim, *replicas("web", 3, "1", "1Gi", labels={"smart-autoscaler.io/managed": "false"}))
    sim.run_for(60)
    assert sim.provider.launched == []


def test_managed_pod_labels_are_configurable():
    sim = world(managedPodLabels={"elotl-luna": "true"})
    add(sim, make_pod("p", "1", "1Gi", labels={"elotl-luna": "true"}, owner="ReplicaSet/p"))
    sim.step()
    assert len(sim.provider.launched) == 1


def test_queue_held_pod_does_not_trigger_scale_up_when_the_regexp_rejects_its_message():
    """Given pendingPodReasonRegexp accepting only the scheduler's messages, when KAI holds a
    pod with "OverLimit: queue quota reached", then nothing is launched — until it is released."""
    sim = world(pendingPodReasonRegexp=r"^(0/\d+ nodes are available|no nodes available)")
    pod = make_pod("train-0", "8", "32Gi", 1, owner="Job/train")
    add(sim, pod)
    sim.cluster.hold(pod.key, "OverLimit: queue quota reached")
    sim.run_for(120)
    assert sim.provider.launched == []
    sim.cluster.release(pod.key)
    sim.run_for(20)
    assert len(sim.provider.launched) == 1


def test_gated_pods_are_never_scaled_for():
    sim = world()
    add(sim, make_pod("gated", "1", "1Gi", owner="ReplicaSet/g", spec={"schedulingGates": [{"name": "example.com/wait"}]}))
    sim.run_for(60)
    assert sim.provider.launched == []
    assert reasons(sim, "default/gated") == []


# ---- SPEC §4: choosing and obtaining the node


def test_a_burst_of_fifty_identical_pods_launches_exactly_the_planned_nodes_once():
    """50 pods of 1 CPU: 3 per t3a.xlarge -> 17 nodes, launched in the first loop and never again."""
    sim = world(launch_delay=120)
    add(sim, *replicas("burst", 50, "1", "1Gi"))
    sim.step()
    assert len(sim.provider.launched) == 17
    sim.run_for(300)
    assert len(sim.provider.launched) == 17
    assert len(running(sim)) == 50


def test_stock_out_on_the_cheapest_offering_falls_to_the_next_cheapest_in_the_same_loop():
    sim = world()
    sim.provider.inject_stockout("g6.8xlarge", "on-demand")
    add(sim, make_pod("w", "16", "16Gi", 1, owner="ReplicaSet/w", annotations=L4))
    sim.step()
    assert sim.provider.launch_calls == 2
    assert launched_types(sim) == ["gr6.8xlarge"]
    assert sim.reconciler.backoff.reason("g6.8xlarge", "on-demand", "us-east-1a", sim.clock.now())


def test_back_off_expiry_lets_the_cheaper_offering_be_used_again():
    """Given a stock-out that ends, when the 300 s back-off expires, the next pod gets g6.8xlarge."""
    sim = world()
    sim.provider.inject_stockout("g6.8xlarge", "on-demand", until=sim.clock.now() + 100)
    add(sim, make_pod("a", "16", "16Gi", 1, owner="ReplicaSet/a", annotations=L4))
    sim.step()
    assert launched_types(sim) == ["gr6.8xlarge"]
    sim.run_for(310)
    add(sim, make_pod("b", "16", "16Gi", 1, owner="ReplicaSet/b", annotations=L4))
    sim.step()
    assert launched_types(sim) == ["gr6.8xlarge", "g6.8xlarge"]


def test_quota_error_backs_off_the_family_in_every_zone_and_tries_the_next_family():
    """A vCPU quota covers a family: after g6.8xlarge hits it, no other g6 size is tried."""
    sim = world()
    sim.provider.inject_quota("g6", "on-demand")
    add(sim, make_pod("w", "16", "16Gi", 1, owner="ReplicaSet/w", annotations=L4))
    sim.step()
    assert sim.provider.launch_calls == 2
    assert launched_types(sim) == ["gr6.8xlarge"]
    backoff, now = sim.reconciler.backoff, sim.clock.now()
    for zone in ("us-east-1a", "us-east-1f"):
        assert backoff.reason("g6.8xlarge", "on-demand", zone, now) and backoff.reason("g6.12xlarge", "on-demand", zone, now)


def test_node_that_never_registers_is_terminated_after_scale_up_timeout_and_backed_off():
    sim = world(scaleUpTimeout="10m")
    sim.provider.inject_never_boots("g6.8xlarge")
    add(sim, make_pod("w", "16", "16Gi", 1, owner="ReplicaSet/w", annotations=L4))
    sim.run_for(590)
    assert launched_types(sim) == ["g6.8xlarge"]
    sim.run_for(20)
    first = sim.provider.launched[0]
    assert sim.provider.instance(first.instance_id).state == "terminated"
    assert launched_types(sim) == ["g6.8xlarge", "gr6.8xlarge"]
    sim.run_for(120)
    assert running(sim) == ["default/w"]


def test_no_candidate_gives_a_node_add_request_warning_saying_why():
    sim = world()
    pod = make_pod("big", "8", "32Gi", 2, owner="ReplicaSet/big", annotations={ANN + "instance-gpu-skus": "A100", ANN + "instance-max-cost": "4.75"})
    add(sim, pod)
    sim.run_for(30)
    (event,) = sim.cluster.events_for(pod.key, "NodeAddRequestWarning")
    assert event.event_type == "Warning"
    assert "no offering has 2 A100 GPUs" in event.message and "under $4.75/h" in event.message
    assert sim.provider.launched == []


def test_all_candidates_backed_off_says_so_and_retries_when_the_back_off_expires():
    sim = world()
    for itype in ("p4d.24xlarge", "p4de.24xlarge"):
        sim.provider.inject_stockout(itype, "on-demand", until=sim.clock.now() + 200)
    pod = make_pod("a100", "8", "32Gi", 1, owner="ReplicaSet/a", annotations={ANN + "instance-gpu-skus": "A100"})
    add(sim, pod)
    sim.run_for(20)
    messages = [e.message for e in sim.cluster.events_for(pod.key, "NodeAddRequestWarning")]
    assert messages and messages[-1].startswith("all candidate offerings are backed off")
    sim.run_for(300)
    assert launched_types(sim)[-1] == "p4d.24xlarge"


def test_a_limit_blocks_scale_up_with_a_warning_naming_it():
    sim = world(maxNodes=1)
    add(sim, make_pod("a", "4", "8Gi", owner="ReplicaSet/a"), make_pod("b", "4", "8Gi", owner="ReplicaSet/b"))
    sim.run_for(20)
    assert len(sim.provider.launched) == 1
    warnings = [e for e in sim.cluster.events if e.reason == "NodeAddLimitReached"]
    assert warnings and "maxNodes=1" in warnings[0].message


def test_new_nodes_carry_the_autoscaler_labels():
    sim = world(nodeLabels={"node.elotl.co/created-by": "luna"})
    add(sim, make_pod("p", "4", "8Gi", owner="ReplicaSet/p"))
    sim.run_for(70)
    (node,) = sim.cluster.nodes.values()
    assert node.labels["smart-autoscaler.io/created-by"] == "smart-autoscaler"
    assert node.labels["smart-autoscaler.io/node-type"] == "bin-select"
    assert node.labels["smart-autoscaler.io/capacity-type"] == "on-demand"
    assert node.labels["node.kubernetes.io/instance-type"] == "t3a.2xlarge"
    assert node.labels["node.elotl.co/created-by"] == "luna"


def test_idle_bin_select_node_is_reused():
    sim = world(**{"scaleDown.nodeUnneededDuration": "30m"})
    add(sim, make_pod("a", "16", "16Gi", 1, owner="Job/a", annotations=L4))
    sim.run_for(70)
    sim.cluster.remove_workload("Job/default/a")
    sim.step()
    add(sim, make_pod("b", "16", "16Gi", 1, owner="Job/b", annotations=L4))
    sim.run_for(20)
    assert launched_types(sim) == ["g6.8xlarge"]
    assert running(sim) == ["default/b"]


def test_dry_run_decides_and_reports_but_launches_nothing():
    sim = world()
    sim.reconciler.dry_run = True
    add(sim, make_pod("p", "4", "8Gi", owner="ReplicaSet/p"))
    sim.run_for(60)
    assert sim.provider.launched == []
    (event,) = sim.cluster.events_for("default/p", "DryRunScaleUp")
    assert event.event_type == "Normal" and "t3a.2xlarge" in event.message


# ---- SPEC §6: cost estimates for gated pods


def gated(name: str, *args, **kwargs):
    kwargs.setdefault("spec", {"schedulingGates": [{"name": "nodecostestimate"}]})
    return make_pod(name, *args, **kwargs)


def test_gated_pods_get_one_cost_estimate_each_in_the_fixed_format():
    sim = world(binSelectPodCpuThreshold=2, binSelectPodMemoryThreshold="8Gi")
    add(sim, *[gated(f"w-{i}", "16", "16Gi", 1, owner="ReplicaSet/w", annotations={ANN + "instance-gpu-skus": "L4,A10G,A10,L40S"}) for i in range(2)])
    sim.run_for(120)
    for key in ("default/w-0", "default/w-1"):
        (event,) = sim.cluster.events_for(key, "NodeCostEstimate")
        assert event.message == (
            "NodeCostEstimate: instance-type=g6.8xlarge capacity-type=on-demand cost-per-hour=2.0144 "
            "node-count=2 pod-count=2 mode=bin-select"
        )
        assert event.event_type == "Normal"
    assert sim.provider.launched == []


def test_cost_estimate_is_made_again_only_after_the_old_event_is_gone():
    sim = world()
    add(sim, gated("p", "4", "8Gi", owner="ReplicaSet/p"))
    sim.run_for(3500)
    assert len(sim.cluster.events_for("default/p", "NodeCostEstimate")) == 1
    sim.run_for(200)  # the event expired after an hour
    assert len(sim.cluster.events_for("default/p", "NodeCostEstimate")) == 2


def test_cost_estimate_survives_a_restart_without_a_duplicate():
    sim = world()
    add(sim, gated("p", "4", "8Gi", owner="ReplicaSet/p"))
    sim.step()
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.run_for(60)
    assert len(sim.cluster.events_for("default/p", "NodeCostEstimate")) == 1


def test_cost_estimate_says_unavailable_when_everything_is_backed_off():
    sim = world()
    for itype in ("p4d.24xlarge", "p4de.24xlarge"):
        sim.provider.inject_stockout(itype, "on-demand")
    add(sim, make_pod("trigger", "8", "32Gi", 1, owner="ReplicaSet/t", annotations={ANN + "instance-gpu-skus": "A100"}))
    sim.step()
    add(sim, gated("est", "8", "32Gi", 1, owner="ReplicaSet/e", annotations={ANN + "instance-gpu-skus": "A100"}))
    sim.step()
    (event,) = sim.cluster.events_for("default/est", "NodeCostEstimate")
    assert event.message.startswith('NodeCostEstimate: unavailable reason="all candidate offerings are backed off: ')


def test_a_pod_with_another_gate_gets_no_estimate():
    sim = world()
    add(sim, gated("p", "4", "8Gi", owner="ReplicaSet/p", spec={"schedulingGates": [{"name": "other"}]}))
    sim.run_for(30)
    assert sim.cluster.events_for("default/p") == []


# ---- SPEC §5: removing nodes


def test_idle_nodes_are_drained_and_removed_after_the_unneeded_duration():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m"})
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(120)
    sim.cluster.remove_workload("ReplicaSet/default/web")
    sim.run_for(290)
    assert len(sim.cluster.nodes) == 1
    sim.run_for(30)
    assert sim.cluster.nodes == {}
    assert sim.provider.list_instances() == []


def test_under_utilized_bin_pack_node_is_drained_and_its_pods_moved():
    """Two t3a.xlarge nodes at 31% each (1.2 of 3.92 CPUs): with a 0.5 threshold, after 5 minutes
    one is drained, its pod moves to the other, and one node remains."""
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    add(sim, *[make_pod(name, "1200m", "1Gi", owner=f"ReplicaSet/{name}") for name in ("a", "b", "c")])
    sim.run_for(70)
    add(sim, make_pod("d", "1200m", "1Gi", owner="ReplicaSet/d"))
    sim.run_for(70)
    assert len(sim.cluster.nodes) == 2
    sim.cluster.remove_workload("ReplicaSet/default/b")
    sim.cluster.remove_workload("ReplicaSet/default/c")
    sim.run_for(400)
    assert len(sim.cluster.nodes) == 1
    assert len(sim.cluster.evictions) == 1
    assert len(running(sim)) == 2


def test_pdb_allowing_no_disruption_keeps_the_node():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    add(sim, make_pod("db-0", "500m", "1Gi", owner="StatefulSet/db", labels={"app": "db"}))
    sim.cluster.add_pdb(PdbSpec("default", "db", {"app": "db"}, max_unavailable=0))
    sim.run_for(1200)
    assert len(sim.cluster.nodes) == 1
    assert sim.cluster.evictions == []


def test_eviction_refused_by_a_pdb_at_drain_time_aborts_the_drain():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    add(sim, make_pod("db-0", "500m", "1Gi", owner="StatefulSet/db", labels={"app": "db"}))
    sim.run_for(70)
    (node_name,) = sim.cluster.nodes
    # the PDB appears after the decision to drain was taken
    sim.run_for(240)
    sim.cluster.add_pdb(PdbSpec("default", "db", {"app": "db"}, max_unavailable=0))
    sim.run_for(60)
    assert node_name in sim.cluster.nodes
    assert sim.cluster.evictions == []
    assert all(t.key != "smart-autoscaler.io/draining" for t in sim.cluster.nodes[node_name].taints)


def test_do_not_evict_pod_keeps_its_node_until_it_ends():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    add(sim, make_pod("batch", "500m", "1Gi", owner="Job/batch", annotations={ANN + "do-not-evict": "true"}))
    sim.run_for(1200)
    assert len(sim.cluster.nodes) == 1 and sim.cluster.evictions == []
    sim.cluster.set_pod(replace(sim.cluster.pods["default/batch"], phase="Succeeded"))
    sim.run_for(320)
    assert sim.cluster.nodes == {}


def test_bare_pod_keeps_its_node():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    add(sim, make_pod("bare", "500m", "1Gi"))
    sim.run_for(1200)
    assert len(sim.cluster.nodes) == 1 and sim.cluster.evictions == []


def test_at_most_max_parallel_nodes_drain_at_a_time():
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m", "scaleDown.maxParallel": 2})
    add(sim, *[make_pod(f"p{i}", "4", "8Gi", owner=f"ReplicaSet/p{i}") for i in range(5)])
    sim.run_for(70)
    assert len(sim.cluster.nodes) == 5
    for i in range(5):
        sim.cluster.remove_workload(f"ReplicaSet/default/p{i}")
    sim.run_for(300)
    draining = [n for n in sim.cluster.nodes.values() if any(t.key == "smart-autoscaler.io/draining" for t in n.taints)]
    assert len(draining) + (5 - len(sim.cluster.nodes)) <= 2
    sim.run_for(60)
    assert sim.cluster.nodes == {}


# ---- restart safety


def test_crash_between_launch_and_registration_then_restart_gives_no_duplicate_and_no_leak(tmp_path):
    state = str(tmp_path / "cloud.json")
    sim = world(launch_delay=120)
    sim.provider = SimulatedProvider(sim.clock, "smart-autoscaler", launch_delay=120, on_boot=sim._boot, state_file=state)
    sim.reconciler.provider = sim.provider
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.step()
    assert len(sim.provider.launched) == 1
    # the daemon dies; a new one starts with an empty memory, the cloud is the same
    sim.provider = SimulatedProvider(sim.clock, "smart-autoscaler", launch_delay=120, on_boot=sim._boot, state_file=state)
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.run_for(200)
    assert len(sim.provider.launched) == 1 or len({i.instance_id for i in sim.provider.list_instances()}) == 1
    assert len(sim.provider.list_instances()) == 1
    assert len(running(sim)) == 3


def test_instance_that_never_became_a_node_is_terminated_after_a_restart(tmp_path):
    state = str(tmp_path / "cloud.json")
    sim = world(scaleUpTimeout="10m")
    sim.provider = SimulatedProvider(sim.clock, "smart-autoscaler", on_boot=sim._boot, state_file=state)
    sim.provider.inject_never_boots("t3a.xlarge")
    sim.reconciler.provider = sim.provider
    add(sim, *replicas("web", 2, "1", "1Gi"))
    sim.step()
    (leaked,) = sim.provider.list_instances()
    sim.provider = SimulatedProvider(sim.clock, "smart-autoscaler", on_boot=sim._boot, state_file=state)
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    sim.run_for(620)
    assert sim.provider.instance(leaked.instance_id).state == "terminated"


def test_same_need_planned_again_after_a_crash_reuses_the_launch_by_its_idempotency_key():
    """A new process whose first list of instances does not show the launch yet (the cloud's
    lists are eventually consistent) sends the same request id, and gets the same instance."""
    sim = world(launch_delay=120)
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.step()
    (first,) = sim.provider.launched
    sim.reconciler = Reconciler(sim.cluster, sim.provider, sim.catalog, sim.scenario.config, sim.clock)
    listing = sim.provider.list_instances
    sim.provider.list_instances = lambda: []
    sim.reconciler.reconcile_once()
    sim.provider.list_instances = listing
    assert [i.instance_id for i in sim.provider.launched] == [first.instance_id]
    assert sim.provider.launch_calls == 2


def test_registered_node_not_ready_yet_counts_as_room_so_nothing_is_launched_twice():
    """A kubelet's node carries node.kubernetes.io/not-ready:NoSchedule for its first seconds.
    Given a node that registered but reports Ready only 60 s later, when loops run meanwhile,
    then the pods wait for it and no second node is launched."""
    sim = world(launch_delay=30)
    sim.scenario.ready_delay = 60
    add(sim, *replicas("web", 3, "1", "1Gi"))
    sim.run_for(60)
    (node,) = sim.cluster.nodes.values()
    assert not node.ready
    sim.run_for(60)
    assert sim.provider.launch_calls == 1
    assert len(running(sim)) == 3


def test_registered_bin_select_node_is_used_for_its_pod_even_without_node_reuse():
    sim = world(launch_delay=30, reuseBinSelectNodes=False)
    sim.scenario.ready_delay = 60
    add(sim, make_pod("w", "16", "16Gi", 1, owner="ReplicaSet/w", annotations=L4))
    sim.run_for(150)
    assert sim.provider.launch_calls == 1
    assert running(sim) == ["default/w"]
