"""The reconcile loop: snapshot -> plan -> act -> record (DESIGN.md), as orchestration only.

Level-triggered and idempotent: every loop looks at the cluster and the cloud as they are
now. Each job is a part of its own under autoscaler/loop/:

    calls.py      cloud calls off the loop thread (bounded, timed out), answers read here
    lifecycle.py  instances: sync with the cloud, adopt, register, time out; room in flight
    attempts.py   idempotency keys; what became of nodes launched for pods (no flapping)
    scaleup.py    plan the pending pods, submit launches, act on their answers
    unneeded.py   scale-down: which nodes to drain, handed to
    drain.py      the drain state machine (taint, evict, terminate, delete), for any caller
    costs.py      NodeCostEstimate events for gated pods
    events.py     every Event and timeline line, dedupe keys and repeat intervals
    gauges.py     the gauges
    backoff.py    the back-off tracker (scopes from the providers)

    ttl.py        node TTL cycling (replacement first, then the drain)
    interruptions.py  spot interruptions: notices, replacement first, drain before the deadline
    hotnodes.py   hot-node mitigation from the metrics API

More jobs plug in with `add(component)`: its `run(LoopContext)` is called every loop after
scale-down, and it may drain through `reconciler.drainer.request(node, reason, kind, now)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from autoscaler.clock import Clock, SimClock
from autoscaler.cluster import Cluster, ClusterView
from autoscaler.config import Config
from autoscaler.loop.attempts import LaunchAttempts
from autoscaler.loop.backoff import BackoffTracker
from autoscaler.loop.calls import CallExecutor, SimulatedCalls, ThreadedCalls
from autoscaler.loop.costs import CostEstimates
from autoscaler.loop.drain import DRAIN_TERMINATE, Drainer, DrainStep
from autoscaler.loop.prices import LivePrices
from autoscaler.loop.events import EventReporter, TimelineEntry
from autoscaler.loop.freshness import Freshness
from autoscaler.loop.gauges import record_gauges
from autoscaler.loop.hotnodes import HotNodes
from autoscaler.loop.interruptions import NOTICES, SpotInterruptions
from autoscaler.loop.lifecycle import LAUNCH, TERMINATE, InstanceLifecycle
from autoscaler.loop.scaleup import ScaleUp
from autoscaler.loop.ttl import TtlCycling
from autoscaler.loop.unneeded import ScaleDown
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner import Plan
from autoscaler.usage import NO_METRICS, MetricsSource
from autoscaler.snapshot import pods_by_node
from pricing.types import RegionCatalog
from providers.base import Instance, Provider, provider_id_key

log = logging.getLogger("smart_autoscaler.loop.reconcile")

LIST = "list"

__all__ = ["LoopContext", "LoopReport", "Reconciler", "TimelineEntry", "default_calls"]


@dataclass
class LoopReport:
    pending: int = 0
    launched: list[Instance] = field(default_factory=list)
    unplaceable: int = 0
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoopContext:
    """What one loop saw, for components plugged into it."""

    view: ClusterView
    bound: Mapping[str, list[Pod]]
    instances: Mapping[str, Instance]  # by provider_id_key(provider id); empty when the cloud did not answer
    now: float


class Component(Protocol):
    def run(self, context: LoopContext) -> None: ...


def default_calls(provider: Provider, clock: Clock, config: Config) -> CallExecutor:
    """Threads on the real clock; on a simulated clock, calls that answer after the latency the
    simulated cloud gives (`call_latency(kind)`), deterministically (see calls.py)."""
    if isinstance(clock, SimClock):
        return SimulatedCalls(
            clock, config.max_concurrent_launches, config.cloud_call_timeout, getattr(provider, "call_latency", None)
        )
    return ThreadedCalls(clock, config.max_concurrent_launches, config.cloud_call_timeout)


class Reconciler:
    def __init__(
        self,
        cluster: Cluster,
        provider: Provider,
        catalog: RegionCatalog,
        config: Config,
        clock: Clock,
        metrics: Metrics | None = None,
        dry_run: bool = False,
        backoff: BackoffTracker | None = None,
        on_timeline: Callable[[TimelineEntry], None] | None = None,
        calls: CallExecutor | None = None,
        usage: MetricsSource | None = None,
        freshness: Freshness | None = None,
    ) -> None:
        self.cluster = cluster
        self._provider = provider
        self.config = config
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.calls = calls or default_calls(provider, clock, config)
        self.backoff = backoff or BackoffTracker(config.backoff)
        self.reporter = EventReporter(cluster, clock, self.metrics, on_timeline)
        self.attempts = LaunchAttempts(config, self.reporter, self.metrics)
        self.lifecycle = InstanceLifecycle(
            cluster, provider, self.calls, config, self.backoff, self.reporter, self.metrics,
            adopt_intent=lambda instance: self.scale_up.intent_for(instance), dry_run=dry_run,
        )
        self.scale_up = ScaleUp(
            provider, catalog, config, self.calls, self.lifecycle, self.attempts, self.backoff, self.reporter,
            self.metrics, dry_run,
        )
        self.drainer = Drainer(cluster, provider, self.calls, self.reporter, self.metrics, config.scale_down.drain_timeout)
        self.scale_down = ScaleDown(config, self.drainer, self.reporter, dry_run, keep=self.attempts.awaited_nodes)
        self.costs = CostEstimates(catalog, config, self.reporter)
        self.hot_nodes = HotNodes(
            cluster, usage or NO_METRICS, config, self.metrics, self.reporter, self.drainer, dry_run, self.drainer.evictions
        )
        self.ttl = TtlCycling(
            cluster, config, self.metrics, self.reporter, self.drainer, self._plan_without, self.scale_up.submit, dry_run,
            also_moving=lambda: self.hot_nodes.evicted_now,
        )
        self.interruptions = SpotInterruptions(
            cluster, lambda: self._provider, self.calls, config, self.metrics, self.reporter, self.drainer, self.backoff,
            self._plan_without, self.scale_up.submit, dry_run,
        )
        self.components: list[Component] = [self.interruptions, self.hot_nodes, self.ttl]
        self._dry_run = dry_run
        self.prices = self.scale_up.prices
        self.live_prices = LivePrices(lambda: self._provider, catalog, self.metrics, self._use_catalog)
        # The daemon keeps one across leadership terms: an outage that cost the Lease is still
        # an outage to the next term's loop.
        self.freshness = freshness or Freshness.for_loop_period(config.loop_period)
        self.cloud_error = ""  # why the last listing of instances failed ('' when it answered)
        self.held = ""  # why the last loop launched and removed nothing ('' when it acted)

    # The provider and dry-run are shared by the parts; setting them here sets them everywhere.
    @property
    def provider(self) -> Provider:
        return self._provider

    @provider.setter
    def provider(self, provider: Provider) -> None:
        self._provider = self.lifecycle.provider = self.scale_up.provider = self.drainer.provider = provider

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    @dry_run.setter
    def dry_run(self, value: bool) -> None:
        self._dry_run = self.lifecycle.dry_run = self.scale_up.dry_run = self.scale_down.dry_run = value
        self.ttl.dry_run = self.hot_nodes.dry_run = self.interruptions.dry_run = value

    @property
    def timeline(self) -> list[TimelineEntry]:
        return self.reporter.timeline

    def _use_catalog(self, catalog: RegionCatalog) -> None:
        self.scale_up.use_catalog(catalog)
        self.costs.catalog = catalog
        self.prices = self.scale_up.prices

    def note(self, kind: str, message: str) -> None:
        self.reporter.note(kind, message)

    def add(self, component: Component) -> None:
        self.components.append(component)

    # ---- one loop

    def reconcile_once(self) -> LoopReport:
        report = LoopReport()
        with self.metrics.reconcile_duration.time():
            self.live_prices.refresh()
            now, view = self.clock.now(), self.cluster.view()
            api_error = getattr(self.cluster, "api_error", lambda: "")()
            self.freshness.observe(api_error, now)
            hold = self.freshness.hold(now)
            if bool(hold) != bool(self.held):  # said when it starts and when it ends, not every loop
                self.note("hold" if hold else "resume", hold or "the Kubernetes API answers and node conditions are fresh")
            self.held = hold

            def absorb() -> int:
                return self._absorb(view, now, report)

            absorb()  # answers to calls of earlier loops
            if self.freshness.stale:  # the caches may be out of date: decide nothing on them
                self._list_instances()
                absorb()
                return report
            instances = self._sync_instances(view, now, absorb)
            bound = pods_by_node(view.pods)
            self.attempts.check(view, bound, now)
            awaited: set[str] = set()
            if instances is not None and not hold:
                decided = self.scale_up.run(view, bound, now, absorb)
                report.pending, report.unplaceable = len(decided.modes), len(decided.unplaceable)
                awaited = {placement.node for placement in decided.placements}
            self._stage("cost estimates", lambda: self.costs.run(view, self.backoff.view(now), now))
            context = LoopContext(view, bound, {provider_id_key(i.provider_id): i for i in instances or []}, now)
            self.drainer.cloud_answered = instances is not None
            if not hold:
                self._stage("scale-down", lambda: self._scale_down(context, report, awaited))
                for component in self.components:
                    self._stage(type(component).__name__, lambda component=component: component.run(context))
            absorb()
            self._record(view, now)
        return report

    def _stage(self, name: str, run: Callable[[], object]) -> None:
        """One job of the loop; an internal error in it is logged and counted, and the others go on."""
        try:
            run()
        except Exception as err:  # noqa: BLE001 - one job's bug must not stop the loop's others
            self.metrics.reconcile_errors.inc()
            log.error("%s failed this loop (%s: %s); the loop goes on", name, type(err).__name__, err)
            log.debug("%s failed", name, exc_info=True)

    def _sync_instances(self, view: ClusterView, now: float, absorb: Callable[[], int]) -> list[Instance] | None:
        instances = self._list_instances()
        if instances is not None:
            self.attempts.watch(self.lifecycle.sync(view, instances, now), now)
            absorb()  # e.g. a timed-out instance's termination, answered at once
        return instances

    def _scale_down(self, context: LoopContext, report: LoopReport, awaited: set[str]) -> None:
        if not self.dry_run:
            self.drainer.resume(context.view, context.now)
        started = self.scale_down.run(context.view, context.bound, context.now, awaited)
        step = self.drainer.step(context.view, context.bound, context.instances, context.now, skip=started)
        self._drains_ended(step, context.now, report)

    def _record(self, view: ClusterView, now: float) -> None:
        live = {pod.uid or pod.key for pod in view.pods}
        self.reporter.forget_pods(live)
        self.drainer.evictions.forget(live)
        record_gauges(self.metrics, view, self.lifecycle.in_flight(now), self.prices, self.backoff, now)

    def _plan_without(self, view: ClusterView, pods: list[Pod], now: float) -> tuple[Plan, set[str]]:
        """TTL cycling: the plan of an expiring node's pods against the cluster without it, and
        the planner nodes not Ready yet (a placement there is a replacement on its way)."""
        decided, nodes = self.scale_up.plan_for(view, pods, now)
        return decided, {node.name for node in nodes if node.in_flight or not node.ready}

    def _list_instances(self) -> list[Instance] | None:
        self.calls.submit(LIST, LIST, self.provider.list_instances)
        outcome = self.calls.wait(LIST, LIST, min(self.config.cloud_call_timeout, self.config.loop_period))
        if outcome is None:
            self.cloud_error = "listing instances has not answered yet"
            log.warning("listing instances has not answered yet; skipping scale-up this loop")
            return None
        if not outcome.ok:
            self.cloud_error = f"listing instances failed: {outcome.error}"
            self.metrics.cloud_error("list", outcome.error)
            log.error("listing instances failed, skipping scale-up this loop: %s", outcome.error)
            return None
        self.cloud_error = ""
        return list(outcome.value)

    def _absorb(self, view: ClusterView, now: float, report: LoopReport) -> int:
        """Act on every call answered since; returns how many launches failed (re-plan)."""
        failures = 0
        drains = DrainStep()
        for outcome in self.calls.collect():
            if outcome.kind == LAUNCH:
                failures += self.scale_up.answered(outcome, view, now)
                if outcome.ok and outcome.value.instance_id in self.lifecycle.records:
                    report.launched.append(outcome.value)
            elif outcome.kind == TERMINATE:
                self.lifecycle.terminated(outcome, now)
            elif outcome.kind == DRAIN_TERMINATE:
                self.drainer.terminated(outcome, drains)
            elif outcome.kind == NOTICES:
                self.interruptions.answered(outcome)
        self._drains_ended(drains, now, report)
        return failures

    def _drains_ended(self, step: DrainStep, now: float, report: LoopReport) -> None:
        self.scale_down.drains_ended(step.removed, step.aborted, now)
        report.removed.extend(step.removed)

    # ---- stopping

    def shutdown(self, grace: float) -> None:
        """Stop taking calls; wait up to `grace` for those in flight, abandon the rest safely:
        an instance a launch made anyway carries this cluster's tags, so the next leader adopts
        it (or terminates it if it never becomes a node); an unfinished drain is resumed from
        its taint."""
        finished, abandoned = self.calls.shutdown(grace)
        log.info(
            "stopped: %d cloud call(s) in flight finished, %d abandoned (tagged instances are adopted by the next "
            "leader; drains resume from their taint)",
            finished, abandoned,
        )
