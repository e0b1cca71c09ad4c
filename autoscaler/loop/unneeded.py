"""Scale-down (SPEC §5): nodes unneeded long enough are handed to the drain state machine.

Which nodes are unneeded, and whether their pods would find room elsewhere, is decided by
autoscaler.scaledown (pure); this part keeps the "unneeded since" clock between loops and
starts the drains (or, in dry-run, says what it would remove).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from autoscaler.cluster import ClusterView
from autoscaler.config import Config
from autoscaler.loop.drain import Drainer
from autoscaler.loop.events import SCALE_DOWN_BLOCKED, EventReporter
from autoscaler.model import Pod
from autoscaler.scaledown import decide_scale_down, eviction_blocker, room_for_drain
from autoscaler.snapshot import pods_by_node

UNNEEDED = "unneeded"


class ScaleDown:
    def __init__(
        self, config: Config, drainer: Drainer, reporter: EventReporter, dry_run: bool = False,
        keep: Callable[[], set[str]] = set,
    ) -> None:
        self.config = config
        self.keep = keep  # nodes not to drain now whatever their use (launched for pods still on their way)
        self.drainer = drainer
        self.reporter = reporter
        self.dry_run = dry_run
        self.unneeded_since: dict[str, float] = {}

    def run(self, view: ClusterView, bound: Mapping[str, list[Pod]], now: float, awaited: Iterable[str] = ()) -> set[str]:
        """Start the drains that are due; returns the nodes tainted this loop. `awaited`: nodes
        the plan puts pending pods on, never removed while those pods wait."""
        nodes = {node.name: node for node in view.nodes}
        decision = decide_scale_down(
            view.nodes, bound, view.pdbs, self.config, now, self.unneeded_since, self.drainer.draining(), awaited
        )
        self.unneeded_since = decision.unneeded_since
        for pod in decision.unreadable:
            self.reporter.pod(
                pod, SCALE_DOWN_BLOCKED,
                f"node {pod.node_name} is unneeded but is kept: {eviction_blocker(pod, ())}",
            )
        started = set()
        kept = self.keep()
        for name in kept:
            self.unneeded_since.pop(name, None)  # unneeded for the whole duration once let go
        for candidate in decision.to_drain:
            if candidate.node in kept:
                continue
            node = nodes[candidate.node]
            if self.dry_run:
                self.reporter.note("dry-run", f"would drain and remove node {node.name}: {candidate.reason}")
                self.reporter.node(node, "DryRunScaleDown", f"would remove: {candidate.reason}", event_type="Normal")
                self.unneeded_since.pop(node.name, None)
            elif self.drainer.request(node, candidate.reason, UNNEEDED, now, self._recheck(node.name)):
                started.add(node.name)
        return started

    def _recheck(self, name: str):
        """Right before evicting: the pods still have room elsewhere (else called off, and the
        node must be unneeded for the whole duration again)."""

        def recheck(view: ClusterView, now: float) -> str:
            if room_for_drain(name, view.nodes, pods_by_node(view.pods), self.drainer.draining()):
                return ""
            return "its pods would no longer fit on the other nodes"

        return recheck

    def drains_ended(self, removed: Iterable[str], aborted: Iterable[str], now: float) -> None:
        for name in removed:
            self.unneeded_since.pop(name, None)
        for name in aborted:  # kept: it must be unneeded for the whole duration again
            self.unneeded_since[name] = now
