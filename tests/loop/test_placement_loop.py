"""The loop plans the way the scheduler places, and scale-down never drains a node whose pods
would go pending: hostPort and anti-affinity pods on underused nodes stay put (no flapping)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.scenario import Scenario, Simulation
from tests.helpers import replicas

HOSTNAME = "kubernetes.io/hostname"


def world(**options) -> Simulation:
    config = config_from_mapping(options)
    scenario = Scenario("test", "aws", "us-east-1", 3600.0, 10.0, config, 60.0, [], Path("."))
    return Simulation(scenario, track_cheapest=False)


def add(sim: Simulation, pods) -> None:
    for pod in pods:
        sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))


def host_port_spec(port: int = 80) -> dict:
    return {
        "containers": [
            {
                "name": "web",
                "image": "nginx",
                "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}},
                "ports": [{"containerPort": port, "hostPort": port}],
            }
        ]
    }


def anti_affinity_spec() -> dict:
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}}
                ]
            }
        }
    }


UNDERUSED = {"scaleDown.nodeUnneededDuration": "2m", "scaleDown.binPackNodeUtilizationThreshold": 0.5}


def _run_and_check(sim: Simulation) -> None:
    sim.run_for(30 * 60)
    running = [p for p in sim.cluster.pods.values() if p.node_name and p.phase == "Running"]
    assert len(running) == 3
    assert len({p.node_name for p in running}) == 3
    assert len(sim.provider.launched) == 3
    assert len(sim.cluster.nodes) == 3
    assert sim.cluster.evictions == []
    assert sim.cluster.deleted_nodes == []


def test_three_host_port_pods_get_three_nodes_and_none_is_drained():
    """Given three pods with hostPort 80 (200m each) and scale-down of bin-pack nodes under 50%
    utilization after 2 minutes, when 30 simulated minutes pass, then exactly 3 nodes were
    launched, each runs one pod, and nothing was evicted or removed: the pods would not fit
    elsewhere (the port is taken on every other node)."""
    sim = world(**UNDERUSED)
    add(sim, replicas("web", 3, "200m", "128Mi", labels={"app": "web"}, spec=host_port_spec()))
    _run_and_check(sim)


def test_three_anti_affine_pods_get_three_nodes_and_none_is_drained():
    """The same with required pod anti-affinity on the hostname against their own label."""
    sim = world(**UNDERUSED)
    add(sim, replicas("web", 3, "200m", "128Mi", labels={"app": "web"}, spec=anti_affinity_spec()))
    _run_and_check(sim)


def test_pods_on_different_host_ports_share_one_node():
    """Given three pods on ports 80, 81 and 82, then one node holds them all and stays."""
    sim = world(**UNDERUSED)
    pods = []
    for port in (80, 81, 82):
        pods += replicas(f"web{port}", 1, "200m", "128Mi", spec=host_port_spec(port))
    add(sim, pods)
    sim.run_for(30 * 60)
    running = [p for p in sim.cluster.pods.values() if p.node_name and p.phase == "Running"]
    assert len(running) == 3 and len({p.node_name for p in running}) == 1
    assert len(sim.provider.launched) == 1 and sim.cluster.evictions == []


def test_seven_pods_on_two_host_ports_run_on_four_nodes():
    """Cost check against the simulator's scheduler: four pods on port 80 and three on port 81
    need four nodes (one port-80 pod per node); four are launched, and all seven run on them."""
    sim = world(**UNDERUSED)
    add(sim, replicas("a", 4, "200m", "128Mi", spec=host_port_spec(80)) + replicas("b", 3, "200m", "128Mi", spec=host_port_spec(81)))
    sim.run_for(10 * 60)
    running = [p for p in sim.cluster.pods.values() if p.node_name and p.phase == "Running"]
    assert len(running) == 7 and len({p.node_name for p in running}) == 4
    assert len(sim.provider.launched) == 4 and sim.cluster.evictions == []


def test_six_zone_spread_pods_run_two_per_zone():
    """Six pods spread over three allowed zones (maxSkew 1): the launches land in the zones the
    plan chose, and the simulator's scheduler (the same rules) runs two pods in each zone."""
    sim = world()
    spec = {
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app": "web"}}}
        ],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                   "values": ["us-east-1a", "us-east-1b", "us-east-1c"]}]}]}}},
    }
    add(sim, replicas("web", 6, "500m", "512Mi", labels={"app": "web"}, spec=spec))
    sim.run_for(5 * 60)
    running = [p for p in sim.cluster.pods.values() if p.node_name and p.phase == "Running"]
    zones = [sim.cluster.nodes[p.node_name].labels["topology.kubernetes.io/zone"] for p in running]
    assert sorted(zones) == ["us-east-1a"] * 2 + ["us-east-1b"] * 2 + ["us-east-1c"] * 2
    assert len(sim.provider.launched) == 3
