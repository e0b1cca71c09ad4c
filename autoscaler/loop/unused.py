"""Launches that did not help: why, what the reason covers, and a budget per pod set.

A node launched for pods that registered and still cannot take them is read for the reason
(`diagnose`, pure, from the registered Node):

* a device the pods request is absent from its allocatable: the device plugin that
  advertises it is not running, and no node of any type will get it until an operator
  installs it, so every offering of that pod set waits (lifted as soon as any node
  advertises the resource, else after `UNUSED_WINDOW`);
* a taint the pods do not tolerate, or labels their node selector or affinity refuses: the
  type registers so (its image, the cloud), so the type is backed off for the set in every
  capacity type;
* less allocatable than the catalog promised: the same, the type in every capacity type;
* Ready with room for a while and the scheduler still does not place them: the offering.

On top of that a budget: at most `maxUnusedLaunchesPerHour` such launches per pod set in
any hour (taken nodes count too); past it, the set waits until the oldest leaves the hour.
Every unused launch is counted in `launches_unused_total{reason}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterable, Mapping, NamedTuple

from autoscaler.cluster import KubeNode
from autoscaler.model import Pod, tolerates_all
from autoscaler.planner.backoffs import Backoffs, backoffs_key
from autoscaler.resources import Resources
from autoscaler.snapshot import is_startup_taint
from pricing.devices import device_plugin

UNUSED_WINDOW = 3600.0  # the budget's window; also how long a missing device plugin blocks a set
ANY_CAPACITY = "*"


class UnusedReason(StrEnum):
    DEVICE_PLUGIN = "device_plugin_missing"
    TAINT = "untolerated_taint"
    LABELS = "labels_refused"
    LESS_ALLOCATABLE = "less_allocatable"
    NOT_SCHEDULED = "not_scheduled"
    TAKEN = "taken"


@dataclass(frozen=True)
class Diagnosis:
    """Why a launched node does not take its pods, what to do, and what is backed off."""

    reason: UnusedReason
    state: str  # what the node showed, after "node X was launched for pod P and ..."
    fix: str
    summary: str  # what is backed off for, in a few words (the planner's back-off reason)
    resource: str = ""  # the device resource, for DEVICE_PLUGIN

    @property
    def covers_type(self) -> bool:
        """Whether the type is at fault in every capacity type (not one offering)."""
        return self.reason in (UnusedReason.TAINT, UnusedReason.LABELS, UnusedReason.LESS_ALLOCATABLE)


def requested_devices(pod: Pod) -> tuple[str, ...]:
    constraints = pod.constraints
    primary = (constraints.gpu_resource,) if constraints.gpu_resource else ()
    return primary + tuple(name for name, _ in constraints.extra_devices)


def missing_devices(node: KubeNode, pods: Iterable[Pod]) -> list[str]:
    """Device resources the pods request that the node does not advertise (yet)."""
    wanted = sorted({name for pod in pods for name in requested_devices(pod)})
    return [name for name in wanted if node.devices.get(name, 0) <= 0]


def device_diagnosis(resource: str) -> Diagnosis:
    plugin = device_plugin(resource)
    return Diagnosis(
        UnusedReason.DEVICE_PLUGIN,
        f"no node advertises {resource} after registration",
        f"is the {plugin} running? No node is launched for this pod set until a node advertises "
        f"{resource} (or for {UNUSED_WINDOW / 3600:g}h)",
        f"waiting for a node that advertises {resource} (see LaunchedNodeNotUsed)",
        resource,
    )


def less_allocatable(node: KubeNode, promised: Resources) -> Diagnosis:
    return Diagnosis(
        UnusedReason.LESS_ALLOCATABLE,
        f"registered with allocatable {node.allocatable.describe()}, less than the {promised.describe()} "
        f"it was launched for",
        "the type's reservations are larger than the catalog counts (kubelet flags, DaemonSets, the image): "
        "check the node's capacity and kube-reserved",
        "its nodes register with less allocatable than the catalog says",
    )


def not_scheduled(ready_for: float) -> Diagnosis:
    return Diagnosis(
        UnusedReason.NOT_SCHEDULED,
        f"has been Ready for {ready_for:g}s with room for the pod, but the scheduler does not place the pod there",
        "check that the node advertises what the pod needs: allocatable resources, the labels its node selector "
        "and affinity ask for, and tolerations for the node's taints",
        "the scheduler did not place the pods on the node launched for them",
    )


def refusal(node: KubeNode, pods: Iterable[Pod]) -> Diagnosis | None:
    """How the registered node refuses the pods whatever its room (a taint, labels), or None."""
    taints = tuple(t for t in node.taints if not is_startup_taint(t) and t.effect != "PreferNoSchedule")
    for pod in pods:
        untolerated = [t for t in taints if not tolerates_all(pod.constraints.tolerations, (t,))]
        if untolerated:
            described = ", ".join(t.describe() for t in untolerated)
            return Diagnosis(
                UnusedReason.TAINT,
                f"registered with taint(s) {described} that the pod does not tolerate",
                f"add a toleration for {described} to the pod, or remove the taint from the type's image or node "
                f"configuration",
                f"its nodes register with taint(s) {described} the pods do not tolerate",
            )
        if not pod.constraints.affinity.matches(node.labels, node.name):
            return Diagnosis(
                UnusedReason.LABELS,
                f"registered without the labels the pod's node selector or affinity asks for "
                f"({pod.constraints.affinity.describe()})",
                "check the node labels the type registers with against the pod's node selector and affinity",
                "its nodes register without the labels the pods ask for",
            )
    return None


class _Unused(NamedTuple):
    at: float
    reason: UnusedReason


@dataclass(frozen=True)
class SetBackoffs:
    """The loop's back-offs plus one pod set's own: offerings ((type, capacity type or "*") ->
    why) and, when the whole set waits, why."""

    base: Backoffs
    offerings: Mapping[tuple[str, str], str]
    everything: str | None = None

    def reason(self, instance_type: str, capacity_type: str, zone: str) -> str | None:
        return (
            self.everything
            or self.offerings.get((instance_type, capacity_type))
            or self.offerings.get((instance_type, ANY_CAPACITY))
            or self.base.reason(instance_type, capacity_type, zone)
        )

    def cache_key(self) -> tuple:
        return (backoffs_key(self.base), frozenset(self.offerings.items()), self.everything)


@dataclass
class _SetState:
    unused: list[_Unused] = field(default_factory=list)
    offerings: dict[tuple[str, str], str] = field(default_factory=dict)
    devices: dict[str, tuple[float, str]] = field(default_factory=dict)  # resource -> (since, why)


@dataclass
class UnusedLaunches:
    """Per pod set (any hashable key): its unused launches in the last hour and its back-offs."""

    limit: int
    _sets: dict[object, _SetState] = field(default_factory=dict)

    def record(self, key: object, diagnosis: Diagnosis, instance_type: str, capacity_type: str, now: float) -> None:
        state = self._sets.setdefault(key, _SetState())
        state.unused.append(_Unused(now, diagnosis.reason))
        if diagnosis.reason is UnusedReason.DEVICE_PLUGIN:
            state.devices[diagnosis.resource] = (now, diagnosis.summary)
        elif diagnosis.reason is not UnusedReason.TAKEN:
            capacity = ANY_CAPACITY if diagnosis.covers_type else capacity_type
            state.offerings[(instance_type, capacity)] = diagnosis.summary

    def back_off(self, key: object, instance_type: str, capacity_type: str, why: str) -> None:
        """One offering for the set, without counting a launch (the taken-twice rule)."""
        self._sets.setdefault(key, _SetState()).offerings[(instance_type, capacity_type)] = why

    def over_budget_until(self, key: object, now: float) -> float | None:
        """When the set may launch again, while it has used up its budget; else None."""
        state = self._sets.get(key)
        if state is None:
            return None
        recent = [u for u in state.unused if now - u.at < UNUSED_WINDOW]
        state.unused = recent
        if len(recent) < self.limit:
            return None
        return recent[-self.limit].at + UNUSED_WINDOW

    def recent(self, key: object, now: float) -> list[_Unused]:
        state = self._sets.get(key)
        return [u for u in state.unused if now - u.at < UNUSED_WINDOW] if state else []

    def backoffs(self, key: object, base: Backoffs, now: float) -> SetBackoffs | None:
        """The back-offs to plan the set with, when it has any of its own; else None."""
        state = self._sets.get(key)
        if state is None:
            return None
        everything = None
        for resource, (since, why) in state.devices.items():
            if now - since < UNUSED_WINDOW:
                everything = why
        until = self.over_budget_until(key, now)
        if until is not None:
            everything = (
                f"{self.limit} launch(es) for this pod set in the last hour were not used (maxUnusedLaunchesPerHour)"
            )
        if everything is None and not state.offerings:
            return None
        return SetBackoffs(base, state.offerings, everything)

    def advertised(self, resources: set[str]) -> None:
        """Resources some node advertises now: their device plugin runs, the sets waiting for it may launch."""
        for state in self._sets.values():
            for resource in [r for r in state.devices if r in resources]:
                del state.devices[resource]

    def remembers(self) -> bool:
        """Whether any pod set has back-offs or a budget here."""
        return bool(self._sets)

    def forget(self, live: set[object], now: float) -> None:
        """Sets that are gone lose their back-offs; their budget is kept for the hour (a
        recreated set of the same owner and shape is the same set)."""
        for key in list(self._sets):
            state = self._sets[key]
            if key not in live:
                state.offerings.clear()
                state.devices.clear()
                if not any(now - u.at < UNUSED_WINDOW for u in state.unused):
                    del self._sets[key]
