"""Topology spread on a node label other than the hostname and the zone
(`karpenter.sh/capacity-type`, `kubernetes.io/arch`, `node.kubernetes.io/instance-type`, a label
the configuration puts on every node): the domains are the label's values.

kube-scheduler (PodTopologySpread) counts the matching pods per value over the nodes that are
domains and lets a pod onto a node of value v when v's count + 1 - the global minimum is at most
maxSkew. A new node's value is fixed by its offering, so the group's pods are water-filled over
the values its offerings (and the existing nodes with room it may join) carry, lowest count first
(`zones.spread_quota`, the zone rule), and each value's share is placed as a group pinned to that
value by node affinity (its own affinity kept for counting domains, as volumes narrow it). A value
every existing domain holds more of than the rest stops at min + maxSkew: with an existing spot
node holding no matching pod and on-demand the only capacity type new bin-pack nodes get, one
pod goes to on-demand and the rest are unplaceable, as kube-scheduler would leave them, instead
of a new on-demand node it would not use.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from autoscaler.model import NodeAffinity, PodShape, Requirement, SpreadConstraint
from autoscaler.planner.groups import PodGroup
from autoscaler.planner.host_spread import existing_domains
from autoscaler.planner.zones import spread_quota
from autoscaler.volumes import and_terms

if TYPE_CHECKING:
    from autoscaler.planner.pack_classes import PodClass
    from autoscaler.planner.pack_state import PackState


def label_quota(
    packer: PackState, group: PodGroup, klass: PodClass, constraint: SpreadConstraint, wanted: int
) -> dict[str, int]:
    """Value -> how many of the group's pods (which match the constraint's selector) it may take."""
    key = constraint.topology_key
    existing = existing_domains(packer, group, constraint)
    counts = dict(existing.counts)
    sid = packer.registry.ids[constraint.pods]
    for value, placed in _placed(packer, sid, key).items():
        counts[value] = counts.get(value, 0) + placed
    placeable = placeable_values(packer, klass, key)
    return spread_quota(constraint, wanted, counts, sorted(existing.domains), placeable)


def pinned_shape(shape: PodShape, key: str, value: str) -> PodShape:
    """The shape narrowed to nodes whose `key` is `value`; its own node affinity is kept for
    counting spread domains (nodeAffinityPolicy)."""
    constraints = shape.constraints
    own = constraints.spread_affinity
    affinity = NodeAffinity(and_terms(constraints.affinity.terms, ((Requirement(key, "In", (value,)),),)))
    return PodShape.of(shape.requests, replace(constraints, affinity=affinity, own_affinity=own))


def bin_value(packer: PackState, index: int, key: str) -> str | None:
    """The value of `key` on bin `index`: the node's label, or the label its offering gives."""
    bins = packer.bins
    option = bins.options[index]
    if option is None:
        return packer.open_nodes[index].labels.get(key)
    return packer.new_node_labels(option).get(key)


def _placed(packer: PackState, sid: int, key: str) -> dict[str, int]:
    """Matching pods this plan put on bins, per value of `key`."""
    bins = packer.bins
    row = bins.rows.get(sid)
    placed: dict[str, int] = {}
    if row is None:
        return placed
    counts = bins.counts[row, : bins.count]
    opened = len(packer.open_nodes)
    for index in counts.nonzero()[0].tolist():
        added = int(counts[index]) - (int(packer.open_seed[row, index]) if index < opened else 0)
        if added:
            value = bin_value(packer, index, key)
            if value is not None:
                placed[value] = placed.get(value, 0) + added
    return placed


def placeable_values(packer: PackState, klass: PodClass, key: str) -> list[str]:
    """The values the class's new nodes may carry. (Existing nodes with room of another value
    are left out: held to that value, the pods could be given offerings the class was not.)"""
    values = {packer.new_node_labels(option).get(key) for option in (klass.shaped or klass.options)}
    values.discard(None)
    return sorted(values)  # type: ignore[arg-type]
