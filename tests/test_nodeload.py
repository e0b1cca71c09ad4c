"""A node's load is summed once and kept while its pods stay the same objects (autoscaler/nodeload.py)."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.nodeload import node_load
from tests.helpers import make_pod


def test_the_same_pods_give_the_kept_sums_and_a_changed_pod_new_ones():
    """Given a node holding a 1-CPU pod and a 500m DaemonSet pod, when asked twice with the
    same pod objects, then the second answer is the first (1.5 CPU used, 1 CPU evictable, one
    workload pod); when the first pod is replaced by a 3-CPU version, then 3.5 CPU are used."""
    web = make_pod("web", "1", owner="ReplicaSet/web")
    agent = replace(make_pod("agent", "500m"), daemonset=True, owner_kind="DaemonSet")
    first = node_load("node-a", [web, agent])
    assert (first.used.cpu, first.evictable.cpu, first.workload_pods, first.evictable_pods) == (1500, 1000, 1, 1)
    assert node_load("node-a", [web, agent]) is first
    bigger = make_pod("web", "3", owner="ReplicaSet/web")
    assert node_load("node-a", [bigger, agent]).used.cpu == 3500
    assert node_load("node-b", []).used.cpu == 0
