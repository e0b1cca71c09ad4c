"""A cloud that answers a launch only after the node has registered (an AKS scale-out ends
after the node's bootstrap extension, when the kubelet has joined): the node is that launch's
own, not an earlier attempt's, and nothing is launched twice."""

from __future__ import annotations

from tests.helpers import make_pod
from tests.loop.test_concurrent_launches import add, entries, world


def test_a_launch_answered_after_its_node_registered_is_not_launched_again():
    """Boot takes 30 s, the launch call answers after 40 s: one t3a.2xlarge, the pod on it."""
    sim = world(call_time=40.0)
    add(sim, make_pod("slow", "5", "1Gi", owner="ReplicaSet/slow"))
    sim.run_for(90)
    assert len(sim.provider.launched) == 1
    assert len(sim.cluster.nodes) == 1
    assert not entries(sim, "stale-key")
    assert all(pod.node_name for pod in sim.cluster.pods.values())
