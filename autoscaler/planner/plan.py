"""plan(): the pure heart of the autoscaler (DESIGN.md).

Given the pods that need capacity, the nodes there are (and those on their way), the
catalog of the cloud region, the offerings in back-off and the configuration, it returns
which nodes to launch for which pods, which pods fit where room already is, and why any
pod gets nothing. No I/O, no clock, no globals: `preview`, the cost estimates and the
reconcile loop all call it, so they cannot disagree.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from autoscaler.config import Config
from autoscaler.model import BIN_PACK, BIN_SELECT, Node, Pod, PodSelector, PodShape
from autoscaler.nodelabels import HOSTNAME
from autoscaler.planner.pack_classes import class_key, meets_shape
from autoscaler.planner.planned import with_packed_pods
from autoscaler.planner.replicas import as_planned, repeated
from autoscaler.placement.check import NodeState, PlacementState
from autoscaler.planner.packer import pack
from autoscaler.planner.backoffs import backoffs_key
from autoscaler.planner.binselect import PodSet, ReusableNode, select_nodes
from pricing.option_store import CandidateStore
from autoscaler.planner.classify import classify
from autoscaler.planner.explain import explain_no_option
from autoscaler.planner.limits import LimitUsage, apply_limits
from autoscaler.planner.options import DaemonSetOverhead, OfferingKey, OptionBook
from autoscaler.planner.types import NewNode, Placement, Plan, PodModes, Unplaceable
from autoscaler.quantity import format_bytes, format_cpu
from autoscaler.resources import Resources
from pricing.types import ON_DEMAND, RegionCatalog


def placement_state(nodes: Sequence[Node], reusable: list[ReusableNode]) -> PlacementState:
    """Every node as the one placement simulation sees it; only the reusable ones take pods."""
    open_names = {node.name for node in reusable}
    return PlacementState(
        NodeState(
            node.name,
            node.labels,
            node.taints,
            node.free,
            list(node.pods),
            schedulable=node.name in open_names,
            blocked="not reusable",
        )
        for node in nodes
    )


def _reusable_nodes(nodes: Sequence[Node], config: Config) -> list[ReusableNode]:
    reusable = []
    for node in nodes:
        if not node.managed or node.role != BIN_SELECT or node.unschedulable:
            continue
        # A node launched for pods some of which the scheduler has not bound yet is their room
        # (reserved_for), even once other pods of its launch run there.
        idle = config.reuse_bin_select_nodes and node.workload_pods == 0
        if node.in_flight or node.starting or node.reserved_for or idle:
            reusable.append(
                ReusableNode(
                    node.name,
                    node.instance_type,
                    node.capacity_type,
                    node.zone,
                    node.free,
                    frozenset(node.reserved_for),
                    arriving=node.in_flight or node.starting,
                )
            )
    return reusable


def _keep_launched_room(
    pack_pods: dict[PodShape, list[Pod]], reusable: list[ReusableNode], state: PlacementState,
) -> tuple[list[Placement], dict[PodShape, list[Pod]]]:
    """Small pods take the spare room of bin-select nodes on their way (launched, or registered and
    not yet in use), first the node an earlier loop's plan launched them with: kube-scheduler
    will put them there once it is Ready, so no second node is launched for them meanwhile."""
    kept: list[Placement] = []
    rest: dict[PodShape, list[Pod]] = {}
    for shape, pods in pack_pods.items():
        for pod in pods:
            ordered = sorted((n for n in reusable if pod.key in n.reserved_for or n.arriving),
                             key=lambda n: (pod.key not in n.reserved_for, n.name))
            node = next((n for n in ordered if state.why_not(pod, n.name) is None), None)
            if node is None:
                rest.setdefault(shape, []).append(pod)
                continue
            state.place(pod, node.name)
            node.taken.append(pod.key)
            kept.append(Placement(pod.key, node.name))
    return kept, rest


def _open_bin_pack_nodes(nodes: Sequence[Node]) -> list[Node]:
    return [
        node
        for node in nodes
        if node.managed and node.role == BIN_PACK and not node.unschedulable and node.allocatable.pods > node.used.pods
    ]


def _order_for_limits(new_nodes: list[NewNode], pods: Mapping[str, Pod]) -> list[NewNode]:
    """Higher-priority and older pods get capacity first when a limit binds."""

    def key(node: NewNode) -> tuple[int, float, str]:
        first = min(
            ((-pods[k].priority, pods[k].created, k) for k in node.pods if k in pods),
            default=(0, 0.0, ""),
        )
        return first

    return sorted(new_nodes, key=key)


_BOOKS: dict[tuple, tuple[RegionCatalog, OptionBook]] = {}


def _option_book(
    catalog: RegionCatalog,
    config: Config,
    backoffs: Mapping[OfferingKey, str] | None,
    daemonsets: Sequence[DaemonSetOverhead],
    option_store: CandidateStore | None = None,
) -> OptionBook:
    """The option book for these inputs; plans with the same catalog, config, back-offs and
    DaemonSets (every loop, most of the time) reuse its candidate lists instead of filtering
    the whole catalog again. A pure cache: the book is a function of its inputs. A new book
    without back-offs looks its lists up in `option_store` first (lists kept by earlier
    processes; with back-offs the lists differ)."""
    try:
        key = (id(catalog), config, backoffs_key(backoffs), tuple(daemonsets))
        hash(key)
    except TypeError:  # inputs that cannot key a cache: build the book afresh
        return OptionBook(catalog, config, backoffs, daemonsets)
    found = _BOOKS.get(key)
    if found is not None and found[0] is catalog:
        return found[1]
    if len(_BOOKS) > 16:
        _BOOKS.clear()
    # Lists are stored only when no back-off is in force: a back-offs object (the daemon's
    # view) keys as an empty set then, as None does.
    book = OptionBook(catalog, config, backoffs, daemonsets, option_store if key[2] == frozenset() else None)
    _BOOKS[key] = (catalog, book)
    return book


def plan(
    pending: Sequence[Pod],
    catalog: RegionCatalog,
    config: Config,
    *,
    nodes: Sequence[Node] = (),
    daemonsets: Sequence[DaemonSetOverhead] = (),
    backoffs: Mapping[OfferingKey, str] | None = None,
    apply_cluster_limits: bool = True,
    option_store: CandidateStore | None = None,
) -> Plan:
    """`option_store`: candidate lists read from disk by the caller, who writes back what this
    plan added (`flush`); the plan itself touches no file."""
    book = _option_book(catalog, config, backoffs, daemonsets, option_store)
    # Replicas stay a count where nothing can tell them apart: no nodes to weigh them against,
    # no pod affinity that could join them to a bin-select pod's node (planner/replicas.py).
    counted = not nodes and not any(pod.constraints.pod_affinity for pod in pending)
    pending, replica_names = as_planned(pending, config, counted)
    problems = [problem.message(pod.key) for pod in pending for problem in pod.annotation_problems]

    by_shape: dict[PodShape, list[Pod]] = {}
    unplaceable: list[Unplaceable] = []
    for pod in pending:
        if pod.constraints.unplannable:
            unplaceable.append(Unplaceable(pod.key, pod.constraints.unplannable))
            continue
        group = by_shape.get(pod.shape)
        if group is None:
            group = by_shape[pod.shape] = []
        group.append(pod)  # a pod standing for replicas once (repeated for the packer)

    modes: dict[str, str] = {}
    pack_pods: dict[PodShape, list[Pod]] = {}
    sets: dict[tuple[str, PodShape], list[Pod]] = {}
    together = _bin_select_affinity(by_shape, config)
    for shape, pods in by_shape.items():
        mode = classify(shape, config)
        selected_too = _sized_with_bin_select(shape, pods, together, book, config) if mode == BIN_PACK else pods
        if len(selected_too) < len(pods):
            keys = {pod.key for pod in selected_too}
            packed_pods = [pod for pod in pods if pod.key not in keys] if keys else pods
            modes.update(dict.fromkeys((pod.key for pod in packed_pods), BIN_PACK))
            pack_pods[shape] = repeated(packed_pods) if replica_names else packed_pods
        modes.update(dict.fromkeys((pod.key for pod in selected_too), BIN_SELECT))
        for pod in selected_too:
            sets.setdefault((pod.owner or pod.key, shape), []).append(pod)

    reusable = _reusable_nodes(nodes, config)
    state = placement_state(nodes, reusable) if sets and nodes else None
    selected = select_nodes(
        [PodSet(shape, pods) for (_, shape), pods in sets.items()], book, reusable, state=state,
        other_shapes=[shape for shape in pack_pods if shape.constraints.inter_pod],
    )
    kept: list[Placement] = []
    if pack_pods and any(node.reserved_for or node.arriving for node in reusable):
        state = state or placement_state(nodes, reusable)
        kept, pack_pods = _keep_launched_room(pack_pods, reusable, state)
    # The plan's bin-select nodes are room the small pods may take, as kube-scheduler will let
    # them (it prefers the emptiest node that fits): a bin-pack node launched beside would stay empty.
    # Every bin-select node is a hostname domain the packer's spread floor must see (host_spread.py).
    hostname_spread = any(c.topology_key == HOSTNAME for shape in pack_pods for c in shape.constraints.spread)
    small = Resources.least(shape.requests for shape in pack_pods) if pack_pods else []
    context, room, planned_domains = selected.as_nodes(small, every=hostname_spread) if pack_pods else ([], [], [])
    packed = pack(pack_pods, book, config, _open_bin_pack_nodes(nodes) + room, list(nodes) + context, replica_names,
                  planned_domains=planned_domains)
    selected.new_nodes, packed.placements = with_packed_pods(selected.new_nodes, packed.placements)

    for pods, reason in packed.unplaceable + selected.unplaceable:
        unplaceable.extend(Unplaceable(key, reason) for key in replica_names.keys(pods))
    for pod_set in selected.no_option:
        reason = explain_no_option(book, pod_set.shape.requests, pod_set.shape.constraints, BIN_SELECT, (ON_DEMAND,))
        unplaceable.extend(Unplaceable(pod.key, reason) for pod in pod_set.pods)
    for shape, pods in packed.no_option:
        reason = explain_no_option(book, shape.requests, shape.constraints, BIN_PACK, config.bin_packing_node_pricing)
        reason += " (bin-pack node shape: at least " + _bin_pack_shape(config) + ")"
        unplaceable.extend(Unplaceable(key, reason) for key in replica_names.keys(pods))
    replica_modes = [(pod.replica_keys, modes[key]) for key, pod in replica_names.templates.items() if key in modes]

    new_nodes = selected.new_nodes + packed.new_nodes
    if apply_cluster_limits and (
        config.max_nodes is not None or config.cluster_gpu_limit is not None or config.max_cluster_hourly_cost is not None
    ):
        pods_by_key = {pod.key: pod for pod in pending}
        pods_by_key.update(replica_names.all_keys())
        new_nodes, blocked = apply_limits(_order_for_limits(new_nodes, pods_by_key), config, LimitUsage.of(nodes))
        unplaceable.extend(blocked)

    return Plan(
        new_nodes=tuple(new_nodes),
        placements=tuple(selected.placements + kept + packed.placements),
        unplaceable=tuple(unplaceable),
        problems=tuple(problems),
        modes=PodModes(modes, replica_modes),
    )


def _bin_select_affinity(by_shape: Mapping[PodShape, list[Pod]], config: Config) -> list[PodSelector]:
    """Selectors of the required hostname pod-affinity terms of bin-select pods."""
    return [
        term.pods
        for shape in by_shape
        if shape.constraints.pod_affinity and classify(shape, config) == BIN_SELECT
        for term in shape.constraints.pod_affinity
        if term.topology_key == HOSTNAME
    ]


def _sized_with_bin_select(
    shape: PodShape, pods: list[Pod], together: list[PodSelector], book: OptionBook, config: Config
) -> list[Pod]:
    """Small pods that must share one node with more than a bin-pack node holds, so that the
    node is sized for them as a bin-select node is (kube-scheduler's InterPodAffinity on the
    hostname puts a self-affine group on one node, and a bin-select pod's affinity target on the
    node of that pod): those a bin-select pod's hostname affinity selects, or a group with
    hostname affinity to itself that one bin-pack node cannot hold."""
    if together:
        joined = [pod for pod in pods if any(selector.matches(pod.namespace, pod.labels) for selector in together)]
        if joined:
            return joined
    terms = [t for t in shape.constraints.pod_affinity if t.topology_key == HOSTNAME]
    if not terms:
        return []
    group = [pod for pod in pods if all(t.pods.matches(pod.namespace, pod.labels) for t in terms)]
    if not group:
        return []
    constraints = shape.constraints
    options, _ = book.candidates(class_key(constraints), BIN_PACK, config.bin_packing_node_pricing)
    shaped = [option for option in options if meets_shape(option, config, constraints.gpu_resource is not None)]
    if shaped and not shape.requests.times(len(group)).shortfall(shaped[0].allocatable):
        return []
    return group


def _bin_pack_shape(config: Config) -> str:
    shape = f"{format_cpu(config.bin_packing_node_cpu)} CPU, {format_bytes(config.bin_packing_node_memory)} memory"
    if config.bin_packing_node_gpu:
        shape += f", {config.bin_packing_node_gpu} GPUs"
    if config.bin_packing_node_type_regexp:
        shape += f", type matching {config.bin_packing_node_type_regexp}"
    return shape
