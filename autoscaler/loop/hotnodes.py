"""Hot-node mitigation in the loop: reads usage, asks the planner, carries out its decision.

Every `manageHighUtilization.loopPeriod` (not every loop): taint and untaint nodes, evict at
most one pod per red node through the Eviction API (a 429 from a PodDisruptionBudget is
respected and retried on a later pass, on newer metrics), report events on the node and the
evicted pod, and keep the gauges (nodes per colour) and the eviction counter.
Missing or stale metrics: nothing is done on those nodes, and a Warning event says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping

from autoscaler.cluster import Cluster, ClusterError, ClusterView, EvictionOutcome, ObjectRef
from autoscaler.config import Config
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner.hotnodes import COLOURS, HOT_TAINT, HotNodeAction, decide_hot_nodes
from autoscaler.usage import MetricsSource, UsageReport

log = logging.getLogger("smart_autoscaler.loop.hotnodes")

EVICTION_REASON = "hot-node"
# (object, reason, type, message): the loop's event reporter (deduplicates repeats)
ReportEvent = Callable[[ObjectRef, str, str, str], None]
Note = Callable[[str, str], None]  # (timeline kind, message)


@dataclass
class HotNodeController:
    cluster: Cluster
    source: MetricsSource
    config: Config
    metrics: Metrics
    report: ReportEvent
    note: Note
    dry_run: bool = False
    last_pass: float | None = None
    last_eviction: dict[str, float] = field(default_factory=dict)
    evicted: list[str] = field(default_factory=list)  # pod keys, in order (for reports and tests)

    def due(self, now: float) -> bool:
        return self.last_pass is None or now - self.last_pass >= self.config.manage_high_utilization.loop_period

    def step(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float, draining: Collection[str] = ()) -> None:
        """One pass when due. Also with the feature off, so that taints a previous run left are removed."""
        if not self.due(now):
            return
        tainted = any(t.key == HOT_TAINT.key for n in view.nodes for t in n.taints)
        if not self.config.manage_high_utilization.enabled and not tainted:
            return
        self.last_pass = now
        live = {n.name for n in view.nodes}
        for name in [n for n in self.last_eviction if n not in live]:
            del self.last_eviction[name]
        usage = self.source.usage() if self.config.manage_high_utilization.enabled else UsageReport(read_at=now)
        decision = decide_hot_nodes(view.nodes, bound, view.pdbs, usage, self.config, now, self.last_eviction, draining)
        counts = dict.fromkeys(COLOURS, 0)
        for colour in decision.colours.values():
            counts[colour] += 1
        for colour, count in counts.items():
            self.metrics.hot_nodes.labels(colour).set(count)
        nodes = {n.name: n for n in view.nodes}
        pods = {p.key: p for p in view.pods}
        for name, why in decision.skipped.items():
            log.info("%s", why)
            if decision.colours.get(name) == "unknown":
                self.report(_node_ref(nodes[name]), "HotNodeMetricsUnavailable", "Warning", why)
        for action in decision.actions:
            self._act(action, nodes[action.node], pods, now)

    def _act(self, action: HotNodeAction, node, pods: Mapping[str, Pod], now: float) -> None:
        ref = _node_ref(node)
        if self.dry_run:
            self.note("dry-run", f"hot-node: would act on node {node.name}: {action.message}")
            return
        if action.add_taint or action.remove_taint:
            try:
                if action.add_taint:
                    self.cluster.patch_node(node.name, add_taints=(HOT_TAINT,))
                else:
                    self.cluster.patch_node(node.name, remove_taint_keys=(HOT_TAINT.key,))
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("patch_node").inc()
                log.error("hot-node taint change on %s failed: %s", node.name, err)
                return
            reason = "HotNodeTainted" if action.add_taint else "HotNodeUntainted"
            self.report(ref, reason, "Normal" if action.remove_taint else "Warning", action.message)
            self.note("hot-node", f"node {node.name}: {action.message}")
        if not action.evict:
            if action.colour == "red" and not action.add_taint:
                self.report(ref, "HotNodeRed", "Warning", action.message)
            return
        self._evict(ref, node.name, pods[action.evict], action, now)

    def _evict(self, node_ref: ObjectRef, node: str, pod: Pod, action: HotNodeAction, now: float) -> None:
        try:
            outcome = self.cluster.evict_pod(pod.namespace, pod.name)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("evict").inc()
            log.error("hot-node eviction of %s from %s failed: %s", pod.key, node, err)
            return
        if outcome == EvictionOutcome.BLOCKED:
            message = f"eviction of pod {pod.key} refused (429): a PodDisruptionBudget allows no disruption now; retried on newer metrics"
            self.last_eviction[node] = now  # the next try waits for newer metrics, as after an eviction
            self.report(node_ref, "HotNodeEvictionBlocked", "Warning", message)
            self.note("blocked", f"node {node}: {message}")
            return
        if outcome == EvictionOutcome.EVICTED:
            self.last_eviction[node] = now
            self.evicted.append(pod.key)
            self.metrics.evictions.labels(EVICTION_REASON).inc()
            self.report(node_ref, "HotNodeEviction", "Warning", action.message)
            self.report(ObjectRef("Pod", pod.namespace, pod.name, pod.uid), "EvictedFromHotNode", "Warning",
                        f"evicted from hot node {node}: it used the most {action.resource} there")
            self.note("evict", f"hot-node: evicted {pod.key} from {node} ({action.resource})")


def _node_ref(node) -> ObjectRef:
    return ObjectRef("Node", "", node.name, node.uid)
