"""The drain state machine (autoscaler/loop/drain.py): taint, evict, terminate, delete — for
scale-down and for any other caller with a reason (TTL cycling, hot-node mitigation)."""

from __future__ import annotations

from autoscaler.cluster import ClusterError, KubeNode
from autoscaler.resources import Resources
from autoscaler.loop.reconcile import LoopContext
from tests.helpers import make_pod
from tests.loop.test_reconcile import add, running, world


def test_another_caller_drains_a_busy_node_and_its_pods_move():
    """Given a node running a 4-CPU pod, when a component plugged into the loop asks to drain it
    for a TTL, then it is tainted, the pod is evicted and recreated on a new node, the node is
    removed, and the removal is counted under the caller's kind."""
    sim = world(**{"scaleDown.nodeUnneededDuration": "1h"})
    add(sim, make_pod("web", "4", "8Gi", owner="ReplicaSet/web"))
    sim.run_for(70)
    (old,) = sim.cluster.nodes

    class Expire:
        def run(self, context: LoopContext) -> None:
            node = next((n for n in context.view.nodes if n.name == old), None)
            if node is not None:
                sim.reconciler.drainer.request(node, "node older than nodeTTL=7d", "ttl", context.now)

    sim.reconciler.add(Expire())
    sim.run_for(200)
    assert old not in sim.cluster.nodes and len(sim.cluster.nodes) == 1
    assert sim.cluster.evictions == ["default/web"]
    assert len(running(sim)) == 1
    registry = sim.reconciler.metrics.registry
    assert registry.get_sample_value("smart_autoscaler_scale_downs_total", {"reason": "ttl"}) == 1
    assert any(e.kind == "remove" and "node older than nodeTTL=7d" in e.message for e in sim.reconciler.timeline)


def test_a_drain_not_done_within_drain_timeout_is_given_up_and_the_node_kept():
    """Given scaleDown.drainTimeout=2m and evictions that keep failing (API errors), when an
    under-used node is drained (its pod would fit on a spare node), then after 2 minutes the drain is given up: the taint is removed,
    a ScaleDownBlocked Warning says why, and the node and its pod stay."""
    sim = world(**{
        "scaleDown.nodeUnneededDuration": "5m", "scaleDown.binPackNodeUtilizationThreshold": 0.5,
        "scaleDown.drainTimeout": "2m",
    })
    add(sim, make_pod("web", "500m", "1Gi", owner="ReplicaSet/web"))
    sim.run_for(70)
    (name,) = sim.cluster.nodes
    sim.cluster.add_node(KubeNode("spare", allocatable=Resources(4000, 8 * 2**30, pods=110), ready=True))

    def refuse(namespace: str, pod: str) -> str:
        raise ClusterError(f"evict pod {namespace}/{pod}: 500 Internal Server Error")

    sim.cluster.evict_pod = refuse
    sim.run_for(300)
    assert any(e.kind == "drain" for e in sim.reconciler.timeline)
    sim.run_for(130)
    (blocked,) = [e for e in sim.cluster.events if e.reason == "ScaleDownBlocked"]
    assert blocked.message == "drain did not finish within 120s"
    assert all(t.key != "smart-autoscaler.io/draining" for t in sim.cluster.nodes[name].taints)
    assert sim.cluster.pods["default/web"].node_name == name
