"""The drain state machine: taint, evict, terminate, delete — for any caller with a reason.

`request(node, reason, kind)` starts a drain: the node is tainted
`smart-autoscaler.io/draining=<kind>:NoSchedule` so nothing new lands on it (the value lets
a restarted process, or a new leader, carry the drain on under the same kind). Each loop,
`step()` moves every drain on:

    tainted --evict pods (Eviction API, PDBs honoured)--> empty --terminate (off the loop)-->
    terminated --delete the Node--> removed

A drain is aborted — the taint removed, a `ScaleDownBlocked` Warning on the node saying why —
when a pod must not be evicted (do-not-evict, no controller, a PodDisruptionBudget that
allows no disruption), when an eviction is refused (429), or when the pods have not gone
within the drain timeout (`scaleDown.drainTimeout`). Each pod is evicted once, and asked again
only after a back-off (autoscaler/loop/evictions.py). Scale-down, TTL cycling and hot-node
mitigation all drain through this one machine; `kind` labels the scale-down metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Mapping

from autoscaler.cluster import Cluster, ClusterError, ClusterView, EvictionOutcome, KubeNode
from autoscaler.loop.calls import CallExecutor, CallOutcome
from autoscaler.loop.events import SCALE_DOWN_BLOCKED, EventReporter
from autoscaler.loop.evictions import ERROR, Evictions
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.nodeload import evictable
from autoscaler.scaledown import eviction_blocker
from pricing.types import Taint
from providers.base import Instance, Provider, provider_id_key

log = logging.getLogger("smart_autoscaler.loop.drain")

DRAIN_TAINT_KEY = "smart-autoscaler.io/draining"
DRAIN_TERMINATE = "drain-terminate"


def drain_taint(kind: str) -> Taint:
    return Taint(DRAIN_TAINT_KEY, kind, "NoSchedule")


@dataclass
class Drain:
    node: str
    reason: str
    kind: str  # unneeded, ttl, hot-node, ...: the scale-down metric's reason label
    started: float
    terminating: bool = False
    # Asked right before the pods are evicted, on that loop's view: '' to go on, else why not
    # now (the drain is then called off quietly and the caller plans again). TTL cycling
    # uses it: room promised to the pods one loop earlier may have been taken since.
    recheck: Callable[[ClusterView, float], str] | None = None


@dataclass
class DrainStep:
    """What one step did: nodes removed and drains given up (the callers' bookkeeping)."""

    removed: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)


