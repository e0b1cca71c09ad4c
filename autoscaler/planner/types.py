"""What the planner decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

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


class PodModes(Mapping[str, str]):
    """Pod key -> bin-pack / bin-select. The replicas of a workload planned as a count are kept
    as one run (their keys, one mode) until someone reads the mapping (`preview` never does)."""

    def __init__(self, modes: dict[str, str], runs: Sequence[tuple[Sequence[str], str]] = ()) -> None:
        self._modes = modes
        self._runs = list(runs)

    def _every(self) -> dict[str, str]:
        for keys, mode in self._runs:
            self._modes.update(dict.fromkeys(keys, mode))
        self._runs = []
        return self._modes

    def __getitem__(self, key: str) -> str:
        return self._every()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())


@dataclass(frozen=True)
class Plan:
    new_nodes: tuple[NewNode, ...] = ()
    placements: tuple[Placement, ...] = ()
    unplaceable: tuple[Unplaceable, ...] = ()
    problems: tuple[str, ...] = ()  # malformed annotations and the like, one message each
    modes: Mapping[str, str] = field(default_factory=dict)  # pod key -> bin-pack / bin-select

    @property
    def hourly_cost(self) -> float:
        return round(sum(node.price for node in self.new_nodes), 6)
