"""Bin-select: each pod set gets the cheapest node that fits (SPEC §2, §4).

Pods of one set (same owner, same requests and constraints) may share a node when the
cheapest node for one of them has room for more. Then every fitting option is priced as
"full nodes of that option plus one node for the remainder" and the cheapest plan wins;
on a tie, the smaller node. When the cheapest node holds only one pod, the set gets one
node per pod even if a bigger node could hold several for less — the pod asked for a node
of its own, and that is what the published Luna results show (4 × g6.8xlarge, not one
g6.24xlarge, for four 1-GPU workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from autoscaler.model import BIN_SELECT, Node, Pod, PodShape, ports_conflict
from autoscaler.placement.check import PlacementState
from autoscaler.placement.rules import self_matching
from autoscaler.planner.planned import PlannedNodes
from autoscaler.planner.zonesets import ZoneLayout, missing_topology_key, zone_layout
from autoscaler.nodelabels import HOSTNAME
from autoscaler.planner.fit import amounts, as_matrix, copies_that_fit, growing_windows
from autoscaler.planner.flexsize import sized_for
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.types import NewNode, Placement
from autoscaler.resources import Resources
from pricing.types import ON_DEMAND

_EPSILON = 1e-9


@dataclass
class PodSet:
    shape: PodShape
    pods: list[Pod]


@dataclass
class ReusableNode:
    """An idle bin-select node, or one on its way, that may take pods instead of a new node."""

    name: str
    instance_type: str
    capacity_type: str
    zone: str
    free: Resources
    reserved_for: frozenset[str] = frozenset()
    taken: list[str] = field(default_factory=list)
    arriving: bool = False  # in flight, or registered and not yet in use: its room is on its way


@dataclass
class BinSelectResult:
    new_nodes: list[NewNode] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    no_option: list[PodSet] = field(default_factory=list)
    unplaceable: list[tuple[list[Pod], str]] = field(default_factory=list)
    simulation: PlannedNodes | None = None  # the new nodes in the placement simulation
    pods: dict[str, Pod] = field(default_factory=dict)

    def as_nodes(self, small: list[Resources], every: bool = False) -> tuple[list[Node], list[Node], list[Node]]:
        """The new nodes as nodes that are there: (those other pods' rules count; those with room
        for one of `small`; with `every`, all the others)."""
        if self.simulation is None or not self.new_nodes:
            return [], [], []
        return self.simulation.as_nodes(self.new_nodes, self.pods, small, every)


def undominated(options: list[NodeOption]) -> list[NodeOption]:
    """Drop every option that an earlier one (cheaper, or as cheap and smaller) beats on every resource.

    Such an option can never be the cheapest fit, nor hold more pods for less, so the
    per-pod search runs over a few dozen options instead of every type in the region.
    """
    if not options:
        return []
    matrix = as_matrix([option.allocatable for option in options])
    kept: list[int] = []
    for index in range(len(options)):
        if kept and (matrix[kept] >= matrix[index]).all(axis=1).any():
            continue
        kept.append(index)
    return [options[index] for index in kept]


class _OptionMatrix:
    """The undominated options of an ordered option list, as columns (one row per resource),
    built once per list; and the whole list the same way, for alternatives."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[list[NodeOption], list[NodeOption], np.ndarray, np.ndarray]] = {}
        self._full: dict[int, tuple[list[NodeOption], np.ndarray, dict[int, int]]] = {}

    def get(self, options: list[NodeOption]) -> tuple[list[NodeOption], np.ndarray, np.ndarray]:
        entry = self._cache.get(id(options))
        if entry is None or entry[0] is not options:
            useful = undominated(options)
            columns = np.ascontiguousarray(as_matrix([option.allocatable for option in useful]).T)
            prices = np.array([option.price for option in useful], dtype=np.float64)
            entry = self._cache[id(options)] = (options, useful, columns, prices)
        return entry[1], entry[2], entry[3]

    def full(self, options: list[NodeOption]) -> tuple[np.ndarray, dict[int, int]]:
        """Every option of the list as columns (one row per resource), and each option's position
        by identity."""
        entry = self._full.get(id(options))
        if entry is None or entry[0] is not options:
            columns = np.ascontiguousarray(as_matrix([option.allocatable for option in options]).T)
            entry = self._full[id(options)] = (options, columns, {id(o): i for i, o in enumerate(options)})
        return entry[1], entry[2]


