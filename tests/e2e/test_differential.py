"""The differential tier (DESIGN.md tier 5): generated workloads planned by the planner, the
planned nodes created as kwok Nodes, the pods placed by the real kube-scheduler (v1.35). Every
difference is a planner bug (tests/differential/harness.py says what must hold). A failure
prints the shrunk workload as a manifest to run `smart-autoscaler preview -f` on.

When kube-scheduler binds a pod to another planned node than the plan's (every one fits it;
its default LeastAllocated scoring prefers the emptiest), what follows is its choice, not the
plan's: such workloads are counted and printed, not failed. Where it followed the plan's
assignment, any difference fails the test.

CI runs a fixed seed and a bounded number of workloads; `python3 benchmarks/bench_differential.py
--workloads 2000` runs many more on a control plane of its own and prints the counts.
"""

from __future__ import annotations

import sys

import pytest

from tests.differential.harness import Differential, Tally
from tests.differential.workloads import over_workloads

WORKLOADS = 24  # about 3.5 s each on an idle 2-core machine (85 s)


@pytest.fixture(scope="module")
def differential(k8s_client, core_v1, apps_v1):
    import kubernetes

    return Differential(core_v1, apps_v1, kubernetes.client.NodeV1Api(k8s_client), k8s_client)


def test_the_plan_is_what_kube_scheduler_does(differential):
    tally = Tally()

    @over_workloads(WORKLOADS, 18)
    def check(workload):
        outcome = differential.run(workload)
        tally.add(outcome)
        if not outcome.deviations:
            assert not outcome.mismatches, outcome.report()

    check()
    sys.stderr.write(f"\n[differential] {tally.summary()}\n")
    assert tally.counts["workloads"] >= WORKLOADS


def test_hostname_spread_new_nodes_hold_the_full_pools_minimum_plus_max_skew(differential):
    """Given two full 2-CPU nodes each running 2 web pods (900m), when a ReplicaSet of 6 more
    web pods (500m, hostname spread maxSkew 1 on app=web) is pending, then the plan is 2 new
    nodes of 3 (the full nodes hold the global minimum at 2, so a node may hold 2 + 1), and
    kube-scheduler binds all 6 to them: no node empty, no pod left pending."""
    from tests.differential.workloads import HOSTNAME, MANAGED, ExistingNode, Workload

    spread = [{"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]

    def web_spec(cpu: str) -> dict:
        return {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}],
                "topologySpreadConstraints": spread, "terminationGracePeriodSeconds": 0}

    nodes = [ExistingNode(f"existing-{i}", "2", "8Gi", "us-east-1a") for i in range(2)]
    for node in nodes:
        node.pods = [{"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"{node.name}-web-{j}", "labels": {**MANAGED, "app": "web"}},
                      "spec": {**web_spec("900m"), "nodeName": node.name}} for j in range(2)]
    replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
                   "spec": {"replicas": 6, "selector": {"matchLabels": {"workload": "web"}},  # adopts no running pod
                            "template": {"metadata": {"labels": {**MANAGED, "app": "web", "workload": "web"}},
                                         "spec": web_spec("500m")}}}
    outcome = differential.run(Workload([replica_set], nodes))
    assert outcome.new_nodes == 2 and outcome.planned_pods == 6, outcome.report()
    assert not outcome.mismatches, outcome.report()


def test_capacity_type_spread_plans_what_kube_scheduler_can_place_and_leaves_the_rest_pending(differential):
    """Given a full on-demand and a full spot node running no web pod, when a ReplicaSet of 4 web
    pods spread over karpenter.sh/capacity-type (maxSkew 1) is pending and bin-pack nodes are
    on-demand only, then the plan is one on-demand node for one pod and 3 unplaceable, and
    kube-scheduler binds that one and leaves the 3 pending (the spot domain holds the minimum at 0)."""
    from tests.differential.workloads import CAPACITY_TYPE, MANAGED, ExistingNode, Workload

    def spec(cpu: str, **extra) -> dict:
        return {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}],
                "terminationGracePeriodSeconds": 0, **extra}

    nodes = [ExistingNode(f"existing-{kind}", "2", "8Gi", "us-east-1a", labels={CAPACITY_TYPE: kind})
             for kind in ("on-demand", "spot")]
    for node in nodes:  # full: another workload's pod takes the CPU
        node.pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{node.name}-filler", "labels": MANAGED},
                      "spec": {**spec("1900m"), "nodeName": node.name}}]
    spread = [{"maxSkew": 1, "topologyKey": CAPACITY_TYPE, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
                   "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {**MANAGED, "app": "web"}},
                                         "spec": spec("500m", topologySpreadConstraints=spread)}}}
    outcome = differential.run(Workload([replica_set], nodes))
    assert (outcome.new_nodes, outcome.planned_pods, outcome.unplaceable) == (1, 1, 3), outcome.report()
    assert not outcome.mismatches, outcome.report()
