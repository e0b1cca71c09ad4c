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
    """The names of the replicas planned as a count, handed out in order as pods are placed."""

    def __init__(self) -> None:
        self._left: dict[str, Iterator[str]] = {}  # template key -> its names not yet handed out
        self.templates: dict[str, Pod] = {}

    def __bool__(self) -> bool:
        return bool(self._left)

    def add(self, pod: Pod) -> None:
        self.templates[pod.key] = pod
        self._left[pod.key] = iter([f"{pod.namespace}/{name}" for name in pod.replica_names])

    def keys(self, pods: Iterable[Pod]) -> list[str]:
        """The pods' keys, a replica's being the next name of its workload."""
        if not self._left:
            return [pod.key for pod in pods]
        left = self._left
        return [next(left[pod.key]) if pod.replicas > 1 else pod.key for pod in pods]

    def key(self, pod: Pod) -> str:
        return self.keys((pod,))[0]

    def all_keys(self) -> Iterator[tuple[str, Pod]]:
        """Every replica's key with its template (the templates' own keys included)."""
        for pod in self.templates.values():
            for name in pod.replica_names:
                yield f"{pod.namespace}/{name}", pod


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
        elif counted and interchangeable(pod, config):
            names.add(pod)
            planned.append(pod)
        else:
            planned.extend(replace(pod, name=name, replicas=1, replica_names=()) for name in pod.replica_names)
    return planned, names
