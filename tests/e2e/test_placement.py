"""The one placement simulation against the real control plane: what the planner plans is what
kube-scheduler does, and scale-down never drains a node whose pods would go pending.

Three pods with hostPort 80 (200m each) need three nodes: the real scheduler's NodePorts
filter puts one per node. With scale-down of bin-pack nodes under 50% utilization after 4 s,
the autoscaler must keep all three (each pod would find its port taken on the others), and
launch nothing more: no flapping.
"""

from __future__ import annotations

import pytest

from tests.e2e.daemon_helpers import managed_deployment, pods_of, running

pytestmark = pytest.mark.e2e

LOOP = 2.0
UNNEEDED = 4.0


def test_three_host_port_pods_get_three_nodes_and_none_is_drained(autoscaler, core_v1, apps_v1, namespace):
    env = autoscaler
    env.start({"scaleDown.nodeUnneededDuration": f"{UNNEEDED:g}s", "scaleDown.binPackNodeUtilizationThreshold": 0.5})
    ports = [{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}]
    deployment = managed_deployment("web", 3, "200m")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = ports
    apps_v1.create_namespaced_deployment(namespace, deployment)

    pods = env.wait(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3 and p, 60,
                    "3 hostPort pods Running")
    nodes = {p.spec.node_name for p in pods}
    assert len(nodes) == 3
    assert {n.metadata.name for n in env.managed_nodes()} == nodes
    names = {p.metadata.name for p in pods}

    def stays():
        assert {n.metadata.name for n in env.managed_nodes()} == nodes
        assert len(env.instances()) == 3
        assert {p.metadata.name for p in running(pods_of(core_v1, namespace, "web"))} == names

    # Long past nodeUnneededDuration: every node is "underused" (5%), none may be drained.
    env.hold(UNNEEDED + 5 * LOOP, stays)
