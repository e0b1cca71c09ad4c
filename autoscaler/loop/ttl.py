"""Node TTL cycling in the loop: expire, replace first, then hand the node to the drain.

Each loop: nodes the planner says expired start cycling (up to nodeTTLMaxParallel; the
NoSchedule taint `smart-autoscaler.io/expired` keeps new pods off). For every cycling node
its pods are planned as if pending against the cluster without it; what that plan needs is
launched first, and the node is handed to the loop's drain (same eviction rules as
scale-down) only once every pod has a place on a Ready node. `do-not-evict` and bare pods
hold it until they end. A cycle survives restarts: the taint marks it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping

from autoscaler.cluster import Cluster, ClusterError, ClusterView, ObjectRef
from autoscaler.config import Config
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner.ttl import (
    DRAIN,
    EXPIRED_TAINT,
    HOLD,
    LAUNCH,
    cycling_nodes,
    decide_ttl,
    pods_to_move,
    replacement_step,
)
from autoscaler.planner.types import NewNode, Plan

log = logging.getLogger("smart_autoscaler.loop.ttl")

EVICTION_REASON = "ttl"
ReportEvent = Callable[[ObjectRef, str, str, str], None]  # (object, reason, type, message)
Note = Callable[[str, str], None]
# (expiring node, its pods as pending) -> (their plan against the cluster without the node,
# names of planner nodes that are not Ready yet: in-flight launches and starting nodes)
PlanWithout = Callable[[str, list[Pod]], tuple[Plan, Collection[str]]]
Launch = Callable[[NewNode], bool]  # one launch through the loop's launcher; True when started
RequestDrain = Callable[[str, str], bool]  # (node, reason): the drain state machine takes it
IsDraining = Callable[[str], bool]


@dataclass
class Cycle:
    started: float
    draining: bool = False
    held: bool = False  # do-not-evict or bare pods hold it: it does not count against the limit


@dataclass
class TtlController:
    cluster: Cluster
    config: Config
    metrics: Metrics
    report: ReportEvent
    note: Note
    plan_without: PlanWithout
    launch: Launch
    request_drain: RequestDrain
    is_draining: IsDraining
    dry_run: bool = False
    cycles: dict[str, Cycle] = field(default_factory=dict)
    cycled: list[str] = field(default_factory=list)  # nodes removed after expiring, in order

    def step(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float, busy: Collection[str] = ()) -> None:
        """`busy`: nodes another job (scale-down) is draining; they are not started here."""
        if self.config.node_ttl is None and not self.cycles and not cycling_nodes(view.nodes):
            return
        nodes = {n.name: n for n in view.nodes}
        for name in [n for n in self.cycles if n not in nodes]:
            del self.cycles[name]
            self.cycled.append(name)
            self.note("ttl", f"node {name} cycled out")
        for name in cycling_nodes(view.nodes):
            self.cycles.setdefault(name, Cycle(now, draining=self.is_draining(name)))
        active = [name for name, cycle in self.cycles.items() if not cycle.held]
        held = [name for name, cycle in self.cycles.items() if cycle.held]
        decision = decide_ttl(view.nodes, self.config, now, active, set(busy) | set(held))
        for name, why in decision.waiting.items():
            self.report(_node_ref(nodes[name]), "NodeExpiryWaiting", "Normal", f"node expired; waiting: {why}")
        for expired in decision.start:
            self._start(nodes[expired.node], expired.reason, now)
        for name, cycle in self.cycles.items():
            if cycle.draining and not self.is_draining(name):
                cycle.draining = False  # the drain gave up (a PDB, a timeout): plan it again
            if not cycle.draining and name in nodes:
                self._advance(nodes[name], cycle, bound.get(name, []))
        self.metrics.ttl_cycling.set(sum(1 for cycle in self.cycles.values() if not cycle.held))

    def _start(self, node, reason: str, now: float) -> None:
        if self.dry_run:
            self.note("dry-run", f"ttl: would cycle node {node.name}: {reason}")
            return
        try:
            self.cluster.patch_node(node.name, add_taints=(EXPIRED_TAINT,))
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("patch_node").inc()
            log.error("tainting expired node %s failed: %s", node.name, err)
            return
        self.cycles[node.name] = Cycle(now)
        self.report(_node_ref(node), "NodeExpired", "Normal", f"{reason}: tainted {EXPIRED_TAINT.key}:NoSchedule, replacing it")
        self.note("ttl", f"node {node.name} expired: {reason}")

    def _advance(self, node, cycle: Cycle, pods: list[Pod]) -> None:
        moving = pods_to_move(pods)
        placement, on_the_way = self.plan_without(node.name, moving) if moving else (Plan(), ())
        step = replacement_step(pods, placement, set(on_the_way))
        cycle.held = step.kind == HOLD
        ref = _node_ref(node)
        if step.kind == LAUNCH:
            launched = sum(1 for new in step.new_nodes if self.launch(new))
            self.report(ref, "NodeExpiryReplacing", "Normal", f"node expired; {step.reason} ({launched} started)")
            self.note("ttl", f"node {node.name}: {step.reason}")
        elif step.kind == DRAIN:
            if self.request_drain(node.name, f"node expired (nodeTTL): {step.reason}"):
                cycle.draining = True
                self.report(ref, "NodeExpiryDraining", "Normal", f"node expired; draining: {step.reason}")
        else:
            self.report(ref, "NodeExpiryWaiting", "Normal", f"node expired; {step.reason}")


def _node_ref(node) -> ObjectRef:
    return ObjectRef("Node", "", node.name, node.uid)
