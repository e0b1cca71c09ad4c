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
offering, that pair is backed off). If it registers with less allocatable than the launch
counted on, or stands Ready with room for them for a while (30 s, at least three loops) and
the scheduler still does not place them, the (pod set, offering) pair is backed off and the
pods get a
`LaunchedNodeNotUsed` Warning saying what to check, so the next plan takes another offering
or reports them unplaceable, instead of cycling. Such a node fits by the catalog but not in
fact (it advertises less, or other labels, than the offering promises): waiting does not
change that, so the pair stays backed off for as long as the pod set exists — pods made from
a changed template form a new set and may try the offering again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from autoscaler.cluster import ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.loop.events import LAUNCHED_NODE_NOT_USED, LAUNCHED_NODE_TAKEN, EventReporter
from autoscaler.loop.lifecycle import Registration
from autoscaler.model import Pod, PodConstraints, tolerates_all
from autoscaler.planner.backoffs import Backoffs
from autoscaler.planner.needs import needs_capacity
from autoscaler.planner.types import NewNode
from autoscaler.resources import Resources
from autoscaler.scaledown import evictable
from autoscaler.snapshot import initializing, is_startup_taint

PodSetKey = tuple[str, Resources, PodConstraints]
ATTEMPT_MEMORY = 86_400.0  # forget attempt counts of needs not planned for a day


def pod_set(pod: Pod) -> PodSetKey:
    return (pod.owner or pod.key, pod.requests, pod.constraints)


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


@dataclass(frozen=True)
class PairBackoffs:
    """The loop's back-offs plus one pod set's backed-off offerings ((type, capacity type) -> why)."""

    base: Backoffs
    pairs: Mapping[tuple[str, str], str]

    def reason(self, instance_type: str, capacity_type: str, zone: str) -> str | None:
        return self.pairs.get((instance_type, capacity_type)) or self.base.reason(instance_type, capacity_type, zone)


@dataclass
class LaunchAttempts:
    config: Config
    reporter: EventReporter
    _attempt: dict[str, tuple[int, float]] = field(default_factory=dict)  # need -> (attempt, last used)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _pairs: dict[PodSetKey, dict[tuple[str, str], str]] = field(default_factory=dict)
    _taken: dict[tuple[PodSetKey, str, str], float] = field(default_factory=dict)

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
        live_sets = {pod_set(pod) for pod in view.pods if not pod.terminal}
        for key in [k for k in self._pairs if k not in live_sets]:
            del self._pairs[key]  # the set is gone: so are its pair back-offs
        grace = max(30.0, 3 * self.config.loop_period)
        for name, watch in list(self._watches.items()):
            waiting = [pods[k] for k in watch.pods if k in pods and needs_capacity(pods[k], self.config)]
            node = nodes.get(name)
            if not waiting or node is None or now - watch.registered > self.config.scale_up_timeout:
                del self._watches[name]
                continue
            on_node = [p for p in bound.get(name, ()) if evictable(p)]
            free = node.allocatable - sum((p.requests for p in bound.get(name, ())), Resources())
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
                    self._not_placed(
                        watch, node, too_small,
                        f"registered with allocatable {node.allocatable.describe()}, less than the "
                        f"{watch.promised.describe()} it was launched for",
                    )
                continue
            mismatch = _mismatch(node, waiting)
            if mismatch:
                # The node does not admit them at all (a taint or labels the offering did not
                # promise): the planner will not count it as room, and waiting changes nothing.
                del self._watches[name]
                self._not_placed(watch, node, waiting, mismatch)
                continue
            if not node.ready or node.unschedulable or initializing(node):
                continue  # still starting: the scheduler cannot place them yet
            if watch.ready_since is None:
                watch.ready_since = now
            elif now - watch.ready_since >= grace:
                del self._watches[name]
                self._not_placed(
                    watch, node, waiting,
                    f"has been Ready for {now - watch.ready_since:g}s with room for the pod, "
                    f"but the scheduler does not place the pod there",
                )

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
                self._back_off(pod, watch, "nodes launched for this pod set were taken by other pods twice")
                message += (
                    f"this happened before, so {watch.instance_type}/{watch.capacity_type} is no longer used for this "
                    f"pod set. Check the priorities and node selectors of the other pods."
                )
            else:
                message += "a new node is launched for it."
            self.reporter.pod(pod, LAUNCHED_NODE_TAKEN, message)
        self.reporter.note("taken", f"node {node.name} was taken by {takers}; {len(waiting)} pod(s) it was for still wait")
        for key in [k for k, at in self._taken.items() if now - at > self.config.backoff.max_duration]:
            del self._taken[key]

    def _not_placed(self, watch: _Watch, node: KubeNode, waiting: list[Pod], state: str) -> None:
        for pod in waiting:
            why = pod.unschedulable_message or "no reason given"
            self._back_off(pod, watch, f"pods of this set were not placed on node {node.name} launched for them")
            self.reporter.pod(
                pod,
                LAUNCHED_NODE_NOT_USED,
                f"node {node.name} ({self._offering(watch)}) was launched for pod {pod.key} "
                f"(requests {pod.requests.describe()}) and {state} (scheduler: {why}). {watch.instance_type}/{watch.capacity_type} is backed off for this pod set while "
                f"it exists. Check that the node advertises what the pod needs: allocatable resources, the labels "
                f"its node selector and affinity ask for, and tolerations for the node's taints.",
            )
        self.reporter.note(
            "not-placed",
            f"{len(waiting)} pod(s) not placed on node {node.name} launched for them ({self._offering(watch)}): "
            f"backed off for their pod set",
        )

    def _back_off(self, pod: Pod, watch: _Watch, why: str) -> None:
        self._pairs.setdefault(pod_set(pod), {})[(watch.instance_type, watch.capacity_type)] = why

    # ---- the planner's view of pair back-offs

    def backoffs_for(self, pod: Pod, base: Backoffs) -> PairBackoffs | None:
        """The back-offs to plan this pod with, when its set has backed-off pairs; else None."""
        pairs = self._pairs.get(pod_set(pod))
        return PairBackoffs(base, pairs) if pairs else None


def _mismatch(node: KubeNode, waiting: list[Pod]) -> str:
    """How the registered node refuses the pods whatever its room, or "" when it does not."""
    taints = tuple(t for t in node.taints if not is_startup_taint(t) and t.effect != "PreferNoSchedule")
    for pod in waiting:
        untolerated = [t for t in taints if not tolerates_all(pod.constraints.tolerations, (t,))]
        if untolerated:
            described = ", ".join(f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in untolerated)
            return f"registered with taint(s) {described} that the pod does not tolerate"
        if not pod.constraints.affinity.matches(node.labels):
            return f"registered without the labels the pod's node selector or affinity asks for ({pod.constraints.affinity.describe()})"
    return ""
