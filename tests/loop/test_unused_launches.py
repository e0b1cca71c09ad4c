"""A launch that did not help says why and is not repeated down the price list (issue 20).

Numbers: loopPeriod 10s, the simulated cloud boots in 60 s, devicePluginWait 1m (default).
A pod asking for `aws.amazon.com/neuron: 1` gets an inf1.xlarge ($0.228/h), the cheapest AWS
type with a Neuron chip; the simulated kubelet advertises the chip only when the Neuron device
plugin is installed (`install_device_plugin`), as on EKS where it is a DaemonSet of its own.
"""

from __future__ import annotations

from autoscaler.podspec import pod_from_manifest
from pricing.types import Taint
from tests.helpers import pod_manifest
from tests.loop.test_reconcile import add, launched_types, running, world

NEURON = "aws.amazon.com/neuron"
ADMITTED = {"tolerations": [{"key": NEURON, "operator": "Exists", "effect": "NoSchedule"}]}


def neuron_pod(name: str, *, admitted: bool = True, owner: str = "ReplicaSet/infer"):
    """A pod asking for one Neuron chip, as stored after ExtendedResourceToleration (admitted)."""
    manifest = pod_manifest(name, "1", "2Gi", owner=owner, spec=ADMITTED if admitted else None)
    manifest["spec"]["containers"][0]["resources"]["requests"][NEURON] = "1"
    return pod_from_manifest(manifest)


def unused_total(sim, reason: str) -> float:
    return sim.reconciler.metrics.registry.get_sample_value("smart_autoscaler_launches_unused_total", {"reason": reason}) or 0.0


def test_neuron_pod_without_its_device_plugin_gets_one_launch_one_warning_and_no_second_launch_in_the_hour():
    """Given no Neuron device plugin, when a pod asks for a Neuron chip, then one inf1.xlarge is
    launched; after devicePluginWait the pod gets one LaunchedNodeNotUsed Warning naming the
    resource and the plugin; in the hour nothing else is launched (not inf1.2xlarge, inf2, trn1
    ... one after another); the unused node is removed; the launch is counted by reason."""
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m"})
    add(sim, neuron_pod("infer-0"))
    sim.run_for(3600)
    assert launched_types(sim) == ["inf1.xlarge"]
    (warning,) = sim.cluster.events_for("default/infer-0", "LaunchedNodeNotUsed")
    assert warning.event_type == "Warning"
    assert (
        f"no node advertises {NEURON} after registration (scheduler: 0/1 nodes are available: 1 Insufficient "
        f"{NEURON}.): is the Neuron device plugin DaemonSet running?"
    ) in warning.message
    assert warning.time - sim.provider.launched[0].launched_at >= 60 + 60  # boot, then devicePluginWait
    assert sim.cluster.nodes == {}
    waiting = sim.cluster.events_for("default/infer-0", "NodeAddRequestWarning")
    assert waiting and f"waiting for a node that advertises {NEURON}" in waiting[-1].message
    assert unused_total(sim, "device_plugin_missing") == 1


def test_with_the_neuron_device_plugin_running_the_pod_runs_on_the_first_node_tainted_for_neuron_pods():
    """Given the plugin installed, the pod runs on the one inf1.xlarge launched for it, and that
    node is tainted aws.amazon.com/neuron=present:NoSchedule (the pod tolerates it, as the
    ExtendedResourceToleration admission plugin made it): a small pod never lands there."""
    sim = world()
    sim.provider.install_device_plugin(NEURON)
    add(sim, neuron_pod("infer-0"))
    sim.run_for(120)
    assert launched_types(sim) == ["inf1.xlarge"]
    assert running(sim) == ["default/infer-0"]
    (node,) = sim.cluster.nodes.values()
    assert Taint(NEURON, "present", "NoSchedule") in node.taints
    assert sim.cluster.events_for("default/infer-0", "LaunchedNodeNotUsed") == []


def test_a_pod_that_does_not_carry_the_toleration_gets_an_untainted_node():
    """Where ExtendedResourceToleration is not enabled (the pod's stored spec has no toleration),
    the node is launched without the device taint: a taint nobody tolerates would strand it."""
    sim = world()
    sim.provider.install_device_plugin(NEURON)
    add(sim, neuron_pod("infer-0", admitted=False))
    sim.run_for(120)
    assert running(sim) == ["default/infer-0"]
    (node,) = sim.cluster.nodes.values()
    assert all(t.key != NEURON for t in node.taints)


