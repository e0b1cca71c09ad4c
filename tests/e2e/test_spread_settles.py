"""A mixed workload settles on the real control plane with bin-pack scale-down at 50% (issue 18).

kube-scheduler v1.35 places the pods; the daemon (`run --provider simulated`, loopPeriod 2s,
nodes register 3 s after launch) plans and drains with scaleDown.binPackNodeUtilizationThreshold
0.5 and nodeUnneededDuration 6s. Workload: 3 replicas binding hostPort 8080 (250m), 6 replicas
with a zone topology spread (maxSkew 1, DoNotSchedule, 250m), one pod of 1 nvidia.com/gpu. The
nodes are underused, so every few seconds scale-down asks whether a node's pods fit elsewhere;
the planner and scale-down count spread domains by one rule (autoscaler/placement/spread.py,
a draining node still a domain as kube-scheduler counts it), so no drain leaves pods the
scheduler keeps pending and no node is launched again for them: after the first minute the
set of launches does not change (held for 60 s: ten unneeded periods).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.daemon_helpers import managed_deployment, pods_of, running

pytestmark = pytest.mark.e2e

ZONE = "topology.kubernetes.io/zone"


def test_host_ports_zone_spread_and_a_gpu_pod_settle_with_no_launch_after_the_first_minute(
    autoscaler, apps_v1, core_v1, namespace
):
    env = autoscaler
    daemon = env.start({"scaleDown.binPackNodeUtilizationThreshold": 0.5, "scaleDown.nodeUnneededDuration": "6s"})
    began = time.monotonic()
    ports = managed_deployment("ports", 3, "250m", "256Mi")
    ports["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    spread = managed_deployment("spread", 6, "250m", "256Mi", topologySpreadConstraints=[{
        "maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}},
    }])
    gpu = managed_deployment("gpu", 1, "1", "1Gi", tolerations=[
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    gpu["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "1"}
    for deployment in (ports, spread, gpu):
        apps_v1.create_namespaced_deployment(namespace, deployment)

    def all_running() -> bool:
        counts = [len(running(pods_of(core_v1, namespace, app))) for app in ("ports", "spread", "gpu")]
        return counts == [3, 6, 1]

    env.wait(all_running, 60, "all 10 pods Running")
    time.sleep(max(0.0, 60 - (time.monotonic() - began)))  # a minute to settle (drains included)
    settled = len(env.instances())

    def no_new_launch() -> None:
        assert len(env.instances()) == settled, "a node was launched after the workload settled"

    env.hold(60, no_new_launch)  # ten nodeUnneededDuration periods
    assert all_running()
    assert "Traceback" not in daemon.log_text()
