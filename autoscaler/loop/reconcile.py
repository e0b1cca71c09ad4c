"""The reconcile loop: snapshot -> plan -> act -> record (DESIGN.md).

Level-triggered and idempotent: every loop looks at the cluster and the cloud as they are
now. Launched instances that have no Node yet are counted as room (in flight), so a burst
of pods causes one launch, not one per loop; instances tagged for this cluster are adopted
after a restart, and those that never became nodes within `scaleUpTimeout` are terminated
and their offering backed off. Decisions come from the pure planner and scale-down
modules; this file only carries them out, and one failed call never stops the rest.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Callable

from autoscaler.clock import Clock
from autoscaler.cluster import Cluster, ClusterError, ClusterView, EvictionOutcome, KubeNode, ObjectRef
from autoscaler.config import Config
from autoscaler.estimates import REASON as COST_ESTIMATE, estimate_messages
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.nodelabels import CAPACITY_TYPE, INSTANCE_TYPE, ROLE, ZONE, node_labels
from autoscaler.planner import NewNode, Plan, plan
from autoscaler.planner.needs import needs_capacity, wants_cost_estimate
from autoscaler.resources import Resources
from autoscaler.scaledown import decide_scale_down, eviction_blocker, evictable
from autoscaler.snapshot import (
    InFlightNode,
    PriceIndex,
    daemonset_overheads,
    is_managed_node,
    planner_nodes,
    pods_by_node,
)
from autoscaler.loop.backoff import BackoffTracker
from providers.base import (
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_REQUEST,
    TAG_ROLE,
    FailureKind,
    Instance,
    LaunchRequest,
    Provider,
    ProviderError,
)
from pricing.types import InstanceType, RegionCatalog, Taint

log = logging.getLogger("smart_autoscaler.loop.reconcile")

DRAIN_TAINT = Taint("smart-autoscaler.io/draining", "true", "NoSchedule")
NODE_ADD_WARNING = "NodeAddRequestWarning"
LIMIT_WARNING = "NodeAddLimitReached"
INVALID_ANNOTATION = "InvalidAnnotation"
WARNING_REPEAT = 600.0  # seconds before the same warning is repeated on a pod
ESTIMATE_RECHECK = 3600.0  # events expire after about an hour: look again after that
MAX_LAUNCH_ROUNDS = 5  # re-plans within one loop after launch failures
DRAIN_TIMEOUT = 900.0


@dataclass
class LaunchRecord:
    instance: Instance
    role: str
    allocatable: Resources
    price: float
    gpus: int
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    pods: tuple[str, ...] = ()


@dataclass
class DrainState:
    started: float
    reason: str


@dataclass(frozen=True)
class TimelineEntry:
    time: float
    kind: str  # launch, launch-failed, registered, timeout, backoff, evict, drain, remove, blocked, estimate
    message: str


@dataclass
class LoopReport:
    pending: int = 0
    launched: list[Instance] = field(default_factory=list)
    unplaceable: int = 0
    removed: list[str] = field(default_factory=list)


def pod_ref(pod: Pod) -> ObjectRef:
    return ObjectRef("Pod", pod.namespace, pod.name, pod.uid)


def node_ref(node: KubeNode) -> ObjectRef:
    return ObjectRef("Node", "", node.name, node.uid)


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
    ) -> None:
        self.cluster = cluster
        self.provider = provider
        self.catalog = catalog
        self.embedded_catalog = catalog  # live prices (a provider's live_catalog) start from it
        self.config = config
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.dry_run = dry_run
        self.backoff = backoff or BackoffTracker(config.backoff)
        self.prices = PriceIndex.of(catalog)
        self.types: dict[str, InstanceType] = {o.instance_type.name: o.instance_type for o in catalog.offerings}
        self.launches: dict[str, LaunchRecord] = {}
        self.unneeded_since: dict[str, float] = {}
        self.draining: dict[str, DrainState] = {}
        self.warned: dict[tuple[str, str], tuple[str, float]] = {}
        self.estimated: dict[str, float] = {}
        self.timeline: list[TimelineEntry] = []
        self.on_timeline = on_timeline

    # ---- one loop

    def reconcile_once(self) -> LoopReport:
        report = LoopReport()
        with self.metrics.reconcile_duration.time():
            now = self.clock.now()
            self._live_prices()
            view = self.cluster.view()
            instances = self._list_instances()
            if instances is not None:
                self._sync_instances(view, instances, now)
            bound = pods_by_node(view.pods)
            if instances is not None:
                self._scale_up(view, bound, now, report)
            self._cost_estimates(view, now)
            self._scale_down(view, bound, instances or [], now, report)
            self._record_gauges(view, now)
        return report

    def _live_prices(self) -> None:
        """A provider with live prices (optional `live_catalog(base)`, fetched off the loop)
        re-prices the embedded catalog; it returns its last answer, never blocks or raises."""
        live_catalog = getattr(self.provider, "live_catalog", None)
        if live_catalog is None:
            return
        try:
            catalog = live_catalog(self.embedded_catalog)
        except Exception:  # noqa: BLE001 - prices must never stop the loop
            log.exception("live prices failed; the embedded catalog answers")
            catalog = self.embedded_catalog
        for source, age in getattr(self.provider, "price_ages", dict)().items():
            self.metrics.price_age.labels(source).set(age)
        if catalog is not self.catalog:
            self.catalog = catalog
            self.prices = PriceIndex.of(catalog)
            self.types = {o.instance_type.name: o.instance_type for o in catalog.offerings}

    # ---- instances: adopt, match to nodes, time out

    def _list_instances(self) -> list[Instance] | None:
        try:
            return self.provider.list_instances()
        except ProviderError as err:
            self.metrics.cloud_api_errors.labels("list", err.kind).inc()
            log.error("listing instances failed, skipping scale-up this loop: %s", err)
            return None

    def _adopt(self, instance: Instance) -> LaunchRecord:
        itype = self.types.get(instance.instance_type)
        allocatable = itype.allocatable if itype else Resources()
        role = instance.tags.get(TAG_ROLE, "")
        labels = self._labels_for(itype, instance.capacity_type, role) if itype else {}
        record = LaunchRecord(
            instance=instance,
            role=role,
            allocatable=allocatable,
            price=self.prices.price(instance.instance_type, instance.capacity_type),
            gpus=itype.gpu_count if itype else 0,
            labels=labels,
            taints=(),
        )
        self._note("adopt", f"adopted instance {instance.instance_id} ({instance.instance_type} {instance.capacity_type}) after restart")
        return record

    def _sync_instances(self, view: ClusterView, instances: list[Instance], now: float) -> None:
        by_provider_id = {node.provider_id: node for node in view.nodes if node.provider_id}
        alive = {instance.instance_id: instance for instance in instances if instance.alive}
        for instance_id in [i for i in self.launches if i not in alive]:
            del self.launches[instance_id]  # gone from the cloud before it registered
        for instance in alive.values():
            record = self.launches.get(instance.instance_id)
            node = by_provider_id.get(instance.provider_id)
            if node is not None:
                if record is not None:
                    self._registered(record, node, now)
                    del self.launches[instance.instance_id]
                continue
            if record is None:
                record = self.launches[instance.instance_id] = self._adopt(instance)
            if now - instance.launched_at >= self.config.scale_up_timeout:
                self._time_out(record, now)

    def _registered(self, record: LaunchRecord, node: KubeNode, now: float) -> None:
        self.metrics.launch_latency.observe(max(0.0, now - record.instance.launched_at))
        self.backoff.record_success((record.instance.instance_type, record.instance.capacity_type, record.instance.zone))
        self._note("registered", f"node {node.name} registered for instance {record.instance.instance_id} ({record.instance.instance_type})")
        missing = {k: v for k, v in record.labels.items() if node.labels.get(k) != v}
        if missing and not self.dry_run:
            try:
                self.cluster.patch_node(node.name, labels=missing)
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("patch_node").inc()
                log.error("labelling node %s failed: %s", node.name, err)

    def _time_out(self, record: LaunchRecord, now: float) -> None:
        instance = record.instance
        # A node that never registers is rarely a zone's fault (image, bootstrap, quota on
        # attachments): back off the type in every zone.
        key = (instance.instance_type, instance.capacity_type, "")
        try:
            self.provider.terminate(instance.instance_id)
        except ProviderError as err:
            self.metrics.cloud_api_errors.labels("terminate", err.kind).inc()
            log.error("terminating timed-out instance %s failed (will retry): %s", instance.instance_id, err)
            return
        duration = self.backoff.record_failure(key, FailureKind.LAUNCH_TIMEOUT, now, "node did not register")
        self.metrics.launch_failures.labels(FailureKind.LAUNCH_TIMEOUT).inc()
        del self.launches[instance.instance_id]
        self._note(
            "timeout",
            f"instance {instance.instance_id} ({instance.instance_type} {instance.capacity_type} {instance.zone}) "
            f"did not register within scaleUpTimeout={self.config.scale_up_timeout:g}s: terminated, backed off {duration:g}s",
        )

    def _in_flight(self) -> list[InFlightNode]:
        return [
            InFlightNode(
                instance_id=r.instance.instance_id,
                instance_type=r.instance.instance_type,
                capacity_type=r.instance.capacity_type,
                zone=r.instance.zone,
                role=r.role,
                allocatable=r.allocatable,
                price=r.price,
                gpus=r.gpus,
                launched_at=r.instance.launched_at,
                labels=r.labels,
                taints=r.taints,
                reserved_for=r.pods,
            )
            for r in self.launches.values()
        ]

    # ---- scale-up

    def _labels_for(self, itype: InstanceType, capacity_type: str, role: str, zone: str = "") -> dict[str, str]:
        labels = node_labels(
            self.catalog.cloud,
            self.catalog.region,
            itype,
            capacity_type,
            zone,
            role,
            dict(self.config.node_labels),
        )
        if not zone:
            labels.pop(ZONE, None)
        return labels

    def _plan(self, view: ClusterView, pending: list[Pod], bound: dict, now: float) -> Plan:
        nodes = planner_nodes(view, self._in_flight(), self.prices, bound, now, self.config.scale_up_timeout)
        return plan(
            pending,
            self.catalog,
            self.config,
            nodes=nodes,
            daemonsets=daemonset_overheads(view.daemonsets),
            backoffs=self.backoff.active(now),
        )

    def _scale_up(self, view: ClusterView, bound: dict, now: float, report: LoopReport) -> None:
        pending = [pod for pod in view.pods if needs_capacity(pod, self.config)]
        report.pending = len(pending)
        self.metrics.pending_pods.set(len(pending))
        if not pending:
            return
        by_key = {pod.key: pod for pod in pending}
        decided = self._plan(view, pending, bound, now)
        for _ in range(MAX_LAUNCH_ROUNDS):
            failed = False
            for new in decided.new_nodes:
                if not self._launch(new, by_key, now, report):
                    failed = True
                    break
            if not failed:
                break
            decided = self._plan(view, pending, bound, now)  # next cheapest, at once
        self._report_problems(decided, by_key, now)
        report.unplaceable = len(decided.unplaceable)
        self.metrics.unplaceable_pods.set(len(decided.unplaceable))

    def _launch(self, new: NewNode, pods: dict[str, Pod], now: float, report: LoopReport) -> bool:
        option = new.option
        itype = option.instance_type
        if self.dry_run:
            message = (
                f"dry-run: would launch {itype.name} {option.capacity_type} ({new.mode}, ${option.price:g}/h) "
                f"in {','.join(option.zones)} for {len(new.pods)} pod(s)"
            )
            for key in new.pods:
                self._warn_once(pods[key], "DryRunScaleUp", message, now, event_type="Normal")
            self._note("dry-run", message.removeprefix("dry-run: "))
            return True
        request_id = self._request_id(new, now)
        labels = self._labels_for(itype, option.capacity_type, new.mode)
        request = LaunchRequest(
            request_id=request_id,
            instance_type=itype,
            capacity_type=option.capacity_type,
            zones=option.zones,
            labels=labels,
            taints=tuple(t for t in option.taints),
            tags={
                TAG_CLUSTER: self.config.cluster_name,
                TAG_REQUEST: request_id,
                TAG_ROLE: new.mode,
                TAG_CAPACITY: option.capacity_type,
            },
        )
        try:
            instance = self.provider.launch(request)
        except ProviderError as err:
            detail = f"{err.code}: {err}" if err.code else str(err)
            duration = 0.0
            for key in self._failed_offerings(itype, option.capacity_type, option.zones, err):
                duration = self.backoff.record_failure(key, err.kind, now, detail)
            self.metrics.launch_failures.labels(err.kind).inc()
            self.metrics.cloud_api_errors.labels("launch", err.kind).inc()
            self._note(
                "launch-failed",
                f"launch of {itype.name} {option.capacity_type} in {','.join(option.zones)} failed ({err.kind}"
                f"{': ' + err.code if err.code else ''}): backed off {duration:g}s",
            )
            return False
        self.launches[instance.instance_id] = LaunchRecord(
            instance=instance,
            role=new.mode,
            allocatable=option.allocatable,
            price=option.price,
            gpus=itype.gpu_count,
            labels=labels,
            taints=request.taints,
            pods=new.pods,
        )
        self.metrics.scale_ups.labels(new.mode, itype.name, option.capacity_type).inc()
        report.launched.append(instance)
        self._note(
            "launch",
            f"launched {instance.instance_id}: {itype.name} {option.capacity_type} in {instance.zone} "
            f"({new.mode}, ${option.price:g}/h) for {len(new.pods)} pod(s)",
        )
        return True

    def _failed_offerings(
        self, itype: InstanceType, capacity_type: str, zones: tuple[str, ...], err: ProviderError
    ) -> list[tuple[str, str, str]]:
        """What a failed launch backs off. A quota is counted per family and region (vCPU quotas
        cover a family), so every type of the family in every zone; a capacity failure names
        its zone, or else covers every zone the request offered (not zones it did not try)."""
        if err.kind == FailureKind.QUOTA_EXCEEDED:
            family = [name for name, other in self.types.items() if other.family == itype.family]
            return [(name, capacity_type, "") for name in family or [itype.name]]
        return [(itype.name, capacity_type, zone) for zone in ((err.zone,) if err.zone else zones)]

    def _request_id(self, new: NewNode, now: float) -> str:
        """The idempotency key of a launch, derived from the need it serves: a process that dies
        right after the cloud accepted a launch, and plans the same need again on restart, sends
        the same key, and the cloud answers with the instance it already started. The time
        bucket makes a retry after a scale-up timeout a new request."""
        bucket = int(now // max(self.config.scale_up_timeout, 1.0))
        need = "|".join(
            (self.config.cluster_name, new.option.name, new.option.capacity_type, ",".join(sorted(new.pods)), str(bucket))
        )
        return hashlib.sha256(need.encode()).hexdigest()[:32]

    def _report_problems(self, decided: Plan, pods: dict[str, Pod], now: float) -> None:
        for pod in pods.values():
            for problem in pod.annotation_problems:
                self._warn_once(pod, INVALID_ANNOTATION, problem.message(pod.key), now)
        for blocked in decided.unplaceable:
            pod = pods.get(blocked.pod)
            if pod is None:
                continue
            reason = LIMIT_WARNING if blocked.limit else NODE_ADD_WARNING
            self._warn_once(pod, reason, blocked.reason, now)

    def _warn_once(self, pod: Pod, reason: str, message: str, now: float, event_type: str = "Warning") -> None:
        """An event per pod and reason; repeated only when the message changes or after a while."""
        key = (pod.uid or pod.key, reason)
        last = self.warned.get(key)
        if last is not None and last[0] == message and now - last[1] < WARNING_REPEAT:
            return
        self.warned[key] = (message, now)
        self._event(pod_ref(pod), event_type, reason, message)

    def _event(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        try:
            self.cluster.create_event(ref, event_type, reason, message)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("create_event").inc()
            log.error("creating event %s on %s %s failed: %s", reason, ref.kind, ref.name, err)

    # ---- cost estimates (SPEC §6)

    def _cost_estimates(self, view: ClusterView, now: float) -> None:
        gated = [pod for pod in view.pods if wants_cost_estimate(pod, self.config)]
        live = {pod.uid or pod.key for pod in gated}
        for uid in [u for u in self.estimated if u not in live]:
            del self.estimated[uid]
        due = []
        for pod in gated:
            seen = self.estimated.get(pod.uid or pod.key)
            if seen is not None and now - seen < ESTIMATE_RECHECK:
                continue
            try:
                exists = self.cluster.has_event(pod_ref(pod), COST_ESTIMATE)
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("list_events").inc()
                log.error("looking up cost-estimate events of %s failed: %s", pod.key, err)
                continue
            if exists:
                self.estimated[pod.uid or pod.key] = now
            else:
                due.append(pod)
        if not due:
            return
        # The set of a due pod includes its gated siblings that already have an estimate.
        owners = {pod.owner for pod in due if pod.owner}
        due_keys = {pod.key for pod in due}
        members = [pod for pod in gated if pod.key in due_keys or (pod.owner and pod.owner in owners)]
        messages = estimate_messages(
            members, self.catalog, self.config, self.backoff.active(now), daemonset_overheads(view.daemonsets)
        )
        for pod in due:
            message = messages.get(pod.key)
            if message is None:
                continue
            self._event(pod_ref(pod), "Normal", COST_ESTIMATE, message)
            self.estimated[pod.uid or pod.key] = now
            self._note("estimate", f"{pod.key}: {message}")

    # ---- scale-down

    def _scale_down(
        self, view: ClusterView, bound: dict, instances: list[Instance], now: float, report: LoopReport
    ) -> None:
        nodes = {node.name: node for node in view.nodes}
        for name in [n for n in self.draining if n not in nodes]:
            del self.draining[name]
        for node in view.nodes:  # a drain a previous leader or process started: carry it on
            if node.name not in self.draining and DRAIN_TAINT in node.taints and not self.dry_run:
                self.draining[node.name] = DrainState(now, "drain resumed after a restart")
        decision = decide_scale_down(
            view.nodes, bound, view.pdbs, self.config, now, self.unneeded_since, self.draining.keys()
        )
        self.unneeded_since = decision.unneeded_since
        for candidate in decision.to_drain:
            node = nodes[candidate.node]
            if self.dry_run:
                self._note("dry-run", f"would drain and remove node {node.name}: {candidate.reason}")
                self._event(node_ref(node), "Normal", "DryRunScaleDown", f"would remove: {candidate.reason}")
                self.unneeded_since.pop(node.name, None)
                continue
            try:
                self.cluster.patch_node(node.name, add_taints=(DRAIN_TAINT,))
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("patch_node").inc()
                log.error("tainting node %s for removal failed: %s", node.name, err)
                continue
            self.draining[node.name] = DrainState(now, candidate.reason)
            self._note("drain", f"draining node {node.name}: {candidate.reason}")
        by_provider_id = {i.provider_id: i for i in instances}
        for name, state in list(self.draining.items()):
            if name in {c.node for c in decision.to_drain}:
                continue  # tainted this loop: evict from the next one, once the taint is seen
            self._drain_step(nodes[name], state, bound.get(name, []), view, by_provider_id, now, report)

    def _abort_drain(self, node: KubeNode, why: str, now: float) -> None:
        self.draining.pop(node.name, None)
        self.unneeded_since[node.name] = now
        try:
            self.cluster.patch_node(node.name, remove_taint_keys=(DRAIN_TAINT.key,))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("removing the drain taint from %s failed: %s", node.name, err)
        self._event(node_ref(node), "Warning", "ScaleDownBlocked", why)
        self._note("blocked", f"kept node {node.name}: {why}")

    def _drain_step(
        self,
        node: KubeNode,
        state: DrainState,
        pods: list[Pod],
        view: ClusterView,
        by_provider_id: dict[str, Instance],
        now: float,
        report: LoopReport,
    ) -> None:
        workload = [pod for pod in pods if evictable(pod)]
        for pod in workload:
            blocker = eviction_blocker(pod, view.pdbs)
            if blocker and (pod.do_not_evict or not pod.owner):
                self._abort_drain(node, blocker, now)
                return
        if now - state.started > DRAIN_TIMEOUT and workload:
            self._abort_drain(node, f"drain did not finish within {DRAIN_TIMEOUT:g}s", now)
            return
        for pod in workload:
            try:
                outcome = self.cluster.evict_pod(pod.namespace, pod.name)
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("evict").inc()
                log.error("evicting %s from %s failed: %s", pod.key, node.name, err)
                return
            if outcome == EvictionOutcome.BLOCKED:
                self._abort_drain(node, f"eviction of pod {pod.key} refused (429): a PodDisruptionBudget allows no disruption now", now)
                return
            if outcome == EvictionOutcome.EVICTED:
                self._note("evict", f"evicted {pod.key} from {node.name}")
        if workload:
            return  # the pods go away; remove the node on a later loop
        instance = by_provider_id.get(node.provider_id)
        if instance is not None:
            try:
                self.provider.terminate(instance.instance_id)
            except ProviderError as err:
                self.metrics.cloud_api_errors.labels("terminate", err.kind).inc()
                log.error("terminating %s for node %s failed (will retry): %s", instance.instance_id, node.name, err)
                return
        try:
            self.cluster.delete_node(node.name)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("delete_node").inc()
            log.error("deleting node %s failed (will retry): %s", node.name, err)
            return
        del self.draining[node.name]
        self.unneeded_since.pop(node.name, None)
        self.metrics.scale_downs.labels("unneeded").inc()
        report.removed.append(node.name)
        self._note("remove", f"removed node {node.name} ({state.reason})")

    # ---- bookkeeping

    def _record_gauges(self, view: ClusterView, now: float) -> None:
        by_role: dict[str, int] = {"bin-pack": 0, "bin-select": 0}
        cost = 0.0
        for node in view.nodes:
            if is_managed_node(node):
                role = node.labels.get(ROLE) or "unknown"
                by_role[role] = by_role.get(role, 0) + 1
                cost += self.prices.price(node.labels.get(INSTANCE_TYPE, ""), node.labels.get(CAPACITY_TYPE, "on-demand"))
        for record in self.launches.values():
            by_role[record.role or "unknown"] = by_role.get(record.role or "unknown", 0) + 1
            cost += record.price
        for role, count in by_role.items():
            self.metrics.managed_nodes.labels(role).set(count)
        self.metrics.hourly_cost.set(round(cost, 6))
        self.metrics.in_flight.set(len(self.launches))
        active: dict[str, int] = {}
        for _, kind, _ in self.backoff.snapshot(now):
            active[kind] = active.get(kind, 0) + 1
        for kind in (FailureKind.INSUFFICIENT_CAPACITY, FailureKind.QUOTA_EXCEEDED, FailureKind.LAUNCH_TIMEOUT, FailureKind.THROTTLED, FailureKind.OTHER):
            self.metrics.backoffs.labels(kind).set(active.get(kind, 0))

    def _note(self, kind: str, message: str) -> None:
        entry = TimelineEntry(self.clock.now(), kind, message)
        self.timeline.append(entry)
        if len(self.timeline) > 10_000:
            del self.timeline[:5_000]
        log.info("%s: %s", kind, message)
        if self.on_timeline:
            self.on_timeline(entry)
