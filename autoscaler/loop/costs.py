"""Cost-estimate events for pods gated with `nodecostestimate` (SPEC §6), once per pod.

A pod gets a `NodeCostEstimate` event when it has none; whether it has one is asked of the
API (so a restarted or new leader makes no duplicate), at most once an hour per pod, since
events expire after about an hour. The estimate itself is autoscaler.estimates (pure).
"""

from __future__ import annotations

import logging
from typing import Sequence

from autoscaler.cluster import ClusterError, ClusterView
from autoscaler.config import Config
from autoscaler.estimates import REASON as COST_ESTIMATE, estimate_messages
from autoscaler.loop.events import EventReporter, pod_ref
from autoscaler.model import Pod
from autoscaler.planner.backoffs import Backoffs
from autoscaler.planner.needs import wants_cost_estimate
from autoscaler.snapshot import daemonset_overheads
from pricing.types import RegionCatalog

log = logging.getLogger("smart_autoscaler.loop.costs")

ESTIMATE_RECHECK = 3600.0  # events expire after about an hour: look again after that


class CostEstimates:
    def __init__(self, catalog: RegionCatalog, config: Config, reporter: EventReporter) -> None:
        self.catalog = catalog
        self.config = config
        self.reporter = reporter
        self.estimated: dict[str, float] = {}  # pod uid -> when its event was made or seen

    def run(self, view: ClusterView, backoffs: Backoffs, now: float) -> None:
        gated = [pod for pod in view.pods if pod.scheduling_gates and wants_cost_estimate(pod, self.config)]
        live = {pod.uid or pod.key for pod in gated}
        for uid in [u for u in self.estimated if u not in live]:
            del self.estimated[uid]
        due = self._due(gated, now)
        if not due:
            return
        # The set of a due pod includes its gated siblings that already have an estimate.
        owners = {pod.owner for pod in due if pod.owner}
        due_keys = {pod.key for pod in due}
        members = [pod for pod in gated if pod.key in due_keys or (pod.owner and pod.owner in owners)]
        messages = estimate_messages(members, self.catalog, self.config, backoffs, daemonset_overheads(view.daemonsets))
        for pod in due:
            message = messages.get(pod.key)
            if message is None:
                continue
            self.reporter.send(pod_ref(pod), "Normal", COST_ESTIMATE, message)
            self.estimated[pod.uid or pod.key] = now
            self.reporter.note("estimate", f"{pod.key}: {message}")

    def _due(self, gated: Sequence[Pod], now: float) -> list[Pod]:
        due = []
        for pod in gated:
            seen = self.estimated.get(pod.uid or pod.key)
            if seen is not None and now - seen < ESTIMATE_RECHECK:
                continue
            try:
                exists = self.reporter.cluster.has_event(pod_ref(pod), COST_ESTIMATE)
            except ClusterError as err:
                self.reporter.metrics.kube_api_errors.labels("list_events").inc()
                log.error("looking up cost-estimate events of %s failed: %s", pod.key, err)
                continue
            if exists:
                self.estimated[pod.uid or pod.key] = now
            else:
                due.append(pod)
        return due
