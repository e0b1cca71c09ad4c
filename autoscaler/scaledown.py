"""Which managed nodes to remove (SPEC §5, first bullet) — pure decisions.

A bin-select node with no managed pods, or a bin-pack node whose request utilization stays
below `scaleDown.binPackNodeUtilizationThreshold` (0.0 = only empty nodes), for
`scaleDown.nodeUnneededDuration`, is drained and removed. A node is kept while it holds a
`do-not-evict` pod, a bare pod (no controller would recreate it), a pod whose
PodDisruptionBudget allows no disruption now, or pods that would find no room elsewhere.
At most `scaleDown.maxParallel` nodes drain at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from autoscaler.config import Config
from autoscaler.cluster import KubeNode, PdbInfo
from autoscaler.model import BIN_PACK, BIN_SELECT, Pod
from autoscaler.placement.check import NodeState, PlacementState
from autoscaler.nodelabels import ROLE
from autoscaler.planner.needs import is_managed
from autoscaler.nodeload import evictable, node_load
from autoscaler.resources import Resources
from autoscaler.snapshot import has_startup_taint, is_managed_node

@dataclass(frozen=True)
class DrainCandidate:
    node: str
    reason: str


@dataclass
class ScaleDownDecision:
    unneeded_since: dict[str, float] = field(default_factory=dict)
    to_drain: list[DrainCandidate] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # unneeded node -> why it stays
    unreadable: list[Pod] = field(default_factory=list)  # pods that alone keep an unneeded node


def eviction_blocker(pod: Pod, pdbs: Iterable[PdbInfo]) -> str | None:
    """Why this pod must not be evicted now, or None."""
    if pod.unreadable:
        return (
            f"pod {pod.key} cannot be read by the planner ({pod.unreadable}), so where it would go is not known; "
            f"its node stays until the pod ends or is evicted"
        )
    if pod.do_not_evict:
        return f"pod {pod.key} is marked do-not-evict"
    if not pod.owner:
        return f"pod {pod.key} has no controller to recreate it"
    for pdb in pdbs:
        if pdb.selects(pod) and pdb.disruptions_allowed <= 0:
            return f"PodDisruptionBudget {pdb.namespace}/{pdb.name} allows no disruption of pod {pod.key}"
    return None


def utilization(node: KubeNode, pods: Iterable[Pod]) -> float:
    return _share(Resources.total(pod.shape.requests for pod in pods if evictable(pod)), node.allocatable)


def _share(used: Resources, allocatable: Resources) -> float:
    """The largest share of the node's cpu, memory or GPUs that `used` takes."""
    shares = []
    if allocatable.cpu:
        shares.append(used.cpu / allocatable.cpu)
    if allocatable.memory:
        shares.append(used.memory / allocatable.memory)
    if allocatable.gpu:
        shares.append(used.gpu / allocatable.gpu)
    return max(shares, default=0.0)


def _unneeded(node: KubeNode, pods: list[Pod], config: Config) -> str | None:
    role = node.labels.get(ROLE, "")
    if role == BIN_SELECT:
        if any(is_managed(pod, config) for pod in pods if evictable(pod)):
            return None
        return "bin-select node has no managed pods"
    if role == BIN_PACK:
        threshold = config.scale_down.bin_pack_node_utilization_threshold
        load = node_load(node.name, pods)
        share = _share(load.evictable, node.allocatable)
        if not load.evictable_pods:
            return "bin-pack node is empty"
        if threshold > 0 and share < threshold:
            return f"bin-pack node utilization {share:.0%} is below {threshold:.0%}"
    return None


def _cluster_state(nodes: list[KubeNode], bound: Mapping[str, list[Pod]], draining: set[str]) -> PlacementState:
    """The one placement simulation over every node; only ready, schedulable nodes take pods.
    A node being drained stays in it without its evictable pods: it is still a domain of
    topology spread until it is deleted (autoscaler.placement.spread)."""
    states = []
    for node in nodes:
        pods = list(bound.get(node.name, ()))
        load = node_load(node.name, pods)
        used = load.used
        if node.name in draining:
            pods = [pod for pod in pods if not evictable(pod)]
            used = used - load.evictable
        schedulable = node.ready and not node.unschedulable and node.name not in draining
        states.append(NodeState(node.name, node.labels, node.taints, node.allocatable - used, pods, schedulable))
    return PlacementState(states)


