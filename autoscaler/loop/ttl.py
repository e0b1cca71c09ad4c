"""Node TTL cycling in the loop: expire, replace first, then hand the node to the drain.

Each loop: nodes the planner says expired start cycling (up to nodeTTLMaxParallel; the
NoSchedule taint `smart-autoscaler.io/expired` keeps new pods off). For every cycling node
its pods are planned as if pending against the cluster without it; what that plan needs is
launched first (through scale-up's launcher, so it is in flight and counted as room), and
the node goes to the loop's drain state machine (same eviction rules as scale-down) only
once every pod has a place on a Ready node. `do-not-evict` and bare pods hold it until they
end (a held node does not count against the limit). A cycle survives restarts: the taint
marks it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Collection, Mapping, Protocol

from autoscaler.cluster import Cluster, ClusterError, ClusterView, KubeNode
from autoscaler.config import Config
from autoscaler.loop.hotnodes import Context, Reporter
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner.ttl import (
    DRAIN, EXPIRED_TAINT, HOLD, LAUNCH, cycling_nodes, decide_ttl, held_by, pods_to_move, replacement_step,
)
from autoscaler.planner.types import NewNode, Plan

log = logging.getLogger("smart_autoscaler.loop.ttl")

DRAIN_KIND = "ttl"
# (view without the expiring node, its pods as pending, now) -> (their plan, names of the
# planner's nodes that are not Ready yet: in-flight launches and starting nodes)
PlanWithout = Callable[[ClusterView, list[Pod], float], tuple[Plan, Collection[str]]]
Launch = Callable[[NewNode, Mapping[str, Pod], float], bool]  # scale-up's launcher; True when submitted


class Drains(Protocol):
    def draining(self) -> set[str]: ...
    def request(self, node: KubeNode, reason: str, kind: str, now: float) -> bool: ...


@dataclass
class Cycle:
    started: float
    draining: bool = False
    held: bool = False


class TtlCycling:
    """A loop component: `run(context)` every loop."""

    def __init__(
        self, cluster: Cluster, config: Config, metrics: Metrics, reporter: Reporter, drains: Drains,
        plan_without: PlanWithout, launch: Launch, dry_run: bool = False,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.metrics = metrics
        self.reporter = reporter
        self.drains = drains
        self.plan_without = plan_without
        self.launch = launch
        self.dry_run = dry_run
        self.cycles: dict[str, Cycle] = {}
        self.cycled: list[str] = []  # expired nodes removed, in order
        self._said: dict[str, str] = {}  # node -> last waiting message (no repeats each loop)

    def run(self, context: Context) -> None:
        view, now = context.view, context.now
        if self.config.node_ttl is None and not self.cycles and not cycling_nodes(view.nodes):
            return
        nodes = {n.name: n for n in view.nodes}
        for name in [n for n in self.cycles if n not in nodes]:
            del self.cycles[name]
            self._said.pop(name, None)
            self.cycled.append(name)
            self.reporter.note("ttl", f"node {name} cycled out")
        draining = self.drains.draining()
        for name in cycling_nodes(view.nodes):  # a cycle an earlier process started
            self.cycles.setdefault(name, Cycle(now, draining=name in draining))
        active = [name for name, cycle in self.cycles.items() if not cycle.held]
        held = {name for name, cycle in self.cycles.items() if cycle.held}
        decision = decide_ttl(view.nodes, self.config, now, active, (draining - set(self.cycles)) | held)
        for expired in decision.start:
            self._start(nodes[expired.node], expired.reason, now)
        for name, cycle in self.cycles.items():
            if cycle.draining and name not in draining:
                cycle.draining = False  # the drain gave up (a PDB said no, a timeout): plan again
            if not cycle.draining and name in nodes:
                self._advance(view, nodes[name], cycle, context.bound.get(name, []), now)
        self.metrics.ttl_cycling.set(sum(1 for cycle in self.cycles.values() if not cycle.held))

    def _start(self, node: KubeNode, reason: str, now: float) -> None:
        if self.dry_run:
            self.reporter.note("dry-run", f"ttl: would cycle node {node.name}: {reason}")
            return
        try:
            self.cluster.patch_node(node.name, add_taints=(EXPIRED_TAINT,))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("tainting expired node %s failed: %s", node.name, err)
            return
        self.cycles[node.name] = Cycle(now)
        self.reporter.node(node, "NodeExpired", f"{reason}: tainted {EXPIRED_TAINT.key}:NoSchedule, replacing it", event_type="Normal")
        self.reporter.note("ttl", f"node {node.name} expired: {reason}")

    def _advance(self, view: ClusterView, node: KubeNode, cycle: Cycle, pods: list[Pod], now: float) -> None:
        moving = pods_to_move(pods)
        placement, on_the_way = Plan(), ()
        if moving and held_by(pods) is None:
            others = ClusterView(
                pods=tuple(p for p in view.pods if p.node_name != node.name),
                nodes=tuple(n for n in view.nodes if n.name != node.name),
                daemonsets=view.daemonsets,
                pdbs=view.pdbs,
            )
            placement, on_the_way = self.plan_without(others, moving, now)
        step = replacement_step(pods, placement, set(on_the_way))
        cycle.held = step.kind == HOLD
        if step.kind == LAUNCH:
            by_key = {pod.key: pod for pod in moving}
            started = sum(1 for new in step.new_nodes if self.launch(new, by_key, now))
            self._say(node, "NodeExpiryReplacing", f"node expired; {step.reason} ({started} submitted)")
        elif step.kind == DRAIN:
            if self.dry_run:
                self.reporter.note("dry-run", f"ttl: would drain expired node {node.name}: {step.reason}")
            elif self.drains.request(node, f"node expired (nodeTTL): {step.reason}", DRAIN_KIND, now):
                cycle.draining = True
                self._say(node, "NodeExpiryDraining", f"node expired; draining: {step.reason}")
        else:
            self._say(node, "NodeExpiryWaiting", f"node expired; {step.reason}")

    def _say(self, node: KubeNode, reason: str, message: str) -> None:
        """A node event and a timeline line when the message changes (not every loop)."""
        if self._said.get(node.name) == message:
            return
        self._said[node.name] = message
        self.reporter.node(node, reason, message, event_type="Normal")
        self.reporter.note("ttl", f"node {node.name}: {message}")