def _per_node_limit(pod_set: PodSet) -> int | None:
    """What the set's own rules allow on one new node: host ports and hostname anti-affinity
    against its own pods give one; a hostname spread of its own pods gives maxSkew."""
    constraints = pod_set.shape.constraints
    first = pod_set.pods[0]
    limit = None
    if constraints.host_ports:
        limit = 1
    for term in constraints.pod_anti_affinity:
        if term.topology_key == HOSTNAME and term.pods.matches(first.namespace, first.labels):
            limit = 1
    for spread in constraints.spread:
        if spread.topology_key == HOSTNAME and spread.pods.matches(first.namespace, first.labels):
            limit = spread.max_skew if limit is None else min(limit, spread.max_skew)
    return limit


def _choose_layout(
    options: list[NodeOption], fits: np.ndarray, prices: np.ndarray, count: int
) -> list[tuple[NodeOption, int]]:
    """[(option, pods on each such node)] for `count` pods, cheapest in total."""
    fitting = np.nonzero(fits > 0)[0]
    first = int(fitting[0])
    per_first = int(min(fits[first], count))
    if count == 1 or per_first == 1:
        return [(options[first], 1)] * count
    capped = np.minimum(fits[fitting], count)
    # cheapest single node able to hold r pods, for every r < count
    remainder_price = {}
    remainder_option = {}
    for r in range(1, int(capped.max()) + 1):
        holders = fitting[capped >= r]
        if len(holders):
            index = int(holders[0])  # options are ordered by price, then size
            remainder_price[r] = float(prices[index])
            remainder_option[r] = index
    best: tuple[float, tuple, int, int] | None = None
    for position, index in enumerate(fitting):
        per_node = int(capped[position])
        full, rest = divmod(count, per_node)
        total = full * float(prices[index]) + (remainder_price[rest] if rest else 0.0)
        candidate = (total, options[index].size_key, int(index), per_node)
        if best is None or total < best[0] - _EPSILON or (abs(total - best[0]) <= _EPSILON and candidate[1] < best[1]):
            best = candidate
    assert best is not None
    _, _, index, per_node = best
    full, rest = divmod(count, per_node)
    layout = [(options[index], per_node)] * full
    if rest:
        layout.append((options[remainder_option[rest]], rest))
    return layout


def _in_zones(zone: str, zones: set[str], region: str) -> bool:
    """An option priced for a whole region (a region without zones) covers the region's
    zones, whatever they are called; a node in no zone (an AKS node outside availability zones,
    whose zone the snapshot reads as the region) is no zone's either: its own labels decide, in
    the placement simulation."""
    return zone in zones or zone == region or region in zones or any(zone.startswith(f"{name}-") for name in zones)


def _reuse(
    pod_set: PodSet,
    options: list[NodeOption],
    reusable: list[ReusableNode],
    state: PlacementState | None,
    region: str = "",
) -> tuple[list[Placement], list[Pod]]:
    """Put pods on idle or in-flight bin-select nodes whose type satisfies them and where the
    placement simulation says they fit (resources, ports, inter-pod rules). An option the
    catalog offers region-wide (zone = the region: OCI, GCP, Azure) takes a node in any zone."""
    if not reusable or state is None:
        return [], pod_set.pods
    acceptable = {(option.name, option.capacity_type): set(option.zones) for option in options}
    placements = []
    remaining = []
    keys = {pod.key for pod in pod_set.pods}
    # nodes launched for these very pods first
    ordered = sorted(reusable, key=lambda node: (not (node.reserved_for & keys), node.name))
    for pod in pod_set.pods:
        placed = False
        for node in ordered:
            zones = acceptable.get((node.instance_type, node.capacity_type))
            if zones is None or (node.zone and not _in_zones(node.zone, zones, region)):
                continue
            if node.reserved_for and pod.key not in node.reserved_for and not (node.reserved_for & keys):
                continue
            if state.why_not(pod, node.name) is None:
                state.place(pod, node.name)
                node.taken.append(pod.key)
                placements.append(Placement(pod.key, node.name))
                placed = True
                break
        if not placed:
            remaining.append(pod)
    return placements, remaining


