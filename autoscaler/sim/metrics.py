"""SimulatedMetricsServer: a named simulator of metrics-server over the InMemoryCluster.

Like metrics-server it scrapes every `resolution` seconds and serves the last scrape:
NodeMetrics (the sum of the usage of the pods bound to the node) and PodMetrics (only for
pods that were running at the scrape), each stamped with the scrape time and window. Usage
is set per pod, or per workload (owner, so that replacements inherit it), from tests and
scenarios; pods without a setting use `default_share` of their requests. `available=False`
plays a metrics API that does not answer (APIService unavailable).
"""

from __future__ import annotations

from autoscaler.clock import Clock
from autoscaler.sim.cluster import InMemoryCluster
from autoscaler.usage import UsageReport, UsageSample


class SimulatedMetricsServer:
    def __init__(self, cluster: InMemoryCluster, clock: Clock, resolution: float = 15.0, default_share: float = 0.0) -> None:
        self.cluster = cluster
        self.clock = clock
        self.resolution = resolution
        self.default_share = default_share
        self.available = True
        self._by_pod: dict[str, tuple[int, int]] = {}
        self._by_owner: dict[str, tuple[int, int]] = {}
        self._scraped_at: float | None = None
        self._last = UsageReport()

    def set_usage(self, pod_or_owner: str, cpu_millis: int, memory_bytes: int) -> None:
        """Usage of one pod ("namespace/name") or of every pod of a workload ("Kind/namespace/name")."""
        target = self._by_owner if pod_or_owner.count("/") == 2 else self._by_pod
        target[pod_or_owner] = (cpu_millis, memory_bytes)

    def _pod_usage(self, key: str) -> tuple[int, int]:
        pod = self.cluster.pods[key]
        if key in self._by_pod:
            return self._by_pod[key]
        if pod.owner in self._by_owner:
            return self._by_owner[pod.owner]
        return int(pod.requests.cpu * self.default_share), int(pod.requests.memory * self.default_share)

    def scrape(self) -> None:
        now = self.clock.now()
        pods, nodes = {}, {}
        totals: dict[str, list[int]] = {name: [0, 0] for name in self.cluster.nodes}
        for key, pod in self.cluster.pods.items():
            if not pod.node_name or pod.phase != "Running" or pod.node_name not in totals:
                continue
            cpu, memory = self._pod_usage(key)
            pods[key] = UsageSample(cpu, memory, now, self.resolution)
            totals[pod.node_name][0] += cpu
            totals[pod.node_name][1] += memory
        for name, (cpu, memory) in totals.items():
            if self.cluster.nodes[name].ready:
                nodes[name] = UsageSample(cpu, memory, now, self.resolution)
        self._last = UsageReport(nodes, pods, now)
        self._scraped_at = now

    def usage(self) -> UsageReport:
        now = self.clock.now()
        if not self.available:
            return UsageReport(read_at=now, error='list nodes.metrics.k8s.io: 503 Service Unavailable: the server is currently unable to handle the request')
        if self._scraped_at is None or now - self._scraped_at >= self.resolution:
            self.scrape()
        return UsageReport(self._last.nodes, self._last.pods, now)
