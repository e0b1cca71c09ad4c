"""Launch attempts: idempotency keys, and what became of the nodes launched for pods.

A launch's request id names one attempt at one need (these pods, this offering): a retry of
the attempt — the same need planned again after a crash, or after a call that timed out —
sends the same id, and the cloud answers with the instance it already started. Once an
attempt's instance has become a Node (or the cloud refused it, or answered with an instance
that is gone), the attempt is spent: the next launch for the same need is a new attempt with
a new id. A restarted process starts counting at 0 again; a spent attempt answered by the
cloud is recognised (the instance is gone, or already a Node) and the count moves on.

No flapping (SPEC §4): a node launched for a pod set is watched until its pods are placed.
If other pods took its room while ours still wait, the pods get a `LaunchedNodeTaken`
Warning and the next plan launches again with a new id (a second time for the same set and
offering, that pair is backed off). If it registers and cannot take them — a device they
request is not advertised after `devicePluginWait`, a taint they do not tolerate, labels
their affinity refuses, less allocatable than the launch counted on — or stands Ready with
room for them for a while (30 s, at least three loops) and the scheduler still does not place
them, the pods get a `LaunchedNodeNotUsed` Warning naming the reason and the fix, and what
that reason covers is backed off for the set (autoscaler/loop/unused.py): for a missing device
plugin every offering, not one type after another. While a registered node waits for its
device plugin, its pods are not planned again (the node is their room).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from autoscaler.cluster import ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.loop.events import LAUNCHED_NODE_NOT_USED, LAUNCHED_NODE_TAKEN, UNUSED_LAUNCH_LIMIT, EventReporter
from autoscaler.loop.lifecycle import Registration
from autoscaler.loop.unused import (
    Diagnosis,
    SetBackoffs,
    UnusedLaunches,
    UnusedReason,
    device_diagnosis,
    less_allocatable,
    missing_devices,
    not_scheduled,
    refusal,
)
from autoscaler.metrics import Metrics
from autoscaler.model import Pod, PodShape
from autoscaler.planner.backoffs import Backoffs
from autoscaler.planner.needs import needs_capacity
from autoscaler.planner.types import NewNode
from autoscaler.resources import Resources
from autoscaler.nodeload import evictable
from autoscaler.snapshot import has_startup_taint

PodSetKey = tuple[str, PodShape]
ATTEMPT_MEMORY = 86_400.0  # forget attempt counts of needs not planned for a day


def pod_set(pod: Pod) -> PodSetKey:
    # Shapes are interned (equal requests and constraints: one object), so the key hashes by
    # identity: a loop over 50,000 pods does not hash 50,000 constraint records.
    return (pod.owner or pod.key, pod.shape)


@dataclass
class _Watch:
    node: str
    instance_type: str
    capacity_type: str
    zone: str
    pods: tuple[str, ...]
    promised: Resources  # the allocatable the launch counted on
    registered: float
    ready_since: float | None = None
    devices_missing: tuple[str, ...] = ()  # what it lacked when last seen (its device plugin starting?)
    # The waiting pods whose room it is, as the last check found them: its own, and set-mates
    # standing in for its pods the scheduler bound to another node (None: not checked yet).
    waiting: tuple[str, ...] | None = None


def _stand_ins(moved: list[Pod], waiting: list[Pod], waiting_by_set: Mapping[PodSetKey, list[Pod]]) -> list[Pod]:
    """For each launch pod bound elsewhere, one waiting pod of its set not counted yet."""
    counted = {pod.key for pod in waiting}
    stand_ins = []
    for pod in moved:
        for mate in waiting_by_set.get(pod_set(pod), ()):
            if mate.key not in counted:
                counted.add(mate.key)
                stand_ins.append(mate)
                break
    return stand_ins


@dataclass
class LaunchAttempts:
    config: Config
    reporter: EventReporter
    metrics: Metrics = field(default_factory=Metrics)
    _attempt: dict[str, tuple[int, float]] = field(default_factory=dict)  # need -> (attempt, last used)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _taken: dict[tuple[PodSetKey, str, str], float] = field(default_factory=dict)
    _initializing: set[str] = field(default_factory=set)  # pods whose node waits for its device plugin
    _over_budget: dict[PodSetKey, str] = field(default_factory=dict)  # set -> its UnusedLaunchLimit Warning
    unused: UnusedLaunches = field(init=False)

    def __post_init__(self) -> None:
        self.unused = UnusedLaunches(self.config.max_unused_launches_per_hour)

    # ---- keys

    def need(self, new: NewNode, pods: Mapping[str, Pod]) -> str:
        ids = sorted(pods[key].uid or key if key in pods else key for key in new.pods)
        text = "|".join((self.config.cluster_name, new.option.name, new.option.capacity_type, ",".join(ids)))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def request_id(self, need: str, now: float) -> str:
        attempt = self._attempt.get(need, (0, now))[0]
        self._attempt[need] = (attempt, now)
        for old in [n for n, (_, used) in self._attempt.items() if now - used > ATTEMPT_MEMORY]:
            del self._attempt[old]
        return hashlib.sha256(f"{need}#{attempt}".encode()).hexdigest()[:32]

    def spent(self, need: str, now: float) -> None:
        """The current attempt at this need is over: the next launch for it is a new one."""
        if need:
            self._attempt[need] = (self._attempt.get(need, (0, now))[0] + 1, now)

    # ---- watching launched nodes

    def watch(self, registrations: Iterable[Registration], now: float) -> None:
        for registration in registrations:
            intent = registration.record.intent
            self.spent(intent.need, now)
            if intent.pods:
                instance = registration.record.instance
                self._watches[registration.node.name] = _Watch(
                    registration.node.name, instance.instance_type, instance.capacity_type, instance.zone,
                    intent.pods, intent.allocatable, now,
                )

    def check(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float) -> None:
        pods = {pod.key: pod for pod in view.pods}
        nodes = {node.name: node for node in view.nodes}
        if self.unused.remembers() or self._over_budget:  # else nothing to forget: no pass over every pod
            live = {pod_set(pod) for pod in view.pods if not pod.terminal}
            self.unused.forget(live, now)
            self._over_budget = {key: message for key, message in self._over_budget.items() if key in live}
        self.unused.advertised({name for node in view.nodes for name in node.devices})
        self._initializing = set()
        grace = max(30.0, 3 * self.config.loop_period)
        waiting_by_set: dict[PodSetKey, list[Pod]] | None = None
        for name, watch in list(self._watches.items()):
            own = [pods[k] for k in watch.pods if k in pods]
            waiting = [pod for pod in own if needs_capacity(pod, self.config)]
            # Replicas are interchangeable: when the scheduler binds one of this launch's pods to
            # another node (perhaps the node launched for a set-mate), the room here is the
            # set-mate's that still waits, else the loop launches a third node for it.
            moved = [pod for pod in own if pod.node_name and pod.node_name != name and not pod.terminal]
            if moved:
                if waiting_by_set is None:
                    waiting_by_set = {}
                    for pod in view.pods:
                        if not pod.node_name and needs_capacity(pod, self.config):
                            waiting_by_set.setdefault(pod_set(pod), []).append(pod)
                waiting += _stand_ins(moved, waiting, waiting_by_set)
            watch.waiting = tuple(pod.key for pod in waiting)
            node = nodes.get(name)
            if node is None and waiting and watch.devices_missing:
                # Gone (removed, deleted by hand) without ever advertising what its pods need.
                del self._watches[name]
                self._not_placed(watch, name, waiting, device_diagnosis(watch.devices_missing[0]), now)
                continue
            if not waiting or node is None or now - watch.registered > self.config.scale_up_timeout:
                del self._watches[name]
                continue
            missing = missing_devices(node, waiting)
            watch.devices_missing = tuple(missing)
            if missing:
                if now - watch.registered < self.config.device_plugin_wait:
                    self._initializing.update(pod.key for pod in waiting)  # its device plugin may be starting
                    continue
                del self._watches[name]
                self._not_placed(watch, name, waiting, device_diagnosis(missing[0]), now)
                continue
            on_node = [p for p in bound.get(name, ()) if evictable(p)]
            free = node.allocatable - Resources.total(p.shape.requests for p in bound.get(name, ()))
            too_small = [pod for pod in waiting if not pod.requests.fits_in(free)]
            if too_small:
                del self._watches[name]
                # Pods of the same set are interchangeable (the planner gives a set-mate's launch
                # to whichever of them is left): only other pods can take the node from ours.
                sets = {pod_set(p) for p in too_small}
                others = [p for p in on_node if p.key not in watch.pods and pod_set(p) not in sets]
                if others:
                    self._taken_by(watch, node, too_small, others, now)
                elif not watch.promised.fits_in(node.allocatable):
                    self._not_placed(watch, name, too_small, less_allocatable(node, watch.promised), now)
                continue
            refused = refusal(node, waiting)
            if refused is not None:
                # The node does not admit them at all (a taint or labels the offering did not
                # promise): the planner will not count it as room, and waiting changes nothing.
                del self._watches[name]
                self._not_placed(watch, name, waiting, refused, now)
                continue
            if not node.ready or node.unschedulable or has_startup_taint(node):
                continue  # still starting: the scheduler cannot place them yet
            if watch.ready_since is None:
                watch.ready_since = now
            elif now - watch.ready_since >= grace:
                del self._watches[name]
                self._not_placed(watch, name, waiting, not_scheduled(now - watch.ready_since), now)

    def initializing(self) -> set[str]:
        """Pods whose launched node registered and waits for its device plugin: not planned again."""
        return self._initializing

    def reserved(self, waiting: set[str]) -> dict[str, tuple[str, ...]]:
        """Registered nodes launched for pods, with those of their pods still waiting: the
        scheduler may bind a launch's pods one at a time, and until it has bound them all the node
        stays their room (else the loop between two bindings launches again for the rest)."""
        reserved = {}
        for name, watch in self._watches.items():
            pods = tuple(pod for pod in (watch.pods if watch.waiting is None else watch.waiting) if pod in waiting)
            if pods:
                reserved[name] = pods
        return reserved

    def awaited_nodes(self) -> set[str]:
        """Nodes launched for pods that wait for the nodes' device plugins: not scaled down meanwhile."""
        return {name for name, watch in self._watches.items() if watch.devices_missing}

    def _offering(self, watch: _Watch) -> str:
        return f"{watch.instance_type} {watch.capacity_type} in {watch.zone or 'its zone'}"

    def _taken_by(self, watch: _Watch, node: KubeNode, waiting: list[Pod], others: list[Pod], now: float) -> None:
        takers = ", ".join(p.key for p in others[:3]) + (", ..." if len(others) > 3 else "")
        for pod in waiting:
            key = (pod_set(pod), watch.instance_type, watch.capacity_type)
            again = now - self._taken.get(key, float("-inf")) < self.config.backoff.max_duration
            self._taken[key] = now
            message = (
                f"node {node.name} ({self._offering(watch)}) launched for pod {pod.key} was taken by other pods "
                f"({takers}) before the scheduler placed this one; "
            )
            if again:
                self.unused.back_off(
                    pod_set(pod), watch.instance_type, watch.capacity_type,
                    "nodes launched for this pod set were taken by other pods twice",
                )
                message += (
                    f"this happened before, so {watch.instance_type}/{watch.capacity_type} is no longer used for this "
                    f"pod set. Check the priorities and node selectors of the other pods."
                )
            else:
                message += "a new node is launched for it."
            self.reporter.pod(pod, LAUNCHED_NODE_TAKEN, message)
        self.reporter.note("taken", f"node {node.name} was taken by {takers}; {len(waiting)} pod(s) it was for still wait")
        taken = Diagnosis(
            UnusedReason.TAKEN, f"was taken by other pods ({takers})", "check the other pods' priorities", "taken"
        )
        for key in {pod_set(pod) for pod in waiting}:
            self._unused(key, taken, watch, now)
        for key in [k for k, at in self._taken.items() if now - at > self.config.backoff.max_duration]:
            del self._taken[key]

    def _not_placed(self, watch: _Watch, node: str, waiting: list[Pod], diagnosis: Diagnosis, now: float) -> None:
        covered = (
            "every offering" if diagnosis.reason is UnusedReason.DEVICE_PLUGIN
            else f"{watch.instance_type} (every capacity type)" if diagnosis.covers_type
            else f"{watch.instance_type}/{watch.capacity_type}"
        )
        for key in {pod_set(pod) for pod in waiting}:
            self._unused(key, diagnosis, watch, now)
        for pod in waiting:
            why = pod.unschedulable_message or "no reason given"
            self.reporter.pod(
                pod,
                LAUNCHED_NODE_NOT_USED,
                f"node {node} ({self._offering(watch)}) was launched for pod {pod.key} "
                f"(requests {pod.requests.describe()}) and {diagnosis.state} (scheduler: {why}): {diagnosis.fix}. "
                f"Backed off for this pod set while it exists: {covered}.",
            )
        self.reporter.note(
            "unused-launch",
            f"{len(waiting)} pod(s) not placed on node {node} launched for them ({self._offering(watch)}): "
            f"{diagnosis.state} [{diagnosis.reason}]; backed off for their pod set: {covered}",
        )

    def _unused(self, key: PodSetKey, diagnosis: Diagnosis, watch: _Watch, now: float) -> None:
        """Count one launch that did not help this set; past the budget, the set waits (a Warning)."""
        self.metrics.launches_unused.labels(diagnosis.reason.value).inc()
        self.unused.record(key, diagnosis, watch.instance_type, watch.capacity_type, now)
        self._warn_if_over_budget(key, watch.pods, now)

    def _warn_if_over_budget(self, key: PodSetKey, pods: tuple[str, ...], now: float) -> None:
        until = self.unused.over_budget_until(key, now)
        if until is None:
            return
        reasons = ", ".join(sorted({u.reason.value for u in self.unused.recent(key, now)}))
        message = (
            f"{len(self.unused.recent(key, now))} node(s) launched for this pod set in the last hour were not used "
            f"({reasons}); at most {self.unused.limit} per hour (maxUnusedLaunchesPerHour): no node is launched for "
            f"it until {time.strftime('%H:%M:%SZ', time.gmtime(until))}. See the LaunchedNodeNotUsed and "
            f"LaunchedNodeTaken events for the fix."
        )
        self._over_budget[key] = message
        self.reporter.note("unused-launch-limit", f"pod set of {pods[0] if pods else '?'}: {message}")

    def warn_over_budget(self, pending: list[Pod], now: float) -> None:
        """A Warning on each pending pod of a set that has used up its budget."""
        for pod in pending:
            key = pod_set(pod)
            if self.unused.over_budget_until(key, now) is None:
                self._over_budget.pop(key, None)
                continue
            message = self._over_budget.get(key)
            if message is not None:
                self.reporter.pod(pod, UNUSED_LAUNCH_LIMIT, message)

    # ---- the planner's view of pair back-offs

    def backoffs_for(self, pod: Pod, base: Backoffs, now: float) -> SetBackoffs | None:
        """The back-offs to plan this pod with, when its set has its own; else None."""
        return self.unused.backoffs(pod_set(pod), base, now)