def select_nodes(
    pod_sets: list[PodSet],
    book: OptionBook,
    reusable: list[ReusableNode],
    matrices: _OptionMatrix | None = None,
    state: PlacementState | None = None,
    other_shapes: list[PodShape] = (),
) -> BinSelectResult:
    """`other_shapes`: the plan's bin-pack pods, whose inter-pod terms count the new nodes' pods
    too (they come back as `planned`, for the packer)."""
    result = BinSelectResult()
    matrices = matrices or _OptionMatrix()
    planned = PlannedNodes(book, state, pod_sets, other_shapes)
    state = planned.state
    by_key = {pod.key: pod for pod_set in pod_sets for pod in pod_set.pods}
    # Sets with required pod affinity last, the targets of others' affinity first among them:
    # the pods they must be with are laid out first.
    targets = [term.pods for pod_set in pod_sets for term in pod_set.shape.constraints.pod_affinity]

    def order(pod_set: PodSet) -> tuple[bool, bool]:
        first = pod_set.pods[0]
        targeted = any(selector.matches(first.namespace, first.labels) for selector in targets)
        return bool(pod_set.shape.constraints.pod_affinity), not targeted

    waiting = sorted(pod_sets, key=order)
    while waiting:
        later = [pod_set for pod_set in waiting if _waits_for(pod_set, waiting, state)]
        ready = [pod_set for pod_set in waiting if not any(pod_set is w for w in later)] or later
        for pod_set in ready:
            first_new = len(result.new_nodes)
            _select_set(result, pod_set, book, reusable, matrices, state, planned)
            planned.add(result.new_nodes, first_new, by_key)
        waiting = later if len(ready) < len(waiting) else []
    result.simulation, result.pods = planned, by_key
    return result


def _waits_for(pod_set: PodSet, waiting: list[PodSet], state: PlacementState) -> bool:
    """Whether a required pod-affinity term of the set selects no pod laid out yet but pods of
    another set still waiting: then that set goes first."""
    first = pod_set.pods[0]
    for term in pod_set.shape.constraints.pod_affinity:
        if term.pods.matches(first.namespace, first.labels):
            continue
        if any(term.pods.matches(p.namespace, p.labels) for node in state.nodes.values() for p in node.pods):
            continue
        if any(other is not pod_set and term.pods.matches(other.pods[0].namespace, other.pods[0].labels)
               for other in waiting):
            return True
    return False


def _select_set(result, pod_set, book, reusable, matrices, state, planned) -> None:
    all_options, _ = book.candidates(pod_set.shape.constraints, BIN_SELECT, (ON_DEMAND,))
    all_options = sized_for(book, all_options, pod_set.shape.requests)
    placements, pods = _reuse(pod_set, all_options, reusable, state, book.catalog.region)
    result.placements.extend(placements)
    if pods and any(term.topology_key == HOSTNAME for term in pod_set.shape.constraints.pod_affinity):
        pods = planned.join(pods, result.new_nodes, all_options)
    if not pods:
        return
    options, columns, prices = matrices.get(all_options)
    fits = copies_that_fit(columns, amounts(pod_set.shape.requests))
    limit = _per_node_limit(pod_set)
    if limit is not None:
        fits = np.minimum(fits, limit)
    ports = pod_set.shape.constraints.host_ports
    if ports:
        clash = np.array([ports_conflict(ports, option.host_ports) for option in options], dtype=bool)
        if clash.any() and (fits[~clash] == 0).all():
            taken = ", ".join(f"{p}/{proto}" for p, proto, _ in sorted(ports))
            result.unplaceable.append((pods, f"host port {taken} is taken on every new node it may get by the DaemonSet pods that run there"))
            return
        fits = np.where(clash, 0, fits)
    if not (fits > 0).any():
        result.no_option.append(PodSet(pod_set.shape, pods))
        return
    together = _one_node_for_all(pod_set.shape, pods, state)
    if together is not None:
        if together:
            result.unplaceable.append((pods, together))
            return
        # The whole set must share the first pod's node: one node, the cheapest holding them all.
        holds = np.nonzero(fits >= len(pods))[0]
        best = int(holds[0]) if len(holds) else int(np.argmax(fits))
        if int(fits[best]) < len(pods):
            term = next(t for t in pod_set.shape.constraints.pod_affinity if t.topology_key == HOSTNAME)
            result.unplaceable.append((pods[int(fits[best]):], (
                f"required pod affinity on {HOSTNAME} ({term.pods.describe()}) puts its pods on one node, and the "
                f"largest node it may get holds {int(fits[best])}")))
            pods = pods[: int(fits[best])]
        fits = np.where(np.arange(len(fits)) == best, len(pods), 0)
    missing = missing_topology_key(pod_set.shape.constraints, options[0], book)
    if missing:
        result.unplaceable.append((pods, f"topology key {missing} is not a label of the nodes it may get"))
        return
    zoned = zone_layout(PodSet(pod_set.shape, pods), options, fits, state)
    if zoned is not None and together is not None and len(zoned.quota) > 1:
        # The set shares one node, so one zone: the one its zone rules give the most pods.
        term = next(t for t in pod_set.shape.constraints.pod_affinity if t.topology_key == HOSTNAME)
        reason = f"required pod affinity on {HOSTNAME} ({term.pods.describe()}) puts its pods on one node, in one zone"
        zoned = ZoneLayout(zoned.quota[:1], f"{reason}; {zoned.reason}" if zoned.reason else reason)
    if zoned is None:
        _lay_out(result, pods, options, fits, prices, None, all_options, matrices, planned.needs_one_zone(pods[0]))
        return
    start = 0
    for zone, count in zoned.quota:
        count = min(count, len(pods) - start)  # more zones allowed than pods (us-central1 has four)
        if count > 0:
            mask = np.array([zone in option.zones for option in options], dtype=bool)
            _lay_out(result, pods[start : start + count], options, np.where(mask, fits, 0), prices, zone, all_options, matrices)
            start += count
    if start < len(pods):
        result.unplaceable.append((pods[start:], zoned.reason))


