"""What replacing nodes needs, shared by TTL cycling and spot interruptions: their pods planned
as if pending against the cluster without them, and node messages said once per change."""

from __future__ import annotations

from typing import Callable, Collection, Iterable, Mapping

from autoscaler.cluster import ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.model import Pod
from autoscaler.planner.ttl import pods_to_move, wants_room
from autoscaler.planner.types import Plan

# (view without the nodes going, their pods as pending, now) -> (their plan, names of the
# planner's nodes that are not Ready yet: in-flight launches and starting nodes)
PlanWithout = Callable[[ClusterView, list[Pod], float], tuple[Plan, Collection[str]]]


def plan_without_nodes(
    view: ClusterView, bound: Mapping[str, list[Pod]], moving: Iterable[str], gone: set[str], config: Config,
    plan_without: PlanWithout, now: float, also_moving: Iterable[Pod] = (),
) -> tuple[Plan, Collection[str], list[Pod]]:
    """The pods of the `moving` nodes, those pending now and `also_moving` (pods evicted this
    loop), planned together against the cluster without the `gone` nodes."""
    demand = pods_to_move(p for name in sorted(moving) for p in bound.get(name, []))
    demand += [p for p in view.pods if wants_room(p, config)]
    demand += pods_to_move(also_moving)
    if not demand:
        return Plan(), (), demand
    others = ClusterView(
        pods=tuple(p for p in view.pods if p.node_name not in gone),
        nodes=tuple(n for n in view.nodes if n.name not in gone),
        daemonsets=view.daemonsets,
        pdbs=view.pdbs,
    )
    placement, on_the_way = plan_without(others, demand, now)
    return placement, on_the_way, demand


class NodeMessages:
    """A node event and a timeline line when a node's message changes (not every loop)."""

    def __init__(self, reporter, kind: str) -> None:
        self.reporter = reporter
        self.kind = kind
        self._said: dict[str, str] = {}

    def say(self, node: KubeNode, reason: str, message: str) -> None:
        if self._said.get(node.name) == message:
            return
        self._said[node.name] = message
        self.reporter.node(node, reason, message, event_type="Normal")
        self.reporter.note(self.kind, f"node {node.name}: {message}")

    def forget(self, name: str) -> None:
        self._said.pop(name, None)
