"""Hot-node mitigation in the loop: reads usage, asks the planner, carries out its decision.

Every `manageHighUtilization.loopPeriod` (not every loop): taint and untaint nodes, evict at
most one pod per red node through the Eviction API (a 429 from a PodDisruptionBudget is
respected and tried again on a later pass, on newer metrics), report events on the node and
the evicted pod, and keep the gauges (nodes per colour) and the eviction counter.
Missing or stale metrics: nothing is done on those nodes, and a Warning event says so.
"""

from __future__ import annotations

import logging
from typing import Mapping, Protocol

from autoscaler.cluster import Cluster, ClusterError, ClusterView, EvictionOutcome, KubeNode
from autoscaler.config import Config
from autoscaler.loop.evictions import ERROR, WAITING, Evictions
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner.hotnodes import COLOURS, HOT_TAINT, RED, UNKNOWN, HotNodeAction, decide_hot_nodes
from autoscaler.nodeload import evictable
from autoscaler.usage import MetricsSource, UsageReport

log = logging.getLogger("smart_autoscaler.loop.hotnodes")

EVICTION_REASON = "hot-node"


class Reporter(Protocol):
    """The loop's event reporter (autoscaler/loop/events.py)."""

    def node(self, node: KubeNode, reason: str, message: str, event_type: str = "Warning") -> None: ...
    def pod(self, pod: Pod, reason: str, message: str, event_type: str = "Warning") -> None: ...
    def note(self, kind: str, message: str) -> None: ...


class Drains(Protocol):
    def draining(self) -> set[str]: ...


class Context(Protocol):
    view: ClusterView
    bound: Mapping[str, list[Pod]]
    now: float


class HotNodes:
    """A loop component: `run(context)` every loop; acts every manageHighUtilization.loopPeriod."""

    def __init__(
        self, cluster: Cluster, source: MetricsSource, config: Config, metrics: Metrics, reporter: Reporter,
        drains: Drains, dry_run: bool = False, evictions: Evictions | None = None,
    ) -> None:
        self.cluster = cluster
        self.evictions = evictions or Evictions(cluster, metrics)  # each pod once, then after a back-off
        self.source = source
        self.config = config
        self.metrics = metrics
        self.reporter = reporter
        self.drains = drains
        self.dry_run = dry_run
        self.last_pass: float | None = None
        self.last_eviction: dict[str, float] = {}  # node -> when a pod was last evicted from it
        self.evicted: list[str] = []  # pod keys, in order
        self.evicted_now: list[Pod] = []  # this pass: their replacements need room (TTL plans them)
        self._postponed = ""
        self._said: dict[tuple[str, str], str] = {}  # (node, reason) -> last message: no repeats

    def due(self, now: float) -> bool:
        return self.last_pass is None or now - self.last_pass >= self.config.manage_high_utilization.loop_period

    def run(self, context: Context) -> None:
        view, now = context.view, context.now
        self.evicted_now = []
        if not self.due(now):
            return
        enabled = self.config.manage_high_utilization.enabled
        if not enabled and not any(t.key == HOT_TAINT.key for n in view.nodes for t in n.taints):
            return  # off, and no taint of an earlier run left to remove
        self.last_pass = now
        live = {n.name for n in view.nodes}
        for name in [n for n in self.last_eviction if n not in live]:
            del self.last_eviction[name]
        usage = self.source.usage() if enabled else UsageReport(read_at=now)
        decision = decide_hot_nodes(
            view.nodes, context.bound, view.pdbs, usage, self.config, now, self.last_eviction, self.drains.draining()
        )
        counts = dict.fromkeys(COLOURS, 0)
        for colour in decision.colours.values():
            counts[colour] += 1
        for colour, count in counts.items():
            self.metrics.hot_nodes.labels(colour).set(count)
        nodes = {n.name: n for n in view.nodes}
        pods = {p.key: p for p in view.pods}
        self.evicted_now = []
        # A drain's pods get the room first: an eviction now could take what they were promised.
        draining = sorted(n for n in self.drains.draining() if any(evictable(p) for p in context.bound.get(n, ())))
        self._postponed = f"eviction postponed while node {draining[0]} is drained" if draining else ""
        for name, why in decision.skipped.items():
            if decision.colours.get(name) == UNKNOWN:
                self._say(nodes[name], "HotNodeMetricsUnavailable", why)
        for action in decision.actions:
            self._act(action, nodes[action.node], pods, now)

    def _say(self, node: KubeNode, reason: str, message: str, event_type: str = "Warning") -> None:
        """A node event when its message changes (each pass would repeat it otherwise)."""
        if self._said.get((node.name, reason)) == message:
            return
        self._said[(node.name, reason)] = message
        log.info("node %s: %s", node.name, message)
        self.reporter.node(node, reason, message, event_type=event_type)

    def _act(self, action: HotNodeAction, node: KubeNode, pods: Mapping[str, Pod], now: float) -> None:
        if self.dry_run:
            if self._said.get((node.name, "dry-run")) != action.message:  # once per change, not each pass
                self._said[(node.name, "dry-run")] = action.message
                self.reporter.note("dry-run", f"hot-node: would act on node {node.name}: {action.message}")
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
            self._said.pop((node.name, "HotNodeMetricsUnavailable"), None)
            reason = "HotNodeTainted" if action.add_taint else "HotNodeUntainted"
            self.reporter.node(node, reason, action.message, event_type="Warning" if action.add_taint else "Normal")
            self.reporter.note("hot-node", f"node {node.name}: {action.message}")
        if action.evict and self._postponed:
            self._say(node, "HotNodeRed", f"{action.message.split(': evicting')[0]}: {self._postponed}")
        elif action.evict:
            self._evict(node, pods[action.evict], action, now)
        elif action.colour == RED:
            self._say(node, "HotNodeRed", action.message)

    def _evict(self, node: KubeNode, pod: Pod, action: HotNodeAction, now: float) -> None:
        outcome = self.evictions.evict(pod, EVICTION_REASON, now)
        if outcome in (ERROR, WAITING):
            return
        if outcome == EvictionOutcome.BLOCKED:
            # Tried again on metrics measured after this refusal, like after an eviction.
            self.last_eviction[node.name] = now
            message = f"eviction of pod {pod.key} refused (429): a PodDisruptionBudget allows no disruption now"
            self._say(node, "HotNodeEvictionBlocked", message)
            self.reporter.note("blocked", f"hot node {node.name}: {message}")
        elif outcome == EvictionOutcome.EVICTED:
            self.last_eviction[node.name] = now
            self.evicted.append(pod.key)
            self.evicted_now.append(pod)
            self.reporter.node(node, "HotNodeEviction", action.message)
            self.reporter.pod(pod, "EvictedFromHotNode", f"evicted from hot node {node.name}: it used the most {action.resource} there")
            self.reporter.note("evict", f"hot-node: evicted {pod.key} from {node.name} ({action.resource})")
