"""Instances from launch to Node: sync with the cloud, adopt, register, time out.

Every loop compares the instances the cloud lists (tagged for this cluster) with the Nodes.
An instance with a Node is registered: its labels are completed and its record dropped. One
without a Node is room on its way (in flight), whether this process launched it or a
previous one did (adopted after a restart) -- unless this process saw it with a Node before:
then someone else deleted that Node, and the instance is terminated or kept per
`deletedNodeInstances`, never counted as room nor backed off. One that has not become a Node within
`scaleUpTimeout` is terminated (off the loop thread) and what the provider says the failure
covers is backed off. Launches submitted but not yet answered are room too, exactly like
launched-but-unregistered instances, so a burst causes one launch per node, not one per loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

from autoscaler.cluster import Cluster, ClusterError, ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.loop.backoff import BackoffTracker
from autoscaler.loop.calls import CallExecutor, CallOutcome
from autoscaler.loop.events import EventReporter
from autoscaler.metrics import Metrics
from autoscaler.resources import Resources
from autoscaler.snapshot import InFlightNode
from pricing.types import Taint
from providers.base import TAG_ROLE, FailureKind, Instance, Provider, provider_id_key, registration_timeout_scope

log = logging.getLogger("smart_autoscaler.loop.lifecycle")

TERMINATE = "terminate"
LIST_LAG = 60.0  # seconds a launched instance may be missing from the cloud's list
LAUNCH = "launch"


@dataclass(frozen=True)
class LaunchIntent:
    """What a launch is for: the node the planner asked for and the pods it is meant to take."""

    request_id: str
    need: str  # the need the request serves (autoscaler.loop.attempts)
    instance_type: str
    capacity_type: str
    zones: tuple[str, ...]
    role: str
    allocatable: Resources
    price: float
    gpus: int
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    pods: tuple[str, ...] = ()


@dataclass
class LaunchRecord:
    instance: Instance
    intent: LaunchIntent
    terminating: bool = False


@dataclass(frozen=True)
class Orphan:
    """An instance whose Node someone else deleted, being terminated (no back-off follows)."""

    instance: Instance


@dataclass(frozen=True)
class Registration:
    """An instance that has just become a Node, and the launch it came from."""

    node: KubeNode
    record: LaunchRecord


class InstanceLifecycle:
    def __init__(
        self,
        cluster: Cluster,
        provider: Provider,
        calls: CallExecutor,
        config: Config,
        backoff: BackoffTracker,
        reporter: EventReporter,
        metrics: Metrics,
        adopt_intent: Callable[[Instance], LaunchIntent],
        dry_run: bool = False,
    ) -> None:
        self.cluster = cluster
        self.provider = provider
        self.calls = calls
        self.config = config
        self.backoff = backoff
        self.reporter = reporter
        self.metrics = metrics
        self.adopt_intent = adopt_intent
        self.dry_run = dry_run
        self.records: dict[str, LaunchRecord] = {}  # by instance id
        self.had_node: dict[str, str] = {}  # instance id -> the Node it had, seen by this process
        self.orphans: dict[str, Instance] = {}  # instances whose Node someone else deleted

    # ---- launches answered

    def launched(self, intent: LaunchIntent, instance: Instance) -> None:
        self.records[instance.instance_id] = LaunchRecord(instance, intent)

    def submitted(self) -> list[LaunchIntent]:
        """Launches on their way to the cloud or back (no answer consumed yet)."""
        return [context[0] for _, context in self.calls.pending(LAUNCH)]  # (intent, request)

    # ---- one loop

    def sync(self, view: ClusterView, instances: Iterable[Instance], now: float) -> list[Registration]:
        by_provider_id = {provider_id_key(node.provider_id): node for node in view.nodes if node.provider_id}
        alive = {instance.instance_id: instance for instance in instances if instance.alive}
        asked = {intent.request_id for intent in self.submitted()}
        for instance_id, record in list(self.records.items()):
            # Gone from the cloud before it registered -- or not listed yet: a cloud's list may
            # lag its launch call (eventual consistency), so a young launch stays room a while.
            if instance_id not in alive and now - record.instance.launched_at > LIST_LAG:
                del self.records[instance_id]
        registered = []
        for gone in [i for i in self.had_node if i not in alive]:
            del self.had_node[gone]
        for gone in [i for i in self.orphans if i not in alive]:
            del self.orphans[gone]
        for instance in alive.values():
            record = self.records.get(instance.instance_id)
            node = by_provider_id.get(provider_id_key(instance.provider_id))
            if node is not None:
                self.had_node[instance.instance_id] = node.name
                self.orphans.pop(instance.instance_id, None)  # registered again (kept, kubelet came back)
                if record is not None:
                    registered.append(self._registered(record, node, now))
                    del self.records[instance.instance_id]
                continue
            if instance.instance_id in self.had_node:
                self._node_deleted(instance, self.had_node[instance.instance_id])
                continue
            if record is None:
                if instance.request_id and instance.request_id in asked:
                    continue  # listed before its launch call answered: the submission is its room
                record = self.records[instance.instance_id] = LaunchRecord(instance, self.adopt_intent(instance))
                self.reporter.note(
                    "adopt",
                    f"adopted instance {instance.instance_id} ({instance.instance_type} {instance.capacity_type}) after restart",
                )
            else:
                record.instance = instance
            if now - instance.launched_at >= self.config.scale_up_timeout and not record.terminating:
                self._time_out(record)
        return registered

    def _node_deleted(self, instance: Instance, node: str) -> None:
        """Someone else deleted the instance's Node (kubectl delete node, another controller): the
        instance is no launch in flight and no failure of its type. Per `deletedNodeInstances`,
        it is terminated (the default, as a Node's deletion means "remove this machine" to
        Karpenter too) or kept (its kubelet may register it again); its pods are planned at once."""
        if instance.instance_id in self.orphans:
            return
        self.orphans[instance.instance_id] = instance
        keep = self.config.deleted_node_instances == "keep" or self.dry_run
        self.reporter.note(
            "node-deleted",
            f"node {node} of instance {instance.instance_id} ({instance.instance_type} {instance.capacity_type}) was "
            f"deleted by someone else: {'keeping' if keep else 'terminating'} the instance "
            f"(deletedNodeInstances={self.config.deleted_node_instances}{', dry-run' if self.dry_run else ''}); "
            f"it is not counted as room, and {instance.instance_type} is not backed off",
        )
        if not keep:
            self._terminate_orphan(instance)

    def _terminate_orphan(self, instance: Instance) -> None:
        instance_id = instance.instance_id
        self.calls.submit(TERMINATE, instance_id, lambda: self.provider.terminate(instance_id), Orphan(instance))

    def _registered(self, record: LaunchRecord, node: KubeNode, now: float) -> Registration:
        instance = record.instance
        self.metrics.launch_latency.observe(max(0.0, now - instance.launched_at))
        self.backoff.record_success(instance.instance_type, instance.capacity_type, instance.zone)
        self.reporter.note(
            "registered", f"node {node.name} registered for instance {instance.instance_id} ({instance.instance_type})"
        )
        missing = {k: v for k, v in record.intent.labels.items() if node.labels.get(k) != v}
        if missing and not self.dry_run:
            try:
                self.cluster.patch_node(node.name, labels=missing)
            except ClusterError as err:
                self.metrics.kube_api_errors.labels("patch_node").inc()
                log.error("labelling node %s failed: %s", node.name, err)
        return Registration(node, record)

    def _time_out(self, record: LaunchRecord) -> None:
        record.terminating = True
        instance_id = record.instance.instance_id
        if self.dry_run:
            self.reporter.note("dry-run", f"would terminate instance {instance_id}: it did not register in time")
            return
        self.calls.submit(TERMINATE, instance_id, lambda: self.provider.terminate(instance_id), record)

    def terminated(self, outcome: CallOutcome, now: float) -> None:
        """The answer to a termination of an instance that never became a Node."""
        record = outcome.context
        if isinstance(record, Orphan):
            if not outcome.ok:
                self.metrics.cloud_error("terminate", outcome.error)
                log.error("terminating instance %s of a deleted node failed (will retry): %s", outcome.key, outcome.error)
                self.orphans.pop(record.instance.instance_id, None)  # tried again next loop
            return
        if not isinstance(record, LaunchRecord):
            return
        instance = record.instance
        if not outcome.ok:
            record.terminating = False  # tried again next loop
            self.metrics.cloud_error("terminate", outcome.error)
            log.error("terminating timed-out instance %s failed (will retry): %s", instance.instance_id, outcome.error)
            return
        scope = registration_timeout_scope(self.provider, instance)
        duration = self.backoff.record_failure(scope, FailureKind.LAUNCH_TIMEOUT, now, "node did not register")
        self.metrics.launch_failures.labels(FailureKind.LAUNCH_TIMEOUT).inc()
        self.records.pop(instance.instance_id, None)
        self.reporter.note(
            "timeout",
            f"instance {instance.instance_id} ({instance.instance_type} {instance.capacity_type} {instance.zone}) "
            f"did not register within scaleUpTimeout={self.config.scale_up_timeout:g}s: terminated, "
            f"backed off {scope.label or 'its offering'} for {duration:g}s",
        )

    # ---- room on its way

    def in_flight(self, now: float, waiting: set[str] | None = None) -> list[InFlightNode]:
        """Launched-but-unregistered instances and unanswered launches. With `waiting` (the pods
        that need capacity now), a launch is reserved only for those of its pods still
        waiting: when the scheduler put them elsewhere, its room is free for any pod."""
        # A timed-out instance being terminated stays room until the answer backs its offering
        # off; else the next plan would ask for the same offering again at once.
        flights = [
            _flight(record.instance.instance_id, record.intent, record.instance.zone, record.instance.launched_at, waiting)
            for record in self.records.values()
        ]
        known = {record.instance.request_id for record in self.records.values()}
        for intent in self.submitted():
            if intent.request_id not in known:
                flights.append(_flight(f"request-{intent.request_id[:12]}", intent, "", now, waiting))
        return flights


def _flight(name: str, intent: LaunchIntent, zone: str, launched_at: float, waiting: set[str] | None) -> InFlightNode:
    pods = intent.pods if waiting is None else tuple(pod for pod in intent.pods if pod in waiting)
    return InFlightNode(
        instance_id=name,
        instance_type=intent.instance_type,
        capacity_type=intent.capacity_type,
        zone=zone,
        role=intent.role,
        allocatable=intent.allocatable,
        price=intent.price,
        gpus=intent.gpus,
        launched_at=launched_at,
        labels=intent.labels,
        taints=intent.taints,
        reserved_for=pods,
    )


def role_of(instance: Instance) -> str:
    return instance.tags.get(TAG_ROLE, "")
