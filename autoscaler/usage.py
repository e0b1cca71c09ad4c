"""Resource usage as the metrics API (`metrics.k8s.io`, served by metrics-server) reports it.

Two sources fill a `UsageReport`: `autoscaler.kube.metrics.MetricsApi` (NodeMetrics and
PodMetrics through the official client) and `autoscaler.sim.metrics.SimulatedMetricsServer`
(a named simulator for `simulate` and the loop tests). Every sample keeps its timestamp and
window, so the hot-node planner can refuse to act on old data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol


@dataclass(frozen=True, slots=True)
class UsageSample:
    """One NodeMetrics, or one PodMetrics with its containers summed."""

    cpu_millis: int
    memory_bytes: int  # working set
    timestamp: float  # epoch seconds: the end of the window the usage was measured over
    window: float = 0.0  # seconds

    def age(self, now: float) -> float:
        return now - self.timestamp


@dataclass(frozen=True)
class UsageReport:
    """Usage of nodes (by name) and pods (by namespace/name) read at `read_at`.
    `error` says why the metrics could not be read at all (then both maps are empty)."""

    nodes: Mapping[str, UsageSample] = field(default_factory=dict)
    pods: Mapping[str, UsageSample] = field(default_factory=dict)
    read_at: float = 0.0
    error: str = ""


class MetricsSource(Protocol):
    def usage(self) -> UsageReport:
        """Current NodeMetrics and PodMetrics; never raises (errors go in `UsageReport.error`)."""
        ...


class _NoMetrics:
    """The source of a loop built without one: every read says so (hot-node mitigation then acts on nothing)."""

    def usage(self) -> UsageReport:
        return UsageReport(error="no metrics source: the loop was built without the metrics API")


NO_METRICS: MetricsSource = _NoMetrics()
