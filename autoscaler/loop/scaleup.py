"""Scale-up: plan the pending pods and submit the launches the plan asks for; act on answers.

Launch calls go to the call executor (autoscaler/loop/calls.py) and run off the loop thread;
this module reads their answers: an instance becomes a launch record (typed by what the
cloud delivered, which may be one of the request's alternatives), a typed failure backs off
the scopes the provider named (or, when it named none, the offering in the zones asked),
and a timed-out call is left to the next plan, which sends the same request id.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable, Mapping

from autoscaler.cluster import ClusterView
from autoscaler.config import Config
from autoscaler.loop.attempts import LaunchAttempts, pod_set
from autoscaler.loop.contain import PlanGuard
from autoscaler.loop.backoff import BackoffTracker
from autoscaler.loop.calls import CallExecutor, CallOutcome
from autoscaler.loop.events import INVALID_ANNOTATION, LIMIT_WARNING, NODE_ADD_WARNING, EventReporter
from autoscaler.loop.lifecycle import LAUNCH, InstanceLifecycle, LaunchIntent, role_of
from autoscaler.metrics import Metrics
from autoscaler.model import Node, Pod
from autoscaler.nodelabels import ZONE, node_labels
from autoscaler.nodetaints import launch_taints, type_devices
from autoscaler.planner import NewNode, Plan, plan
from autoscaler.planner.backoffs import Backoffs
from autoscaler.planner.needs import needs_capacity
from autoscaler.resources import Resources
from autoscaler.snapshot import PriceIndex, daemonset_overheads, planner_nodes, pods_by_node
from pricing.disk import configured_floor_gib, root_volume_gib, usable_bytes
from pricing.flex import flex_size, sized_from_tags
from pricing.option_store import OptionStores
from pricing.types import InstanceType, RegionCatalog
from providers.base import (
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_REQUEST,
    TAG_ROLE,
    FailureScope,
    Instance,
    LaunchAlternative,
    LaunchRequest,
    Provider,
    provider_id_key,
)

log = logging.getLogger("smart_autoscaler.loop.scaleup")

MAX_LAUNCH_ROUNDS = 5  # re-plans within one loop after launch failures answered at once


class ScaleUp:
    def __init__(
        self,
        provider: Provider,
        catalog: RegionCatalog,
        config: Config,
        calls: CallExecutor,
        lifecycle: InstanceLifecycle,
        attempts: LaunchAttempts,
        backoff: BackoffTracker,
        reporter: EventReporter,
        metrics: Metrics,
        dry_run: bool = False,
    ) -> None:
        self.provider = provider
        self.config = config
        self.calls = calls
        self.lifecycle = lifecycle
        self.attempts = attempts
        self.backoff = backoff
        self.reporter = reporter
        self.metrics = metrics
        self.dry_run = dry_run
        self.guard = PlanGuard(reporter, metrics, pod_set)  # a planner error stays with its pod set
        self.option_stores = OptionStores()  # candidate lists kept on disk for a restarted daemon
        self.use_catalog(catalog)

    def use_catalog(self, catalog: RegionCatalog) -> None:
        """Plan with this catalog from now on (live prices re-price the embedded one)."""
        self.catalog = catalog
        self.prices = PriceIndex.of(catalog)
        self.types: dict[str, InstanceType] = {o.instance_type.name: o.instance_type for o in catalog.offerings}

    # ---- one loop

    def run(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float, absorb: Callable[[], int]) -> Plan:
        """Plan and submit; while launch failures come back at once (`absorb` returns how many),
        re-plan: the next cheapest offering is asked for in the same loop."""
        pending = [pod for pod in view.pods if pod.unschedulable and not pod.node_name and needs_capacity(pod, self.config)]
        self.metrics.pending_pods.set(len(pending))
        initializing = self.attempts.initializing()
        pending = [pod for pod in pending if pod.key not in initializing]  # their node's devices are coming
        by_key = {pod.key: pod for pod in pending}
        decided = Plan()
        for _ in range(MAX_LAUNCH_ROUNDS if pending else 0):
            decided = self._plan(view, pending, bound, now)
            submitted = sum(self._submit(new, by_key, now) for new in decided.new_nodes)
            if not submitted or not absorb():
                break
        report_problems(self.reporter, decided, by_key)
        self.attempts.warn_over_budget(pending, now)
        self.metrics.unplaceable_pods.set(len(decided.unplaceable))
        return decided

    def _plan(self, view: ClusterView, pending: list[Pod], bound: Mapping[str, list[Pod]], now: float) -> Plan:
        base = self.backoff.view(now)
        self.guard.forget_gone(pending)
        groups: dict[object, tuple[Backoffs, list[Pod]]] = {0: (base, [])}
        group_of: dict[object, object] = {}  # pod set -> its group (0: the loop's back-offs alone)
        for pod in pending:  # pods whose set has back-offs of its own are planned with them
            key = pod_set(pod)
            if key not in group_of:
                own = self.attempts.backoffs_for(pod, base, now)
                group_of[key] = key if own is not None else 0
                if own is not None:
                    groups[key] = (own, [])
            groups[group_of[key]][1].append(pod)
        waiting = {pod.key for pod in pending}
        nodes = planner_nodes(
            view, self.lifecycle.in_flight(now, waiting), self.prices, bound, now, self.config.scale_up_timeout,
            self.attempts.reserved(waiting),
        )
        daemonsets = daemonset_overheads(view.daemonsets)
        store = self.option_stores.for_plan(self.catalog, self.config, daemonsets)
        plans: list[Plan] = []
        for backoffs, pods in groups.values():
            if not pods:
                continue
            decided = self.guard.plan(
                pods,
                lambda some, nodes=nodes, backoffs=backoffs: plan(
                    some, self.catalog, self.config, nodes=nodes, daemonsets=daemonsets, backoffs=backoffs,
                    option_store=store,
                ),
                now,
            )
            plans.append(decided)
            nodes = nodes + [_counted_only(new) for new in decided.new_nodes]
        self.option_stores.flush()
        if len(plans) == 1:
            return plans[0]
        return Plan(
            new_nodes=tuple(n for p in plans for n in p.new_nodes),
            placements=tuple(x for p in plans for x in p.placements),
            unplaceable=tuple(u for p in plans for u in p.unplaceable),
            problems=tuple(x for p in plans for x in p.problems),
            modes={k: v for p in plans for k, v in p.modes.items()},
        )

    def plan_for(self, view: ClusterView, pods: list[Pod], now: float) -> tuple[Plan, list[Node]]:
        """Pods planned as if pending (TTL cycling: an expiring node's pods against the cluster
        without it), with the planner nodes the plan saw."""
        nodes = planner_nodes(
            view, self.lifecycle.in_flight(now), self.prices, pods_by_node(view.pods), now, self.config.scale_up_timeout
        )
        decided = plan(
            pods, self.catalog, self.config, nodes=nodes, daemonsets=daemonset_overheads(view.daemonsets),
            backoffs=self.backoff.view(now),
        )
        return decided, nodes

    def submit(self, new: NewNode, pods: Mapping[str, Pod], now: float) -> bool:
        """Launch one planned node for these pods (TTL replacements); True when submitted."""
        return self._submit(new, pods, now)

    # ---- launching

    def labels_for(self, itype: InstanceType, capacity_type: str, role: str, gpu_time_slices: int = 1) -> dict[str, str]:
        # A time-shared GPU node (GKE) carries the sharing labels its pods select, in flight too.
        labels = node_labels(
            self.catalog.cloud, self.catalog.region, itype, capacity_type, "", role, dict(self.config.node_labels),
            gpu_time_slices if gpu_time_slices > 1 else None,
        )
        labels.pop(ZONE, None)
        return labels

    def intent_for(self, instance: Instance, base: LaunchIntent | None = None) -> LaunchIntent:
        """The launch record of an instance as the cloud delivered it (adopted ones: no pods)."""
        itype = self.types.get(instance.instance_type)
        price = self.prices.price(instance.instance_type, instance.capacity_type)
        if itype is not None and itype.flexible:  # a flexible shape: its size is in the tags
            sized = sized_from_tags(self.catalog.flex_shapes, itype.name, instance.capacity_type, instance.tags)
            if sized is not None:
                itype, price = sized
        role = base.role if base else role_of(instance)
        return LaunchIntent(
            request_id=instance.request_id or (base.request_id if base else ""),
            need=base.need if base else "",
            instance_type=instance.instance_type,
            capacity_type=instance.capacity_type,
            zones=(instance.zone,),
            role=role,
            allocatable=itype.allocatable if itype else Resources(),
            price=price,
            gpus=itype.gpu_count if itype else 0,
            labels=self.labels_for(itype, instance.capacity_type, role) if itype else {},
            taints=base.taints if base else (),
            pods=base.pods if base else (),
        )

    def _submit(self, new: NewNode, pods: Mapping[str, Pod], now: float) -> bool:
        option = new.option
        itype = option.instance_type
        if self.dry_run:
            message = (
                f"dry-run: would launch {itype.name} {option.capacity_type} ({new.mode}, ${option.price:g}/h) "
                f"in {','.join(option.zones)} for {len(new.pods)} pod(s)"
            )
            for key in new.pods:
                self.reporter.pod(pods[key], "DryRunScaleUp", message, event_type="Normal")
            self.reporter.note("dry-run", message.removeprefix("dry-run: "))
            return False
        need = self.attempts.need(new, pods)
        request_id = self.attempts.request_id(need, now)
        labels = self.labels_for(itype, option.capacity_type, new.mode, option.gpu_time_slices)
        volume = self._root_volume(new, pods)
        request = LaunchRequest(
            request_id=request_id,
            instance_type=itype,
            capacity_type=option.capacity_type,
            zones=option.zones,
            labels=labels,
            taints=launch_taints(
                option.taints, type_devices(itype, self.catalog.cloud, self.config.extended_resources),
                [pods[key] for key in new.pods if key in pods],
            ),
            tags={TAG_CLUSTER: self.config.cluster_name, TAG_REQUEST: request_id, TAG_ROLE: new.mode,
                  TAG_CAPACITY: option.capacity_type, **flex_size(itype)},
            price=option.price,
            alternatives=tuple(
                LaunchAlternative(alt.instance_type, alt.capacity_type, alt.zones, alt.price) for alt in new.alternatives
            ),
            root_volume_gib=volume,
        )
        allocatable = replace(option.allocatable, ephemeral=min(option.allocatable.ephemeral, usable_bytes(volume)))
        intent = LaunchIntent(
            request_id, need, itype.name, option.capacity_type, option.zones, new.mode, allocatable,
            option.price, itype.gpu_count, labels, request.taints, new.pods,
        )
        return self.calls.submit(LAUNCH, request_id, lambda: self.provider.launch(request), (intent, request))

    def _root_volume(self, new: NewNode, pods: Mapping[str, Pod]) -> int:
        """The node's root volume (GiB): its pods' ephemeral storage and the DaemonSets' (what
        the planner took off the type's allocatable), sized in pricing/disk.py."""
        itype = new.option.instance_type
        daemonsets = max(0, itype.allocatable.ephemeral - new.option.allocatable.ephemeral)
        need = daemonsets + sum(pods[key].requests.ephemeral for key in new.pods if key in pods)
        gpu = bool(itype.gpu_count)
        return root_volume_gib(self.config.cloud, gpu, need, configured_floor_gib(self.config, gpu))

    # ---- answers

    def answered(self, outcome: CallOutcome, view: ClusterView, now: float) -> bool:
        """Act on a launch's answer; True when the plan should be made again (a failure)."""
        intent, request = outcome.context
        if outcome.timed_out:
            self.metrics.cloud_api_errors.labels("launch", "timeout", "timeout").inc()
            self.reporter.note(
                "launch-timeout",
                f"launch of {intent.instance_type} {intent.capacity_type} did not answer in time: "
                f"the next plan sends the same request id {intent.request_id[:12]}",
            )
            return False
        if outcome.error is not None:
            return self._failed(intent, request, outcome.error, now)
        instance: Instance = outcome.value
        # A node that registered before this call was made belongs to an earlier attempt; one
        # that registered since is this launch, joined before its answer was read (creation
        # timestamps have whole seconds).
        known = {provider_id_key(node.provider_id) for node in view.nodes if node.provider_id and node.created < outcome.started - 1.0}
        if not instance.alive or provider_id_key(instance.provider_id) in known:
            # The cloud answered a spent attempt (after a restart) with its old instance.
            self.attempts.spent(intent.need, now)
            self.reporter.note(
                "stale-key",
                f"request id {intent.request_id[:12]} named an earlier launch ({instance.instance_id}, "
                f"{instance.state}{', already a node' if provider_id_key(instance.provider_id) in known else ''}): launching anew",
            )
            return True
        for skipped in instance.skipped:  # alternatives the cloud passed over on its way
            self.metrics.launch_failures.labels(skipped.kind).inc()
            duration = 0.0
            for scope in skipped.scopes:
                detail = f"{skipped.code}: {skipped}" if skipped.code else str(skipped)
                duration = max(duration, self.backoff.record_failure(scope, skipped.kind, now, detail, skipped.backoff))
            self.reporter.note(
                "launch-failed",
                f"launch {intent.request_id[:12]} passed over an offering ({skipped.kind}"
                f"{': ' + skipped.code if skipped.code else ''}): backed off {describe_scopes(skipped.scopes)} "
                f"for {duration:g}s",
            )
        delivered = intent
        if (instance.instance_type, instance.capacity_type) != (intent.instance_type, intent.capacity_type):
            delivered = self.intent_for(instance, intent)  # an alternative: record what came
        self.lifecycle.launched(replace(delivered, request_id=intent.request_id), instance)
        self.metrics.scale_ups.labels(intent.role, instance.instance_type, instance.capacity_type).inc()
        self.reporter.note(
            "launch",
            f"launched {instance.instance_id}: {instance.instance_type} {instance.capacity_type} in {instance.zone} "
            f"({intent.role}, ${delivered.price:g}/h) for {len(intent.pods)} pod(s)",
        )
        return False

    def _failed(self, intent: LaunchIntent, request: LaunchRequest, err, now: float) -> bool:
        detail = f"{err.code}: {err}" if err.code else str(err)
        zones = (err.zone,) if err.zone else intent.zones
        scopes = err.scopes or tuple(
            FailureScope.offering(intent.instance_type, intent.capacity_type, zone) for zone in zones
        )
        # Launches of one batch run together: the second and later failures of an offering
        # already backed off by the first are counted, not told again.
        known = all(self.backoff.reason(intent.instance_type, intent.capacity_type, z, now) for z in zones)
        duration = 0.0
        for cause in err.causes or (err,):  # each gathered failure backs off with its own kind
            for scope in cause.scopes or (scopes if cause is err else ()):
                duration = max(duration, self.backoff.record_failure(scope, cause.kind, now, detail, cause.backoff))
        self.attempts.spent(intent.need, now)
        self.metrics.launch_failures.labels(err.kind).inc()
        self.metrics.cloud_error("launch", err)
        if not known:
            self.reporter.note(
                "launch-failed",
                f"launch of {intent.instance_type} {intent.capacity_type} in {','.join(intent.zones)} failed "
                f"({err.kind}{': ' + err.code if err.code else ''}): backed off {describe_scopes(scopes)} for {duration:g}s",
            )
        return True


