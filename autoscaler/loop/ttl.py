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
from autoscaler.loop.replacement import NodeMessages, PlanWithout, plan_without_nodes
from autoscaler.planner.ttl import DRAIN, EXPIRED_TAINT, LAUNCH, cycling_nodes, decide_ttl, held_by, replacement_step
from autoscaler.planner.types import NewNode, Plan
from autoscaler.snapshot import pods_by_node

log = logging.getLogger("smart_autoscaler.loop.ttl")

DRAIN_KIND = "ttl"
DRAIN_RETRY = 60.0  # seconds before an expired node whose drain gave up is drained again
Launch = Callable[[NewNode, Mapping[str, Pod], float], bool]  # scale-up's launcher; True when submitted


class Drains(Protocol):
    def draining(self) -> set[str]: ...
    def request(
        self, node: KubeNode, reason: str, kind: str, now: float,
        recheck: Callable[[ClusterView, float], str] | None = None,
    ) -> bool: ...


@dataclass
class Cycle:
    started: float
    draining: bool = False
    held: bool = False
    retry_at: float = 0.0  # after a drain gave up, the next one waits a little
    called_off: bool = False  # the drain stopped before evicting: the pods' room was taken


class TtlCycling:
    """A loop component: `run(context)` every loop."""

    def __init__(
        self, cluster: Cluster, config: Config, metrics: Metrics, reporter: Reporter, drains: Drains,
        plan_without: PlanWithout, launch: Launch, dry_run: bool = False,
        also_moving: Callable[[], list[Pod]] = list,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.metrics = metrics
        self.reporter = reporter
        self.drains = drains
        self.plan_without = plan_without
        self.launch = launch
        self.dry_run = dry_run
        self.also_moving = also_moving  # pods evicted earlier in this loop (hot-node): they need room too
        self.cycles: dict[str, Cycle] = {}
        self.cycled: list[str] = []  # expired nodes removed, in order
        self._messages = NodeMessages(reporter, "ttl")  # no repeats each loop

    def run(self, context: Context) -> None:
        view, now = context.view, context.now
        if self.config.node_ttl is None and not self.cycles and not cycling_nodes(view.nodes):
            return
        nodes = {n.name: n for n in view.nodes}
        for name in [n for n in self.cycles if n not in nodes]:
            del self.cycles[name]
            self._messages.forget(name)
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
                # The drain gave up (a PDB said no, a timeout): plan again after a pause; or it
                # was called off before evicting (room taken meanwhile): plan again now.
                cycle.draining = False
                cycle.retry_at = now if cycle.called_off else now + DRAIN_RETRY
                cycle.called_off = False
        self._advance(view, context.bound, now)
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

    def _advance(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float) -> None:
        """Plan the pods of every expired node not yet draining together (with the pods of nodes
        being drained and those pending now: all of them need room), against the cluster
        without those nodes; launch what the plan needs, drain the nodes whose pods fit."""
        nodes = {n.name: n for n in view.nodes}
        draining = self.drains.draining()
        for name, cycle in self.cycles.items():
            if name in draining:
                cycle.draining = True  # scale-down may have taken it first: one drain is enough
        # Held nodes do not count against nodeTTLMaxParallel; one that is let go (its
        # do-not-evict pod ended) waits for a free slot like a newly expired node.
        budget = self.config.node_ttl_max_parallel - sum(1 for c in self.cycles.values() if c.draining)
        moving: dict[str, list[Pod]] = {}
        waiting = sorted(
            (name for name, c in self.cycles.items() if not c.draining and name in nodes),
            key=lambda n: (self.cycles[n].held, self.cycles[n].started, n),
        )
        for name in waiting:
            cycle, pods = self.cycles[name], bound.get(name, [])
            held = held_by(pods)
            if held is not None:
                cycle.held = True
                self._say(nodes[name], "NodeExpiryWaiting", f"node expired; {held.reason}")
            elif budget <= 0:
                cycle.held = True
                limit = self.config.node_ttl_max_parallel
                self._say(nodes[name], "NodeExpiryWaiting", f"node expired; waiting: nodeTTLMaxParallel={limit} nodes are cycling")
            else:
                cycle.held = False
                budget -= 1
                moving[name] = pods
        if not moving:
            return
        placement, on_the_way, demand = self._placement(view, bound, set(moving) | draining, now)
        steps = {name: replacement_step(pods, placement, set(on_the_way)) for name, pods in moving.items()}
        launches = {id(new): new for step in steps.values() if step.kind == LAUNCH for new in step.new_nodes}
        if launches:  # once per node to launch, whichever expired nodes share it
            by_key = {pod.key: pod for pod in demand}
            started = sum(1 for new in launches.values() if self.launch(new, by_key, now))
            self.reporter.note("ttl", f"launching {len(launches)} replacement node(s) for expired nodes ({started} submitted)")
        for name, step in steps.items():
            node = nodes[name]
            if step.kind != DRAIN:
                self._say(node, "NodeExpiryReplacing" if step.kind == LAUNCH else "NodeExpiryWaiting", f"node expired; {step.reason}")
            elif now < self.cycles[name].retry_at:
                continue
            elif self.dry_run:
                self.reporter.note("dry-run", f"ttl: would drain expired node {name}: {step.reason}")
            elif self.drains.request(node, f"node expired (nodeTTL): {step.reason}", DRAIN_KIND, now, self._recheck(name)):
                self.cycles[name].draining = True
                self._say(node, "NodeExpiryDraining", f"node expired; draining: {step.reason}")

    def _placement(
        self, view: ClusterView, bound: Mapping[str, list[Pod]], gone: set[str], now: float
    ) -> tuple[Plan, Collection[str], list[Pod]]:
        """The pods of the `gone` nodes, those pending now and those hot-node mitigation just
        evicted, planned together against the cluster without the `gone` nodes. Expired nodes
        waiting their turn are no room either (their taint says so, but the planner's reuse of
        idle bin-select nodes does not look at taints)."""
        room_gone = gone | set(cycling_nodes(view.nodes)) | set(self.cycles)
        return plan_without_nodes(view, bound, gone, room_gone, self.config, self.plan_without, now, self.also_moving())

    def _recheck(self, name: str) -> Callable[[ClusterView, float], str]:
        """For the drain machine, right before it evicts: do the pods still have their room?"""

        def recheck(view: ClusterView, now: float) -> str:
            bound = pods_by_node(view.pods)
            placement, on_the_way, _ = self._placement(view, bound, {name} | self.drains.draining(), now)
            step = replacement_step(bound.get(name, []), placement, set(on_the_way))
            if step.kind == DRAIN:
                return ""
            if name in self.cycles:
                self.cycles[name].called_off = True
            return step.reason

        return recheck

    def _say(self, node: KubeNode, reason: str, message: str) -> None:
        self._messages.say(node, reason, message)