def test_the_plugin_installed_later_lets_the_waiting_pod_set_launch_again():
    """The pod set waits for its plugin, not for the hour, once a node advertises the device:
    given the first launch found no plugin, when the plugin is installed and another neuron node
    registers with the chip, then the waiting set may launch and its pod runs."""
    sim = world(**{"scaleDown.nodeUnneededDuration": "5m"})
    add(sim, neuron_pod("infer-0"))
    sim.run_for(300)
    assert launched_types(sim) == ["inf1.xlarge"]
    sim.provider.install_device_plugin(NEURON)
    add(sim, neuron_pod("other-0", owner="ReplicaSet/other"))  # another set, its node advertises the chip
    sim.run_for(300)
    assert sorted(running(sim)) == ["default/infer-0", "default/other-0"]


def test_past_two_unused_launches_in_an_hour_the_pod_set_waits_with_a_warning():
    """Given every type the pod may use registers with a taint it does not tolerate (an image
    that taints its nodes), when the pod is launched for, then each unused launch backs off its
    type, and after 2 (maxUnusedLaunchesPerHour) the set waits: an UnusedLaunchLimit Warning
    says why and for how long, and no third node is launched within the hour."""
    sim = world(**{"scaleDown.nodeUnneededDuration": "1m"})
    for name in ("t3a.xlarge", "t3.xlarge", "m5a.xlarge", "m6a.xlarge", "c5a.xlarge"):
        sim.provider.inject_registration_taint(name, Taint("example.com/image", "legacy", "NoSchedule"))
    add(sim, pod_from_manifest(pod_manifest("p", "3", "1Gi", owner="ReplicaSet/p",
                                            annotations={"smart-autoscaler.io/instance-type-regexp": r"^(t3a?|m5a|m6a|c5a)\.xlarge$"})))
    sim.run_for(3000)
    assert len(sim.provider.launched) == 2
    assert len(sim.cluster.events_for("default/p", "LaunchedNodeNotUsed")) == 2
    limit, *repeats = sim.cluster.events_for("default/p", "UnusedLaunchLimit")  # repeated every 10 min
    assert len(repeats) <= 3000 // 600
    assert "2 node(s) launched for this pod set in the last hour were not used (untolerated_taint)" in limit.message
    assert "maxUnusedLaunchesPerHour" in limit.message
    assert unused_total(sim, "untolerated_taint") == 2


def test_a_node_waiting_for_its_device_plugin_is_not_removed_before_the_wait_ends():
    """nodeUnneededDuration 20s, shorter than devicePluginWait 2m: the idle inf1.xlarge is kept
    while its plugin may still start, then reported, removed, and nothing else launched."""
    sim = world(loopPeriod="2s", devicePluginWait="2m", **{"scaleDown.nodeUnneededDuration": "20s"})
    add(sim, neuron_pod("infer-0"))
    sim.run_for(150)
    assert len(sim.cluster.nodes) == 1  # registered at 60 s, kept through the 2m wait
    sim.run_for(600)
    assert launched_types(sim) == ["inf1.xlarge"]
    assert sim.cluster.nodes == {}
    assert len(sim.cluster.events_for("default/infer-0", "LaunchedNodeNotUsed")) == 1


def test_a_node_deleted_while_waiting_for_its_device_plugin_counts_as_the_plugin_missing():
    """The node waiting for its devices is deleted by hand before devicePluginWait ends: it never
    advertised the chip, so the set is reported and waits, instead of a new launch."""
    sim = world()
    add(sim, neuron_pod("infer-0"))
    sim.run_for(90)
    (name,) = sim.cluster.nodes
    sim.cluster.delete_node(name)
    sim.run_for(600)
    assert launched_types(sim) == ["inf1.xlarge"]
    (warning,) = sim.cluster.events_for("default/infer-0", "LaunchedNodeNotUsed")
    assert "is the Neuron device plugin DaemonSet running?" in warning.message


def test_small_pods_planned_into_a_gpu_nodes_spare_room_keep_it_while_the_node_boots():
    """Given a 1-GPU worker (6 CPU) and three 500m web pods pending together, the plan puts the
    web pods in the GPU node's spare room (kube-scheduler would: it prefers the emptiest node
    that fits). While that node boots (60 s), the next loops keep that room for them: no
    bin-pack node is launched beside it, and all four run on the one node."""
    from tests.helpers import make_pod, replicas
    from tests.loop.test_reconcile import add, running, world

    sim = world()
    add(sim, make_pod("worker", "6", "24Gi", gpu=1, owner="Deployment/worker"), *replicas("web", 3, "500m", "1Gi"))
    sim.run_for(200)
    assert [i.instance_type for i in sim.provider.launched] == ["g4dn.2xlarge"]
    assert len(running(sim)) == 4 and len(sim.cluster.nodes) == 1
