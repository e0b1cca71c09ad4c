"""The loop's gauges (SPEC §8): managed nodes by role, their $/h, launches in flight, back-offs."""

from __future__ import annotations

from typing import Iterable

from autoscaler.cluster import ClusterView
from autoscaler.loop.backoff import BackoffTracker
from autoscaler.metrics import Metrics
from autoscaler.nodelabels import CAPACITY_TYPE, ROLE, catalog_type_name
from autoscaler.snapshot import InFlightNode, PriceIndex, is_managed_node
from providers.base import FailureKind

_KINDS = (
    FailureKind.INSUFFICIENT_CAPACITY,
    FailureKind.QUOTA_EXCEEDED,
    FailureKind.LAUNCH_TIMEOUT,
    FailureKind.THROTTLED,
    FailureKind.OTHER,
)


def record_gauges(
    metrics: Metrics,
    view: ClusterView,
    in_flight: Iterable[InFlightNode],
    prices: PriceIndex,
    backoff: BackoffTracker,
    now: float,
) -> None:
    by_role: dict[str, int] = {"bin-pack": 0, "bin-select": 0}
    cost = 0.0
    for node in view.nodes:
        if is_managed_node(node):
            role = node.labels.get(ROLE) or "unknown"
            by_role[role] = by_role.get(role, 0) + 1
            cost += prices.price(
                catalog_type_name(node.labels, node.allocatable.gpu), node.labels.get(CAPACITY_TYPE, "on-demand"), node.labels
            )
    flights = list(in_flight)
    for flight in flights:
        by_role[flight.role or "unknown"] = by_role.get(flight.role or "unknown", 0) + 1
        cost += flight.price
    for role, count in by_role.items():
        metrics.managed_nodes.labels(role).set(count)
    metrics.hourly_cost.set(round(cost, 6))
    metrics.in_flight.set(len(flights))
    active: dict[str, int] = {}
    for state in backoff.snapshot(now):
        active[state.kind] = active.get(state.kind, 0) + 1
    for kind in _KINDS:
        metrics.backoffs.labels(kind).set(active.get(kind, 0))
