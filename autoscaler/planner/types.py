"""What the planner decides."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.planner.options import NodeOption


@dataclass(frozen=True, slots=True)
class NewNode:
    """One node to launch, and the pending pods it is for."""

    option: NodeOption
    mode: str  # bin-pack or bin-select
    pods: tuple[str, ...]
    # Equivalent offerings for the same pods (every one fits them and honours their
    # constraints), next cheapest first: a provider may fall back to them in one call.
    alternatives: tuple[NodeOption, ...] = ()

    @property
    def instance_type(self) -> str:
        return self.option.instance_type.name

    @property
    def capacity_type(self) -> str:
        return self.option.capacity_type

    @property
    def price(self) -> float:
        return self.option.price


@dataclass(frozen=True, slots=True)
class Placement:
    """A pending pod that fits on a node that exists or is already on its way."""

    pod: str
    node: str


@dataclass(frozen=True, slots=True)
class Unplaceable:
    pod: str
    reason: str
    limit: str = ""  # the limit that blocked it (maxNodes, clusterGPULimit, maxClusterHourlyCost)


@dataclass(frozen=True)
class Plan:
    new_nodes: tuple[NewNode, ...] = ()
    placements: tuple[Placement, ...] = ()
    unplaceable: tuple[Unplaceable, ...] = ()
    problems: tuple[str, ...] = ()  # malformed annotations and the like, one message each
    modes: dict[str, str] = field(default_factory=dict)  # pod key -> bin-pack / bin-select

    @property
    def hourly_cost(self) -> float:
        return round(sum(node.price for node in self.new_nodes), 6)
