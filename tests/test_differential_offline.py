"""The differential tier's workloads (tests/differential/workloads.py) planned without a
cluster: whatever the pod-spec surface, the planner answers, with a node or a reason for every
pod, and never raises (one bad pod must not stop a loop that serves every pod in the cluster).
The placements themselves are checked against kube-scheduler in tests/e2e/test_differential.py."""

from __future__ import annotations

from autoscaler.config import config_from_mapping
from autoscaler.planner import plan
from autoscaler.podspec import pod_from_manifest
from pricing.catalog import region_catalog
from tests.differential.workloads import CONFIG, offline_pods, over_workloads

CONFIGURED = config_from_mapping(CONFIG)
CATALOG = region_catalog(CONFIGURED.cloud, CONFIGURED.region)


def test_every_generated_workload_gets_a_node_or_a_reason_for_each_pod():
    @over_workloads(80, 18)
    def check(workload):
        pods = [pod_from_manifest(p) for p in offline_pods(workload)]
        ungated = {pod.key for pod in pods if not pod.scheduling_gates}
        result = plan([pod for pod in pods if pod.key in ungated], CATALOG, CONFIGURED)
        answered = [key for node in result.new_nodes for key in node.pods] + [u.pod for u in result.unplaceable]
        assert sorted(answered) == sorted(ungated)
        assert all(u.reason for u in result.unplaceable)

    check()
