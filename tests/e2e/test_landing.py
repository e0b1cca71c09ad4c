"""Pods land on the nodes launched for them, and a launch that cannot help is not repeated (issue 20).

The daemon (`run --provider simulated`, loopPeriod 2s, launch delay 3s, nodeUnneededDuration
15s) against the real kube-apiserver (with the ExtendedResourceToleration admission plugin,
as EKS and GKE run it), kube-scheduler and kwok. The simulated kubelet advertises GPUs always
and `aws.amazon.com/neuron` only when the state file says the Neuron device plugin runs.

The mixed workload: 3 pods with hostPort 80, 4 pods spread one per host (DoNotSchedule), one
pod asking for 1 NVIDIA GPU, one for 1 Neuron chip. `preview` plans it on 6 nodes (4
t3a.xlarge bin-pack, g4dn.xlarge, inf1.xlarge).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
import sys
import time

import pytest
import yaml

from tests.e2e.daemon_helpers import (
    MANAGED_LABEL,
    PAUSE_IMAGE,
    REPO,
    events_for,
    node_ready,
    read_state,
    running,
    unschedulable,
)

pytestmark = pytest.mark.e2e

NEURON = "aws.amazon.com/neuron"
GPU = "nvidia.com/gpu"


def _container(cpu: str, memory: str, limits: dict | None = None, ports: list | None = None) -> dict:
    container = {"name": "main", "image": PAUSE_IMAGE,
                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if limits:
        container["resources"]["limits"] = limits
    if ports:
        container["ports"] = ports
    return container


def _pod(name: str, limits: dict | None = None, managed: bool = True) -> dict:
    labels = {"app": name, **({MANAGED_LABEL: "true"} if managed else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [_container("500m", "1Gi", limits)]}}


def _deployment(name: str, replicas: int, ports: list | None = None, spread_key: str | None = None) -> dict:
    spec: dict = {"terminationGracePeriodSeconds": 0, "containers": [_container("500m", "256Mi", ports=ports)]}
    if spread_key:
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": spread_key, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": name}},
        }]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name, MANAGED_LABEL: "true"}}, "spec": spec}},
    }


def mixed_workload(spread_key: str = "kubernetes.io/hostname") -> list[dict]:
    return [
        _deployment("ports", 3, ports=[{"containerPort": 80, "hostPort": 80}]),
        _deployment("spread", 4, spread_key=spread_key),
        _pod("gpu", {GPU: "1"}),
        _pod("neuron", {NEURON: "1"}),
    ]


def as_admitted(obj: dict) -> dict:
    """The object as the API server stores it: kube-apiserver's ExtendedResourceToleration
    admission plugin (on in this control plane, as on EKS and GKE) gives a pod that requests an
    extended resource the toleration `<resource>:Exists:NoSchedule`; `preview` reads files, which
    no admission plugin has seen."""
    if obj["kind"] != "Pod":
        return obj
    spec = obj["spec"]
    wanted = sorted({name for c in spec["containers"] for name in (c.get("resources", {}).get("limits") or {}) if "/" in name})
    tolerations = [{"key": name, "operator": "Exists", "effect": "NoSchedule"} for name in wanted]
    return {**obj, "spec": {**spec, "tolerations": list(spec.get("tolerations", [])) + tolerations}} if tolerations else obj


def planned_nodes(objects: list[dict], config: dict, tmp_path) -> int:
    """How many nodes `preview` plans for the workload as the API server stores it (the plan's own count)."""
    manifests = tmp_path / "workload.yaml"
    manifests.write_text(yaml.safe_dump_all([as_admitted(obj) for obj in objects]))
    options = tmp_path / "preview-config.yaml"
    options.write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [sys.executable, "-m", "autoscaler", "preview", "-f", str(manifests), "--config", str(options), "-o", "json"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)["targets"][0]["node_count"]


def create(env, objects: list[dict]) -> None:
    for obj in objects:
        if obj["kind"] == "Deployment":
            env.apps.create_namespaced_deployment(env.namespace, obj)
        else:
            env.core.create_namespaced_pod(env.namespace, obj)


def run_device_plugin(env, resource: str) -> None:
    """The simulated cluster runs this device plugin: nodes of types carrying it advertise it."""
    state = read_state(env.state_file)
    state["faults"]["device_plugins"] = [resource]
    env.state_file.write_text(json.dumps(state))


def terminated(env) -> list[dict]:
    return [i for i in env.instances() if i["state"] not in ("pending", "running")]


def all_running(env, count: int):
    pods = env.core.list_namespaced_pod(env.namespace).items
    return len(running(pods)) == count and pods


def pod_states(env) -> list[tuple]:
    """(name, node, phase) of the namespace's pods, for a timeout's message."""
    pods = env.core.list_namespaced_pod(env.namespace).items
    return [(p.metadata.name, p.spec.node_name, p.status.phase) for p in pods]


# ---------------------------------------------------------------------------------------------


def test_neuron_pod_without_its_device_plugin_gets_one_launch_and_one_warning_naming_the_plugin(autoscaler):
    """No Neuron device plugin: the pod gets one inf1.xlarge, tainted aws.amazon.com/neuron=
    present:NoSchedule (the admission plugin made the pod tolerate it); after devicePluginWait
    one LaunchedNodeNotUsed Warning names the resource and the plugin; no second node follows
    (not inf1.2xlarge, inf2, trn1... one after another); the pod waits with a reason."""
    env = autoscaler
    daemon = env.start({"devicePluginWait": "8s"})
    env.core.create_namespaced_pod(env.namespace, _pod("neuron", {NEURON: "1"}))
    [instance] = env.wait(lambda: env.live_instances(), 20, "a launch for the neuron pod")
    assert instance["instance_type"] == "inf1.xlarge"
    node = env.wait(lambda: next(iter(env.managed_nodes()), None), 20, "the inf1.xlarge registered")
    assert any(t.key == NEURON and t.value == "present" and t.effect == "NoSchedule" for t in node.spec.taints or [])
    [warning] = env.wait(lambda: events_for(env.core, env.namespace, name="neuron", reason="LaunchedNodeNotUsed"),
                         40, "a LaunchedNodeNotUsed Warning")
    assert warning.type == "Warning"
    assert f"no node advertises {NEURON} after registration" in warning.message
    assert "is the Neuron device plugin DaemonSet running?" in warning.message
    waiting = env.wait(lambda: events_for(env.core, env.namespace, name="neuron", reason="NodeAddRequestWarning"),
                       20, "the pod waiting with a reason")
    assert f"waiting for a node that advertises {NEURON}" in waiting[-1].message
    assert "Neuron device plugin" not in waiting[-1].message  # one Warning names the plugin

    def one_launch_one_warning():
        assert len(env.instances()) == 1
        assert len(events_for(env.core, env.namespace, name="neuron", reason="LaunchedNodeNotUsed")) == 1

    env.hold(17, one_launch_one_warning)  # past the idle node's removal (nodeUnneededDuration 15s)
    assert daemon.metric("smart_autoscaler_launches_unused_total", reason="device_plugin_missing") == 1


def test_neuron_pod_with_the_plugin_runs_on_the_first_node_and_targeting_holds_with_the_daemon_down(autoscaler):
    """With the plugin's resource advertised, the neuron pod runs on the one node launched for
    it. Then, with the daemon stopped, the taint still steers: a new neuron pod lands on the
    node (the admission plugin gives it the toleration), a small pod does not and waits with
    the scheduler's readable reason; with the daemon back, the small pod gets a node of its own."""
    env = autoscaler
    run_device_plugin(env, NEURON)
    daemon = env.start()
    env.core.create_namespaced_pod(env.namespace, _pod("neuron", {NEURON: "1"}))
    pods = env.wait(lambda: all_running(env, 1), 30, "the neuron pod Running", describe=lambda: pod_states(env))
    [instance] = env.instances()
    assert instance["instance_type"] == "inf1.xlarge"
    assert pods[0].spec.node_name == f"sim-{instance['instance_id']}"

    daemon.stop()
    env.killed(daemon)
    env.core.delete_namespaced_pod("neuron", env.namespace, grace_period_seconds=0)
    env.wait(lambda: not env.core.list_namespaced_pod(env.namespace).items, 20, "the neuron pod gone")
    env.core.create_namespaced_pod(env.namespace, _pod("small"))
    env.core.create_namespaced_pod(env.namespace, _pod("neuron-2", {NEURON: "1"}))
    second = env.wait(lambda: (p := env.core.read_namespaced_pod("neuron-2", env.namespace)).spec.node_name and p,
                      20, "the second neuron pod placed with the daemon down")
    assert second.spec.node_name == f"sim-{instance['instance_id']}"
    small = env.wait(lambda: unschedulable(p := env.core.read_namespaced_pod("small", env.namespace)) and p,
                     20, "the small pod unschedulable")
    assert "had untolerated taint" in small.status.conditions[0].message  # kube-scheduler's own words

    env.start(name="daemon-2")
    small = env.wait(lambda: (p := env.core.read_namespaced_pod("small", env.namespace)).spec.node_name and p,
                     30, "the small pod on a node of its own")
    assert small.spec.node_name != second.spec.node_name
    assert len(env.instances()) == 2


def test_upgrade_from_a_release_without_device_taints_keeps_its_nodes_and_taints_new_ones(autoscaler):
    """An accelerator node made by a release without device taints (registered untainted) is
    adopted as it is: not removed while its GPU pod runs, not re-tainted; the next GPU node
    launched carries nvidia.com/gpu=present:NoSchedule."""
    from providers.base import LaunchRequest
    from autoscaler.nodelabels import node_labels
    from autoscaler.sim.kubelet import node_manifest
    from autoscaler.sim.cloud_state import request_to_json
    from pricing.catalog import region_catalog
    from providers.base import TAG_CLUSTER, TAG_REQUEST, TAG_ROLE, Instance

    env = autoscaler
    itype = next(o.instance_type for o in region_catalog("aws", "us-east-1").offerings
                 if o.instance_type.name == "g4dn.xlarge")
    request = LaunchRequest("old-release-1", itype, "on-demand", ("us-east-1a",),
                            labels=node_labels("aws", "us-east-1", itype, "on-demand", "", "bin-select", {}))
    state = read_state(env.state_file)
    instance_id = f"i-{state['next_id']:08d}"
    instance = Instance(instance_id, f"sim:///us-east-1a/{instance_id}", "g4dn.xlarge", "on-demand", "us-east-1a",
                        "running", time.time() - 600, "old-release-1",
                        {TAG_CLUSTER: "smart-autoscaler", TAG_REQUEST: "old-release-1", TAG_ROLE: "bin-select"})
    state["next_id"] += 1
    state["launches"].append({"instance": asdict(instance), "request": request_to_json(request), "boot_at": None})
    state["requests"]["old-release-1"] = instance_id
    env.state_file.write_text(json.dumps(state))
    env.core.create_node(node_manifest(instance, request, f"sim-{instance_id}"))
    # Bound by hand, as the old release's pod was: kwok runs it once it keeps the node (Ready);
    # a pod bound to a node kwok has not taken yet can wait for kwok's next pass over the node.
    env.wait(lambda: node_ready(env.core.read_node(f"sim-{instance_id}")), 60, "the old release's node Ready")
    env.core.create_namespaced_pod(env.namespace, {**_pod("gpu-old", {GPU: "1"}),
                                                    "spec": {**_pod("gpu-old", {GPU: "1"})["spec"],
                                                             "nodeName": f"sim-{instance_id}"}})
    env.wait(lambda: all_running(env, 1), 60, "the old release's GPU pod Running", describe=lambda: pod_states(env))

    env.start()
    env.core.create_namespaced_pod(env.namespace, _pod("gpu-new", {GPU: "1"}))
    env.wait(lambda: all_running(env, 2), 30, "the new GPU pod Running", describe=lambda: pod_states(env))
    old = env.core.read_node(f"sim-{instance_id}")
    assert not any(t.key == GPU for t in old.spec.taints or [])
    [new] = [n for n in env.managed_nodes() if n.metadata.name != old.metadata.name]
    assert any(t.key == GPU and t.value == "present" for t in new.spec.taints or [])
    def both_kept():
        assert not terminated(env) and len(env.instances()) == 2

    env.hold(6, both_kept)


def test_mixed_workload_settles_on_the_planned_nodes_without_removals(autoscaler, tmp_path):
    """Default scale-down settings: every pod runs on no more nodes than the plan's own count
    plus one, and no node is removed (the small pods never take the GPU and Neuron nodes)."""
    env = autoscaler
    run_device_plugin(env, NEURON)
    objects = mixed_workload()
    planned = planned_nodes(objects, {"cloud": "aws", "region": "us-east-1"}, tmp_path)
    assert planned == 6
    daemon = env.start()
    create(env, objects)
    env.wait(lambda: all_running(env, 9), 60, "the mixed workload Running", describe=lambda: pod_states(env))

    def settled():
        assert len(env.instances()) <= planned + 1
        assert not terminated(env)
        assert len(running(env.core.list_namespaced_pod(env.namespace).items)) == 9

    env.hold(18, settled)  # past nodeUnneededDuration (15s): nothing idle, nothing removed
    assert daemon.metric("smart_autoscaler_launches_unused_total") == 0


def test_mixed_workload_with_a_utilization_threshold_and_a_zone_spread_settles_within_two_minutes(autoscaler, tmp_path):
    """binPackNodeUtilizationThreshold 0.5 and the spread pods spread across zones: at most two
    nodes are removed, and nothing is launched after the first two minutes."""
    env = autoscaler
    run_device_plugin(env, NEURON)
    objects = mixed_workload(spread_key="topology.kubernetes.io/zone")
    env.start({"scaleDown.binPackNodeUtilizationThreshold": 0.5})
    started = time.time()
    create(env, objects)
    env.wait(lambda: all_running(env, 9), 60, "the mixed workload Running", describe=lambda: pod_states(env))
    remaining = 130 - (time.time() - started)
    env.hold(max(remaining, 0), lambda: None)
    assert len(terminated(env)) <= 2
    late = [i for i in env.instances() if i["launched_at"] > started + 120]
    assert not late, f"launched after the first two minutes: {late}"
    env.wait(lambda: all_running(env, 9), 30, "the mixed workload Running at the end", describe=lambda: pod_states(env))
