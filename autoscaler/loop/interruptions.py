"""Spot interruptions in the loop: replace first, then drain, before the cloud takes the node back.

Each loop the provider's notices are read off the loop thread (`interruption_notices`, see
providers/interruptions.py). A notice that reclaims an instance (a spot interruption warning,
a preemption, a scheduled change, an instance stopping) makes its node *interrupted*:

1. the node is tainted `smart-autoscaler.io/interrupted=<kind>:NoSchedule`: nothing new lands;
2. its offering (type, capacity type, zone) is backed off: the pool is short, its risk went up;
3. its pods are planned against the cluster without it, with the pods pending now — the
   planner picks the cheapest offering their rules allow (`instance-offerings` decides whether
   on-demand may replace spot), the backed-off one excluded — and what the plan needs is
   launched at once;
4. the node goes to the loop's drain machine (Eviction API, PDBs honoured) as soon as every
   pod has room on a Ready node, and at the latest `spotInterruption.drainLeadTime` before the
   cloud's deadline, so that the pods end gracefully rather than with the instance. A drain a
   PDB refuses is asked for again each loop until the node is gone.

A rebalance recommendation is counted and reported; with `spotInterruption.rebalance:
replace` it starts the same cycle with no deadline (drained once the replacement is Ready).
A notice acts once (by notice id, and by instance); it is deleted from the cloud's channel
after it was acted on (its receipt goes back with the next poll); malformed messages are
counted and dropped by the provider. The taint marks an interruption across restarts: a
process that finds it drains at once (the deadline it knew is lost with it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Collection, Mapping

from cachetools import TTLCache

from autoscaler.cluster import Cluster, ClusterError, ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.loop.backoff import BackoffTracker
from autoscaler.loop.calls import CallExecutor, CallOutcome
from autoscaler.loop.hotnodes import Reporter
from autoscaler.loop.replacement import NodeMessages, PlanWithout, plan_without_nodes
from autoscaler.loop.ttl import Drains, Launch
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner.ttl import DRAIN, LAUNCH, pods_to_move, replacement_step
from autoscaler.planner.types import Plan
from pricing.types import Taint
from providers.base import FailureKind, FailureScope, Instance
from providers.interruptions import REBALANCE_RECOMMENDATION, RECLAIMING, InterruptionNotice, NoticeBatch

log = logging.getLogger("smart_autoscaler.loop.interruptions")

NOTICES = "notices"  # the call kind of a poll
INTERRUPTED_TAINT_KEY = "smart-autoscaler.io/interrupted"
DRAIN_KIND = "spot-interruption"
SEEN_FOR = 3600.0  # seconds a notice id is remembered (SQS keeps an unacked message 4 days; one hour covers redelivery)
RESUMED = "resumed"
DRAIN_RETRY = 15.0  # seconds before a drain a PDB or a pod refused is asked for again


def interrupted_taint(kind: str) -> Taint:
    return Taint(INTERRUPTED_TAINT_KEY, kind, "NoSchedule")


@dataclass
class Interruption:
    node: str
    kind: str
    noticed: float
    deadline: float | None  # when the cloud takes the instance back; None: not said (rebalance)
    draining: bool = False
    replaced: bool = False  # every pod had room on a Ready node at least once
    waited: bool = False  # the drain started before the replacement was Ready
    retry_at: float = 0.0


class SpotInterruptions:
    """A loop component: `run(context)` every loop; `answered(outcome)` takes a poll's answer."""

    def __init__(
        self, cluster: Cluster, provider: Callable[[], object], calls: CallExecutor, config: Config,
        metrics: Metrics, reporter: Reporter, drains: Drains, backoff: BackoffTracker,
        plan_without: PlanWithout, launch: Launch, dry_run: bool = False,
    ) -> None:
        self.cluster = cluster
        self.provider = provider
        self.calls = calls
        self.config = config
        self.metrics = metrics
        self.reporter = reporter
        self.drains = drains
        self.backoff = backoff
        self.plan_without = plan_without
        self.launch = launch
        self.dry_run = dry_run
        self.interrupted: dict[str, Interruption] = {}  # by node name
        self._inbox: list[InterruptionNotice] = []
        self._handled: list[str] = []  # receipts to delete with the next poll
        self._seen: TTLCache[str, float] = TTLCache(maxsize=100_000, ttl=SEEN_FOR, timer=lambda: self._now)
        self._now = 0.0
        self._messages = NodeMessages(reporter, "spot")

    @property
    def cloud(self) -> str:
        return str(getattr(self.provider(), "name", "unknown"))

    # ---- reading notices

    def _poll(self, now: float) -> None:
        provider = self.provider()
        read = getattr(provider, "interruption_notices", None)
        if read is None or not self.config.spot_interruption.enabled:
            return
        handled, self._handled = tuple(self._handled), []
        if not self.calls.submit(NOTICES, NOTICES, lambda: read(handled), handled):
            self._handled[:0] = handled  # a poll is still in flight: delete these with the next one
            return
        outcome = self.calls.wait(NOTICES, NOTICES, min(self.config.cloud_call_timeout, max(self.config.loop_period / 4, 0.05)))
        if outcome is not None:
            self.answered(outcome)

    def answered(self, outcome: CallOutcome) -> None:
        if not outcome.ok:
            self._handled[:0] = list(outcome.context or ())  # not deleted: try again
            self.metrics.cloud_api_errors.labels("interruption_notices", outcome.error.kind).inc()
            log.warning("reading interruption notices failed: %s", outcome.error)
            return
        batch: NoticeBatch = outcome.value
        for bad in batch.malformed:
            self.metrics.interruption_notices.labels(self.cloud, "malformed").inc()
            log.warning("dropped a malformed interruption message: %s", bad)
        self._inbox.extend(batch.notices)

    # ---- the loop

    def run(self, context) -> None:
        view, now = context.view, context.now
        self._now = now
        nodes = {node.name: node for node in view.nodes}
        for name in [n for n in self.interrupted if n not in nodes]:
            self._gone(name)
        for node in view.nodes:  # an interruption an earlier process saw
            taint = next((t for t in node.taints if t.key == INTERRUPTED_TAINT_KEY), None)
            if taint is not None and node.name not in self.interrupted:
                self.interrupted[node.name] = Interruption(node.name, taint.value or RESUMED, now, deadline=now)
        self._poll(now)
        inbox, self._inbox = self._inbox, []
        by_instance = {instance.instance_id: instance for instance in context.instances.values()}
        by_provider_id = {node.provider_id: node for node in view.nodes if node.provider_id}
        for notice in inbox:
            self._take(notice, by_instance, by_provider_id, now)
        self._advance(view, context.bound, now)
        self.metrics.interrupted_nodes.set(len(self.interrupted))

    def _take(
        self, notice: InterruptionNotice, instances: Mapping[str, Instance], nodes: Mapping[str, KubeNode], now: float,
    ) -> None:
        if notice.receipt:
            self._handled.append(notice.receipt)
        if notice.notice_id in self._seen:
            return
        self._seen[notice.notice_id] = now
        self.metrics.interruption_notices.labels(self.cloud, notice.kind).inc()
        instance = instances.get(notice.instance_id)
        node = nodes.get(instance.provider_id if instance is not None else notice.provider_id)
        offering = (instance.instance_type, instance.capacity_type, instance.zone) if instance is not None else notice.offering
        if node is None:
            log.info("interruption notice %s (%s) for instance %s: not a node of this cluster", notice.notice_id, notice.kind, notice.instance_id)
            return
        if node.name in self.interrupted:
            return  # a second notice for the same instance acts once
        if notice.kind == REBALANCE_RECOMMENDATION and self.config.spot_interruption.rebalance != "replace":
            self.reporter.node(node, "SpotRebalanceRecommendation", f"the cloud recommends moving off this node ({notice.detail}); "
                               "not acted on (spotInterruption.rebalance: ignore)", event_type="Normal")
            self.reporter.note("spot", f"node {node.name}: rebalance recommendation, not acted on")
            return
        if notice.kind not in RECLAIMING and notice.kind != REBALANCE_RECOMMENDATION:
            return
        if offering:
            self.backoff.record_failure(
                FailureScope.offering(*offering), FailureKind.INSUFFICIENT_CAPACITY, now,
                message=f"{notice.kind} of {notice.instance_id}",
            )
        when = "" if notice.deadline is None else f"; reclaimed in {max(0.0, notice.deadline - now):.0f}s"
        if self.dry_run:
            self.reporter.note("dry-run", f"spot: would replace and drain node {node.name}: {notice.detail}{when}")
            return
        try:
            self.cluster.patch_node(node.name, add_taints=(interrupted_taint(notice.kind),))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("tainting interrupted node %s failed: %s", node.name, err)
        self.interrupted[node.name] = Interruption(node.name, notice.kind, now, notice.deadline)
        self.reporter.node(node, "SpotInterrupted", f"{notice.detail}{when}: tainted {INTERRUPTED_TAINT_KEY}:NoSchedule, "
                           "replacing it, then draining")
        self.reporter.note("spot", f"node {node.name} ({'/'.join(offering or ('?',))}): {notice.kind}{when}")

    def _advance(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float) -> None:
        """Plan the pods of every interrupted node together (with the pods pending now) against
        the cluster without those nodes; launch what the plan needs; drain each node once its
        pods have room on Ready nodes, or when its deadline is near."""
        if not self.interrupted:
            return
        draining = self.drains.draining()
        nodes = {node.name: node for node in view.nodes}
        placement, on_the_way, demand = self._placement(view, bound, set(self.interrupted) | draining, now)
        launches: dict[int, object] = {}
        for name, cut in self.interrupted.items():
            node = nodes.get(name)
            if node is None:
                continue
            step = replacement_step(must_move(bound.get(name, [])), placement, set(on_the_way))
            if step.kind == LAUNCH:
                launches.update({id(new): new for new in step.new_nodes})
            if step.kind == DRAIN and not cut.replaced:
                cut.replaced = True
                self.metrics.interruption_replacement.observe(now - cut.noticed)
            if cut.draining and name not in draining:  # the drain gave up (a PDB, a do-not-evict pod)
                cut.retry_at = now + DRAIN_RETRY
            cut.draining = name in draining
            lead = self.config.spot_interruption.drain_lead_time
            due = cut.deadline is not None and now >= cut.deadline - lead
            if cut.draining or now < cut.retry_at:
                continue
            if step.kind == DRAIN or due:
                if step.kind != DRAIN and not cut.waited:
                    cut.waited = True
                    self.metrics.interruption_pods_waited.inc(len(pods_to_move(bound.get(name, []))))
                why = step.reason if step.kind == DRAIN else f"the cloud reclaims it soon; {step.reason}"
                if self.drains.request(node, f"spot interruption ({cut.kind}): {why}", DRAIN_KIND, now):
                    cut.draining = True
                    self._say(node, "SpotInterruptionDraining", f"draining: {why}")
            else:
                self._say(node, "SpotInterruptionReplacing", step.reason)
        if launches:
            by_key = {pod.key: pod for pod in demand}
            started = sum(1 for new in launches.values() if self.launch(new, by_key, now))
            self.reporter.note("spot", f"launching {len(launches)} replacement node(s) for interrupted nodes ({started} submitted)")

    def _placement(
        self, view: ClusterView, bound: Mapping[str, list[Pod]], gone: set[str], now: float,
    ) -> tuple[Plan, Collection[str], list[Pod]]:
        return plan_without_nodes(view, bound, gone, gone, self.config, self.plan_without, now)

    def _gone(self, name: str) -> None:
        cut = self.interrupted.pop(name)
        self._messages.forget(name)
        self.reporter.note("spot", f"interrupted node {name} is gone ({cut.kind}; "
                           f"{'replaced before it went' if cut.replaced else 'its pods waited for new capacity'})")

    def _say(self, node: KubeNode, reason: str, message: str) -> None:
        self._messages.say(node, reason, message)

def must_move(pods: list[Pod]) -> list[Pod]:
    """The pods that need room elsewhere when the node is reclaimed: it goes whether or not a
    pod asked not to be evicted, and its controller makes that pod again; a bare pod ends
    with it (nothing makes it again), so it needs no room."""
    return [replace(pod, do_not_evict=False) for pod in pods if pod.owner]
