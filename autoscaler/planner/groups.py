"""Interchangeable pods: same shape, and the same answer to every pod selector in play.

Which selectors a pod matches decides how it counts for other pods' affinity, anti-affinity
and spread terms; pods that agree on all of them (and on their shape and namespace) can be
placed as one block. The registry numbers the selectors of every term in play: those of the
pending pods and the anti-affinity terms of pods already running (for symmetry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from autoscaler.model import Pod, PodSelector, PodShape
from autoscaler.nodelabels import HOSTNAME, ZONE

# the bin-pack plans hostname and zone terms, and spreads on other node labels (label_spread.py)


class SelectorRegistry:
    def __init__(self) -> None:
        self.ids: dict[PodSelector, int] = {}
        self.selectors: list[PodSelector] = []
        self.zone_keyed: set[int] = set()  # selectors some term counts per zone
        self.host_keyed: list[int] = []  # selectors some term counts per node (in this order)
        # Spread constraints in play per selector: pods matching one keep its skew too, so the
        # plan holds whatever order the scheduler binds the pods in.
        self.zone_spreads: dict[int, list] = {}
        self.host_skew: dict[int, int] = {}  # selector -> smallest hostname maxSkew on it
        self._signatures: dict[tuple, tuple[int, ...]] = {}
        # Selectors indexed by one of their matchLabels pairs, so a pod is tried only against
        # selectors that could match it (6,000 Deployments each spreading its own pods would
        # otherwise try every pod against every selector); those without matchLabels, always.
        self._by_label: dict[tuple[str, str], list[int]] = {}
        self._always: list[int] = []
        self._host_set: set[int] = set()

    def add(self, selector: PodSelector, topology_key: str) -> int:
        sid = self.ids.get(selector)
        if sid is None:
            sid = self.ids[selector] = len(self.selectors)
            self.selectors.append(selector)
            if selector.match_labels:
                self._by_label.setdefault(selector.match_labels[0], []).append(sid)
            else:
                self._always.append(sid)
        if topology_key == ZONE:
            self.zone_keyed.add(sid)
        elif sid not in self._host_set:  # the hostname, or another node label (summed per value)
            self._host_set.add(sid)
            self.host_keyed.append(sid)
        return sid

    def add_terms_of(self, shape: PodShape) -> None:
        constraints = shape.constraints
        for term in constraints.pod_affinity + constraints.pod_anti_affinity:
            self.add(term.pods, term.topology_key)
        for spread in constraints.spread:
            sid = self.add(spread.pods, spread.topology_key)
            if spread.topology_key == HOSTNAME:
                self.host_skew[sid] = min(self.host_skew.get(sid, spread.max_skew), spread.max_skew)
            elif spread.topology_key == ZONE:
                known = self.zone_spreads.setdefault(sid, [])
                if spread not in known:
                    known.append(spread)

    def signature(self, pod: Pod) -> tuple[int, ...]:
        """The ids of the selectors that match this pod."""
        if not self.selectors:
            return ()
        key = (pod.namespace, tuple(pod.labels.items()))
        found = self._signatures.get(key)
        if found is None:
            candidates = set(self._always)
            for pair in key[1]:
                candidates.update(self._by_label.get(pair, ()))
            found = self._signatures[key] = tuple(
                sid for sid in sorted(candidates) if self.selectors[sid].matches(pod.namespace, pod.labels)
            )
        return found


@dataclass
class PodGroup:
    shape: PodShape
    namespace: str
    sids: tuple[int, ...]  # selectors its pods match
    pods: list[Pod] = field(default_factory=list)
    self_start: bool = True  # matches all its own affinity terms (may start a group)
    pinned: frozenset[str] = frozenset()  # node labels of spreads its shape is held to one value of


def group_pods(
    pods_by_shape: dict[PodShape, list[Pod]], existing: Iterable[Pod] = ()
) -> tuple[list[PodGroup], SelectorRegistry]:
    registry = SelectorRegistry()
    for shape in pods_by_shape:
        registry.add_terms_of(shape)
    for pod in existing:
        for term in pod.constraints.pod_anti_affinity:
            registry.add(term.pods, term.topology_key)
    groups: list[PodGroup] = []
    if not registry.selectors:
        for shape, pods in pods_by_shape.items():
            groups.append(PodGroup(shape, "", (), list(pods)))
        return groups, registry
    for shape, pods in pods_by_shape.items():
        keyed: dict[tuple[str, tuple[int, ...]], PodGroup] = {}
        for pod in pods:
            sids = registry.signature(pod)
            group = keyed.get((pod.namespace, sids))
            if group is None:
                group = keyed[(pod.namespace, sids)] = PodGroup(shape, pod.namespace, sids)
                group.self_start = all(
                    registry.ids[term.pods] in sids for term in shape.constraints.pod_affinity
                )
                groups.append(group)
            group.pods.append(pod)
    return groups, registry


def existing_matches(registry: SelectorRegistry, pods: Sequence[Pod]) -> dict[int, int]:
    """How many of `pods` each selector matches."""
    counts: dict[int, int] = {}
    for pod in pods:
        for sid in registry.signature(pod):
            counts[sid] = counts.get(sid, 0) + 1
    return counts
