"""One spread-domain rule for scale-up and scale-down: a mixed workload settles (issue 18).

Kubernetes' PodTopologySpread counts a domain for every node that passes the constraint's
node inclusion policies (nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore by default), a
cordoned node included: a node being drained is still a zone with its pods gone until it is
deleted (kube-scheduler podtopologyspread, "Node inclusion policies"; the concept page
"Pod Topology Spread Constraints"). Scale-down must count domains the same way as the planner
and the scheduler, or it drains a node whose pods then cannot be placed and the planner
launches for them again.

Numbers: loopPeriod 10 s, the simulated cloud boots nodes in 60 s, scaleDown.nodeUnneededDuration
1 min, binPackNodeUtilizationThreshold 0.5. Workload: 3 replicas binding hostPort 8080
(250m each), 6 replicas spread over zones with maxSkew 1 (250m each), one pod asking for a GPU.
"""

from __future__ import annotations

from tests.helpers import make_pod, replicas
from tests.loop.test_reconcile import add, running, world

SPREAD = {
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }
    ]
}
HOST_PORT = {"containers": [{"name": "main", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 8080}],
                             "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]}
GPU = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}


def mixed_world():
    sim = world(
        launch_delay=60,
        **{"scaleDown.binPackNodeUtilizationThreshold": 0.5, "scaleDown.nodeUnneededDuration": "1m"},
    )
    add(sim, *replicas("ports", 3, "250m", "256Mi", labels={"app": "ports"}, spec=HOST_PORT))
    add(sim, *replicas("spread", 6, "250m", "256Mi", labels={"app": "spread"}, spec=SPREAD))
    add(sim, make_pod("gpu-0", "1", "2Gi", gpu=1, owner="ReplicaSet/gpu", spec=GPU))
    return sim


def test_a_mixed_workload_with_bin_pack_scale_down_at_half_utilization_settles_within_two_minutes():
    sim = mixed_world()
    sim.run_for(120)
    settled = len(sim.provider.launched)
    sim.run_for(3600)
    assert len(sim.provider.launched) == settled, [i.instance_type for i in sim.provider.launched[settled:]]
    assert len(running(sim)) == 10