def _fits_elsewhere(pods: list[Pod], node: str, state: PlacementState) -> PlacementState | None:
    """Would every pod on `node` fit on the other nodes, together, while `node` is drained (it
    is cordoned and still counts as a spread domain)? The state after moving them (host ports,
    anti-affinity and spread counts included), or None."""
    trial = state.copy()
    trial.vacate(node, pods)
    names = sorted(name for name in trial.nodes if name != node)
    return trial if trial.fit_all(pods, names) else None


def _take_room_of_drains(state: PlacementState, bound: Mapping[str, list[Pod]], draining: Iterable[str]) -> set[str]:
    """Pods on nodes being drained (by any job) are evicted from the next loop on: their room
    on the other nodes is taken before anyone else is given it. Returns the nodes that take them."""
    before = {name: len(node.pods) for name, node in state.nodes.items()}
    names = sorted(state.nodes)
    for name in sorted(draining):
        leaving = [pod for pod in bound.get(name, ()) if evictable(pod)]
        if leaving:
            state.fit_all(leaving, names)
    return {name for name, node in state.nodes.items() if len(node.pods) != before[name]}


def room_for_drain(
    node_name: str, nodes: Iterable[KubeNode], bound: Mapping[str, list[Pod]], draining: Iterable[str]
) -> bool:
    """Right before a drain evicts: whether the node's pods still fit on the other nodes, after
    the pods of the other nodes being drained have taken their room (the cluster may have
    changed since the drain was decided: new pods, a taint)."""
    others = set(draining) - {node_name}
    state = _cluster_state(list(nodes), bound, others)
    _take_room_of_drains(state, bound, others)
    workload = [pod for pod in bound.get(node_name, ()) if evictable(pod)]
    return not workload or _fits_elsewhere(workload, node_name, state) is not None


def decide_scale_down(
    nodes: Iterable[KubeNode],
    bound: Mapping[str, list[Pod]],
    pdbs: Iterable[PdbInfo],
    config: Config,
    now: float,
    unneeded_since: Mapping[str, float],
    draining: Iterable[str],
    awaited: Iterable[str] = (),
) -> ScaleDownDecision:
    """`awaited`: nodes pending pods are planned onto now (the room they wait for): needed."""
    settings = config.scale_down
    awaited = set(awaited)
    decision = ScaleDownDecision()
    if not settings.enabled:
        return decision
    pdbs = list(pdbs)
    draining = set(draining)
    nodes = list(nodes)
    state = _cluster_state(nodes, bound, draining)
    receiving = _take_room_of_drains(state, bound, draining)
    slots = max(0, settings.max_parallel - len(draining))
    chosen: set[str] = set()
    for node in sorted(nodes, key=lambda n: n.name):
        if node.name in draining or not is_managed_node(node) or not node.ready or has_startup_taint(node):
            continue  # a node still starting is the room its pods wait for
        if node.name in awaited:
            continue
        pods = bound.get(node.name, [])
        reason = _unneeded(node, pods, config)
        if reason is None:
            continue
        since = unneeded_since.get(node.name, now)
        decision.unneeded_since[node.name] = since
        if now - since < settings.node_unneeded_duration:
            continue
        if node.name in receiving:
            decision.kept[node.name] = "it is the room for the pods of a node being drained"
            continue
        workload = [pod for pod in pods if evictable(pod)]
        blocker = next((b for b in (eviction_blocker(pod, pdbs) for pod in workload) if b), None)
        if blocker:
            decision.kept[node.name] = blocker
            decision.unreadable.extend(pod for pod in workload if pod.unreadable)
            continue
        moved = _fits_elsewhere(workload, node.name, state)
        if moved is None:
            decision.kept[node.name] = "its pods would not fit on the other nodes"
            continue
        if slots <= 0:
            decision.kept[node.name] = f"scaleDown.maxParallel={settings.max_parallel} nodes are draining"
            continue
        receiving |= {name for name, held in moved.nodes.items() if len(held.pods) != len(state.nodes[name].pods)}
        state = moved  # take the room for real
        decision.to_drain.append(DrainCandidate(node.name, reason))
        chosen.add(node.name)
        slots -= 1
    return decision