class Drainer:
    def __init__(
        self,
        cluster: Cluster,
        provider: Provider,
        calls: CallExecutor,
        reporter: EventReporter,
        metrics: Metrics,
        timeout: float,
    ) -> None:
        self.cluster = cluster
        self.provider = provider
        self.calls = calls
        self.reporter = reporter
        self.metrics = metrics
        self.timeout = timeout
        self.drains: dict[str, Drain] = {}
        self.evictions = Evictions(cluster, metrics)
        self.cloud_answered = True  # whether this loop's list of instances came (set by the loop)

    def draining(self) -> set[str]:
        return set(self.drains)

    def request(
        self, node: KubeNode, reason: str, kind: str, now: float,
        recheck: Callable[[ClusterView, float], str] | None = None,
    ) -> bool:
        """Start draining `node`; False when it could not be tainted (tried again by the caller)."""
        if node.name in self.drains:
            return True
        try:
            self.cluster.patch_node(node.name, add_taints=(drain_taint(kind),))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("tainting node %s for removal failed: %s", node.name, err)
            return False
        self.drains[node.name] = Drain(node.name, reason, kind, now, recheck=recheck)
        self.reporter.note("drain", f"draining node {node.name}: {reason}")
        return True

    def resume(self, view: ClusterView, now: float) -> None:
        """Carry on drains a previous process or leader started (the taint says so)."""
        nodes = {node.name for node in view.nodes}
        for name in [n for n in self.drains if n not in nodes]:
            del self.drains[name]
        for node in view.nodes:
            taint = next((t for t in node.taints if t.key == DRAIN_TAINT_KEY), None)
            if taint is not None and node.name not in self.drains:
                kind = taint.value if taint.value and taint.value != "true" else "unneeded"
                self.drains[node.name] = Drain(node.name, "drain resumed after a restart", kind, now)

    def step(
        self,
        view: ClusterView,
        bound: Mapping[str, list[Pod]],
        instances: Mapping[str, Instance],
        now: float,
        skip: set[str] = frozenset(),
    ) -> DrainStep:
        """Move every drain on; `skip` holds nodes tainted this loop (evicted from the next one,
        once the taint is seen), `instances` the cloud's instances by provider id."""
        result = DrainStep()
        nodes = {node.name: node for node in view.nodes}
        for name, drain in list(self.drains.items()):
            node = nodes.get(name)
            if node is None or name in skip or drain.terminating:
                continue
            self._step(node, drain, bound.get(name, []), view, instances, now, result)
        return result

    def _step(
        self,
        node: KubeNode,
        drain: Drain,
        pods: list[Pod],
        view: ClusterView,
        instances: Mapping[str, Instance],
        now: float,
        result: DrainStep,
    ) -> None:
        workload = [pod for pod in pods if evictable(pod)]
        for pod in workload:
            blocker = eviction_blocker(pod, view.pdbs)
            if blocker and (pod.do_not_evict or not pod.owner):
                self._abort(node, blocker, result)
                return
        if workload and now - drain.started > self.timeout:
            self._abort(node, f"drain did not finish within {self.timeout:g}s", result)
            return
        why = drain.recheck(view, now) if workload and drain.recheck else ""
        if why:
            self._call_off(node, why, result)
            return
        for pod in workload:
            outcome = self.evictions.evict(pod, drain.kind, now)  # once, then after a back-off
            if outcome == ERROR:
                return
            if outcome == EvictionOutcome.BLOCKED:
                self._abort(
                    node, f"eviction of pod {pod.key} refused (429): a PodDisruptionBudget allows no disruption now", result
                )
                return
            if outcome == EvictionOutcome.EVICTED:
                self.reporter.note("evict", f"evicted {pod.key} from {node.name}")
        if workload:
            return  # the pods go away; remove the node on a later loop
        instance = instances.get(provider_id_key(node.provider_id))
        if instance is None:
            if not self.cloud_answered:
                return  # the cloud did not list its instances this loop: terminate first, later
            self._delete(node.name, drain, result)
            return
        drain.terminating = True
        instance_id = instance.instance_id
        self.calls.submit(DRAIN_TERMINATE, instance_id, lambda: self.provider.terminate(instance_id), drain.node)

    def terminated(self, outcome: CallOutcome, result: DrainStep) -> None:
        drain = self.drains.get(outcome.context)
        if drain is None:
            return
        drain.terminating = False
        if not outcome.ok:
            self.metrics.cloud_error("terminate", outcome.error)
            log.error("terminating %s for node %s failed (will retry): %s", outcome.key, drain.node, outcome.error)
            return
        self._delete(drain.node, drain, result)

    def _delete(self, name: str, drain: Drain, result: DrainStep) -> None:
        try:
            self.cluster.delete_node(name)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("delete_node").inc()
            log.error("deleting node %s failed (will retry): %s", name, err)
            return
        del self.drains[name]
        self.metrics.scale_downs.labels(drain.kind).inc()
        result.removed.append(name)
        self.reporter.note("remove", f"removed node {name} ({drain.reason})")

    def _call_off(self, node: KubeNode, why: str, result: DrainStep) -> None:
        """Stop before any eviction, without a Warning: the caller plans the node again."""
        self._release(node)
        self.reporter.note("drain", f"drain of node {node.name} put off: {why}")
        result.aborted.append(node.name)

    def _release(self, node: KubeNode) -> None:
        """Forget the drain and take its taint off, so the node takes pods again."""
        self.drains.pop(node.name, None)
        try:
            self.cluster.patch_node(node.name, remove_taint_keys=(DRAIN_TAINT_KEY,))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("removing the drain taint from %s failed: %s", node.name, err)

    def _abort(self, node: KubeNode, why: str, result: DrainStep) -> None:
        self._release(node)
        self.reporter.node(node, SCALE_DOWN_BLOCKED, why)
        self.reporter.note("blocked", f"kept node {node.name}: {why}")
        result.aborted.append(node.name)
