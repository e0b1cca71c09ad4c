"""The bin-select nodes a plan launches, seen by the one placement simulation while the plan is
made: a later pod set counts the pods laid out before it (zone spread of bare pods, zone
anti-affinity), and a pod with required pod affinity joins the new node of the pods it must be
with (kube-scheduler's InterPodAffinity filter), instead of getting a node of its own that the
scheduler would never use.

Only the nodes of pods that some pending pod's inter-pod term selects enter the simulation while
bin-select lays out sets: the others can change no count, and leaving them out keeps the plan
linear in the number of sets. Afterwards every planned node goes to the packer (`as_nodes`):
its room is where kube-scheduler will put small pods first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from autoscaler.model import BIN_SELECT, Node, Pod, PodSelector, PodShape
from autoscaler.nodetaints import launch_taints, type_devices
from autoscaler.nodelabels import HOSTNAME, INSTANCE_TYPE, ZONE, node_labels
from autoscaler.resources import Resources
from pricing.types import ON_DEMAND
from autoscaler.placement.check import NodeState, PlacementState
from autoscaler.planner.options import NodeOption, OptionBook
from autoscaler.planner.types import NewNode


_UNBOUNDED = Resources(10**12, 10**18, 10**6, 10**6, 10**18)


def _selectors(shapes) -> list[PodSelector]:
    found: dict[PodSelector, None] = {}
    for shape in shapes:
        constraints = shape.constraints
        for term in constraints.pod_affinity + constraints.pod_anti_affinity:
            found[term.pods] = None
        for spread in constraints.spread:
            found[spread.pods] = None
    return list(found)


class PlannedNodes:
    def __init__(self, book: OptionBook, state: PlacementState | None, pod_sets: Sequence,
                 other_shapes: Sequence[PodShape] = ()) -> None:
        """`other_shapes`: the plan's other pending pods (bin-pack), whose terms count these too."""
        self.book = book
        self.state = state if state is not None else PlacementState(())
        self.selectors = _selectors([pod_set.shape for pod_set in pod_sets] + list(other_shapes))
        # Pods a zone term of a pending pod counts (affinity, anti-affinity, spread): where they
        # are must be known when that pod is laid out, so their nodes get one zone.
        self.zone_counted = list({
            term.pods: None
            for shape in [pod_set.shape for pod_set in pod_sets] + list(other_shapes)
            for term in (*shape.constraints.pod_affinity, *shape.constraints.pod_anti_affinity, *shape.constraints.spread)
            if term.topology_key == ZONE
        })
        self.index_of: dict[str, int] = {}  # planned node name -> index in the result's new_nodes
        # Per offering: the labels but the hostname, and the devices its type advertises.
        self._made: dict[int, tuple[NodeOption, dict[str, str], tuple[str, ...]]] = {}

    def seen(self, pod: Pod) -> bool:
        """Whether any pending pod's inter-pod term counts this pod."""
        return any(selector.matches(pod.namespace, pod.labels) for selector in self.selectors)

    def needs_one_zone(self, pod: Pod) -> bool:
        """Whether a zone term of a pending pod counts this pod: then its node gets one zone now."""
        return any(selector.matches(pod.namespace, pod.labels) for selector in self.zone_counted)

    def add(self, new_nodes: list[NewNode], first: int, pods: dict[str, Pod]) -> None:
        """Put new_nodes[first:] (their pods placed) into the simulation, when any is seen."""
        for index in range(first, len(new_nodes)):
            node = new_nodes[index]
            members = [pods[key] for key in node.pods]
            if not any(self.seen(pod) for pod in members):
                continue
            option = node.option
            name = f"planned-{index}"
            labels = self._labels(node, name)
            self.state.nodes[name] = NodeState(name, labels, option.taints, option.allocatable, [], True)
            for pod in members:
                self.state.place(pod, name)
            self.index_of[name] = index

    def _grow(self, pod: Pod, names: list[str], new_nodes: list[NewNode], options: Sequence[NodeOption]) -> str | None:
        """A planned node the pod may join but for its room, made the cheapest larger offering that
        every pod on it may get and that holds them all (in the node's zones); its name, or None."""
        for name in names:
            node = self.state.nodes[name]
            saved = node.free
            node.free = _UNBOUNDED
            fits_but_for_room = self.state.why_not(pod, name) is None
            node.free = saved
            if not fits_but_for_room:
                continue
            need = pod.requests
            allowed = None
            for member in node.pods:
                need = need + member.requests
                keys = {(o.name, o.capacity_type) for o in self._candidates(member)}
                allowed = keys if allowed is None else allowed & keys
            index = self.index_of[name]
            planned = new_nodes[index]
            zones = set(planned.option.zones)
            for option in options:
                if allowed is not None and (option.name, option.capacity_type) not in allowed:
                    continue
                in_zones = tuple(zone for zone in option.zones if zone in zones)
                if not in_zones or need.shortfall(option.allocatable):
                    continue
                grown = replace(option, zones=in_zones)
                new_nodes[index] = replace(planned, option=grown, alternatives=())
                node.free = (grown.allocatable - need + pod.requests)
                node.labels = {**node.labels, INSTANCE_TYPE: option.name}
                return name
        return None

    def _candidates(self, pod: Pod) -> list[NodeOption]:
        return self.book.candidates(pod.constraints, BIN_SELECT, (ON_DEMAND,))[0]

    def join(self, pods: list[Pod], new_nodes: list[NewNode], options: Sequence[NodeOption]) -> list[Pod]:
        """Place pods with required pod affinity on planned nodes whose offering is one of
        theirs (`options`) where the simulation lets them; returns the pods left."""
        left = []
        theirs = {(option.name, option.capacity_type) for option in options}
        names = [
            name for name, index in self.index_of.items()
            if (new_nodes[index].option.name, new_nodes[index].option.capacity_type) in theirs
        ]
        for pod in pods:
            chosen, _ = self.state.first_fit(pod, names)
            if chosen is None:
                chosen = self._grow(pod, names, new_nodes, options)
            if chosen is None:
                left.append(pod)
                continue
            self.state.place(pod, chosen)
            index = self.index_of[chosen]
            node = new_nodes[index]
            need = self.state.nodes[chosen].pods
            total = Resources.total(p.requests for p in need)
            alternatives = tuple(a for a in node.alternatives if not total.shortfall(a.allocatable))
            new_nodes[index] = replace(node, pods=node.pods + (pod.key,), alternatives=alternatives)
        return left

    def _labels(self, node: NewNode, name: str) -> dict[str, str]:
        """The labels the provider gives the node; a zone only when the plan fixed one (else the
        provider picks it, and no pod can count on it)."""
        labels = dict(self._of_option(node.option)[1])
        labels[HOSTNAME] = name
        return labels

    def _of_option(self, option: NodeOption) -> tuple[NodeOption, dict[str, str], tuple[str, ...]]:
        """(the option, its node's labels but the hostname, the devices its type advertises),
        made once per offering."""
        made = self._made.get(id(option))
        if made is None or made[0] is not option:
            zone = option.zones[0] if len(option.zones) == 1 else ""
            catalog, config = self.book.catalog, self.book.config
            labels = node_labels(catalog.cloud, catalog.region, option.instance_type, option.capacity_type, zone,
                                 BIN_SELECT, dict(config.node_labels))
            if not zone:
                del labels[ZONE]
            devices = type_devices(option.instance_type, catalog.cloud, config.extended_resources)
            made = self._made[id(option)] = (option, labels, devices)
        return made

    def as_nodes(
        self, new_nodes: list[NewNode], pods: dict[str, Pod], small: Sequence[Resources], every: bool = False
    ) -> tuple[list[Node], list[Node], list[Node]]:
        """(context, room, rest): the planned nodes as the packer takes nodes that are there (with
        their pods, room and labels). Context: those whose pods a pending pod's rule counts, and
        those in room; room: those with room for one of the `small` requests (the pending bin-pack
        pods), which kube-scheduler will fill first; rest (only with `every`): all the others."""
        context, room, rest = [], [], []
        for index, new in enumerate(new_nodes):
            option = new.option
            first = pods[new.pods[0]]
            if all(pods[key].shape is first.shape for key in new.pods):
                used = first.requests.times(len(new.pods))
            else:
                used = Resources()
                for key in new.pods:
                    used = used + pods[key].requests
            free = option.allocatable - used
            # A node whose zone the provider picks takes no pod a zone rule counts: where it lands
            # would decide that rule after the plan.
            roomy = (len(option.zones) == 1 or not self.zone_counted) and any(need.fits_in(free) for need in small)
            name = f"planned-{index}"
            counted = roomy or name in self.index_of
            if not counted and not every:
                continue
            members = tuple(pods[key] for key in new.pods)
            labels = self._labels(new, name)
            ports = frozenset(port for pod in members for port in pod.constraints.host_ports)
            # The taints it will be launched with (autoscaler/nodetaints.py): an accelerator node
            # whose pods all tolerate its device taint gets it, and then takes no small pod.
            taints = launch_taints(option.taints, self._of_option(option)[2], members)
            node = Node(name=name, instance_type=option.name, capacity_type=option.capacity_type,
                        zone=labels.get(ZONE, ""), allocatable=option.allocatable, labels=labels, taints=taints,
                        managed=True, role=BIN_SELECT, in_flight=True, used=used, workload_pods=len(members),
                        host_ports=ports | option.host_ports, pods=members)
            if not counted:
                rest.append(node)
                continue
            context.append(node)
            if roomy:
                room.append(node)
        return context, room, rest


def with_packed_pods(new_nodes: list[NewNode], placements: list) -> tuple[list[NewNode], list]:
    """Bin-pack pods the packer put in the room of planned bin-select nodes ("planned-<index>")
    join those nodes; other placements stay."""
    kept = []
    joined: dict[int, list[str]] = {}
    for placement in placements:
        if placement.node.startswith("planned-") and placement.node[8:].isdigit():
            joined.setdefault(int(placement.node[8:]), []).append(placement.pod)
        else:
            kept.append(placement)
    if not joined:
        return new_nodes, placements
    nodes = list(new_nodes)
    for index, keys in joined.items():
        node = nodes[index]
        nodes[index] = replace(node, pods=node.pods + tuple(keys), alternatives=())
    return nodes, kept