def report_problems(reporter: EventReporter, decided: Plan, pods: Mapping[str, Pod]) -> None:
    """Warnings on pending pods: malformed annotations, and why a pod gets no node."""
    for pod in pods.values():
        for problem in pod.annotation_problems:
            reporter.pod(pod, INVALID_ANNOTATION, problem.message(pod.key))
    for blocked in decided.unplaceable:
        pod = pods.get(blocked.pod)
        if pod is not None:
            reporter.pod(pod, LIMIT_WARNING if blocked.limit else NODE_ADD_WARNING, blocked.reason)


def _counted_only(new: NewNode) -> Node:
    """A node another group's plan adds: it counts against the cluster limits of the next
    group's plan, but takes none of its pods (cordoned)."""
    option = new.option
    return Node(
        name=f"planned/{option.name}/{','.join(new.pods)[:40]}",
        instance_type=option.name,
        capacity_type=option.capacity_type,
        zone="",
        allocatable=option.allocatable,
        managed=True,
        role=new.mode,
        price=option.price,
        gpus=option.instance_type.gpu_count,
        in_flight=True,
        unschedulable=True,
    )


def describe_scopes(scopes: tuple[FailureScope, ...]) -> str:
    """'g6.8xlarge/on-demand in us-east-1a, us-east-1b' for offerings of one type; else the labels."""
    types = {scope.instance_types for scope in scopes}
    capacity = {scope.capacity_type for scope in scopes}
    if len(types) == 1 and len(capacity) == 1 and all(s.zone and s.instance_types and len(s.instance_types) == 1 for s in scopes):
        (name,) = next(iter(types))
        return f"{name}/{next(iter(capacity))} in {', '.join(sorted(s.zone for s in scopes))}"
    return "; ".join(scope.label or "an unnamed scope" for scope in scopes)
