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
