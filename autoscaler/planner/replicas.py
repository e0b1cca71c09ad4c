"""Identical replicas planned as a count.

A workload read from files (`preview`) stands for many pods that differ only in their names.
When no rule tells them apart -- no host ports, no inter-pod affinity or anti-affinity, no
topology spread, a bin-pack pod, no nodes to weigh them against -- the planner carries the one
Pod object `replicas` times instead of making 50,000 objects, and each pod's own name is handed
out only where a pod is put somewhere (a bin, an unplaceable line). Replicas a rule makes
differ become one Pod per replica, as the rule needs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator, Sequence

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, Pod
from autoscaler.planner.classify import classify


def interchangeable(pod: Pod, config: Config) -> bool:
    """Whether the replicas of `pod` can be planned as one object (no rule tells them apart)."""
    c = pod.constraints
    return not (c.host_ports or c.inter_pod or c.spread or c.unplannable) and classify(pod.shape, config) == BIN_PACK


class ReplicaNames:
    """The keys of the replicas planned as a count, handed out in order as pods are placed.

    A workload's replicas are one contiguous run of the one template object in a group's pod
    list (`repeated`), so a slice of that list starting and ending on the template is all
    template: its keys are one slice of the workload's keys, never a step per pod."""

    def __init__(self) -> None:
        self.templates: dict[str, Pod] = {}
        self._next: dict[str, int] = {}  # template key -> index of its first key not handed out

    def __bool__(self) -> bool:
        return bool(self.templates)

    def add(self, pod: Pod) -> None:
        self.templates[pod.key] = pod
        self._next[pod.key] = 0

    def keys(self, pods: Sequence[Pod]) -> Sequence[str]:
        """The pods' keys, a replica's being the next key of its workload."""
        if not self.templates:
            return [pod.key for pod in pods]
        if pods and pods[0] is pods[-1] and pods[0].key in self.templates:
            return self._take(pods[0], len(pods))
        out: list[str] = []
        for pod in pods:
            out.extend(self._take(pod, 1) if pod.key in self.templates else (pod.key,))
        return out

    def key(self, pod: Pod) -> str:
        return self.keys((pod,))[0]

    def _take(self, pod: Pod, count: int) -> Sequence[str]:
        start = self._next[pod.key]
        self._next[pod.key] = start + count
        return pod.replica_keys[start : start + count]

    def handed_out(self) -> dict[str, int]:
        """Where each workload's keys stand, for `rewind` (a bin-pack made again)."""
        return dict(self._next)

    def rewind(self, handed_out: dict[str, int]) -> None:
        self._next = dict(handed_out)

    def all_keys(self) -> Iterator[tuple[str, Pod]]:
        """Every replica's key with its template (the templates' own keys included)."""
        for pod in self.templates.values():
            for key in pod.replica_keys:
                yield key, pod


def repeated(pods: Iterable[Pod]) -> list[Pod]:
    """The pods with each standing for replicas repeated that many times, as one run."""
    out: list[Pod] = []
    for pod in pods:
        if pod.replicas > 1:
            out.extend([pod] * pod.replicas)
        else:
            out.append(pod)
    return out


def as_planned(pending: Sequence[Pod], config: Config, counted: bool) -> tuple[list[Pod], ReplicaNames]:
    """The pods to plan: a pod standing for replicas stays one object (to be repeated) when
    `counted` and its replicas are interchangeable; otherwise it becomes one Pod per replica."""
    names = ReplicaNames()
    if not any(pod.replicas > 1 for pod in pending):
        return list(pending), names
    planned: list[Pod] = []
    for pod in pending:
        if pod.replicas <= 1:
            planned.append(pod)
        elif counted and pod.key not in names.templates and interchangeable(pod, config):
            names.add(pod)
            planned.append(pod)
        else:
            planned.extend(replace(pod, name=name, replicas=1, replica_names=()) for name in pod.replica_names)
    return planned, names