def _one_node_for_all(shape: PodShape, pods: list[Pod], state: PlacementState) -> str | None:
    """For pods with required pod affinity on the hostname (kube-scheduler's InterPodAffinity:
    the node must hold a pod matching each term, unless no pod anywhere matches and the pod
    matches its own terms): None when they have none; "" when they start the group and so must
    all share one new node; else why no new node can take them (the pods they must be with
    are on nodes without room for them, or nowhere)."""
    terms = [term for term in shape.constraints.pod_affinity if term.topology_key == HOSTNAME]
    if not terms:
        return None
    first = pods[0]
    for term in terms:
        if any(term.pods.matches(p.namespace, p.labels) for node in state.nodes.values() for p in node.pods):
            return (f"required pod affinity on {HOSTNAME} ({term.pods.describe()}): the nodes with matching pods "
                    "have no room for it")
    if not self_matching(first):
        term = next(t for t in terms if not t.pods.matches(first.namespace, first.labels))
        return f"no pod matches its required pod affinity ({term.pods.describe()}) on {HOSTNAME}"
    return ""


def _lay_out(result, pods, options, fits, prices, zone, all_options, matrices, one_zone=False) -> None:
    if not pods:
        return
    if not (fits > 0).any():
        result.no_option.append(PodSet(pods[0].shape, pods))
        return
    start = 0
    known: dict[tuple[int, int], tuple[NodeOption, tuple[NodeOption, ...]]] = {}
    for option, per_node in _choose_layout(options, fits, prices, len(pods)):
        keys = tuple(pod.key for pod in pods[start : start + per_node])
        entry = known.get((id(option), per_node))
        if entry is None:
            if zone is None and one_zone:
                zone = option.zones[0]  # another pod must follow these into their zone
            chosen = replace(option, zones=(zone,)) if zone is not None else option
            alternatives = _alternatives(option, pods[start].requests.times(per_node), all_options, zone, matrices)
            entry = known[(id(option), per_node)] = (chosen, alternatives)
        result.new_nodes.append(NewNode(entry[0], BIN_SELECT, keys, entry[1]))
        start += per_node


def _alternatives(
    chosen: NodeOption, need: Resources, options: list[NodeOption], zone: str | None, matrices: _OptionMatrix
) -> tuple[NodeOption, ...]:
    """The next cheapest offerings after `chosen` that hold the same pods (in the same zone)."""
    columns, position = matrices.full(options)
    wanted = amounts(need)
    found: list[NodeOption] = []
    # The few next cheapest that fit are usually close after `chosen`.
    for start, end in growing_windows(position.get(id(chosen), -1) + 1, columns.shape[1]):
        for at in np.flatnonzero(copies_that_fit(columns[:, start:end], wanted, one=True)).tolist():
            option = options[start + at]
            if option.name == chosen.name and option.capacity_type == chosen.capacity_type:
                continue
            if zone is not None:
                if zone not in option.zones:
                    continue
                option = replace(option, zones=(zone,))
            found.append(option)
            if len(found) == 4:
                return tuple(found)
    return tuple(found)
