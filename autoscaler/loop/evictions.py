"""Evictions through the Eviction API, each pod once (issue 19, item 5).

An evicted pod is not gone at once: it terminates within its grace period (30 s by default,
longer for some workloads), and a drain waiting for it sees it every loop meanwhile. Asking
again each loop only adds load on the API server and inflates the counts, so a pod evicted
(or refused) is asked again only after a back-off: `FIRST_RETRY` seconds, doubling up to
`LAST_RETRY` while it stays. A refusal (429, a PodDisruptionBudget) or an error is also
retried only after the back-off.

Metrics: `smart_autoscaler_evictions_total{reason}` counts pods evicted (once per pod),
`smart_autoscaler_eviction_attempts_total{reason,outcome}` every request sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from autoscaler.cluster import Cluster, ClusterError, EvictionOutcome
from autoscaler.metrics import Metrics
from autoscaler.model import Pod

log = logging.getLogger("smart_autoscaler.loop.evictions")

FIRST_RETRY = 30.0  # seconds
LAST_RETRY = 300.0
ERROR = "error"
WAITING = "waiting"  # not sent: the pod was asked recently


@dataclass
class _Asked:
    at: float
    delay: float
    evicted: bool


@dataclass
class Evictions:
    cluster: Cluster
    metrics: Metrics
    asked: dict[str, _Asked] = field(default_factory=dict)  # by pod uid (or key)

    def evict(self, pod: Pod, reason: str, now: float) -> str:
        """Ask the Eviction API to evict the pod unless it was asked within its back-off; returns
        an EvictionOutcome value, ERROR (a failed call, logged and counted) or WAITING."""
        key = pod.uid or pod.key
        asked = self.asked.get(key)
        if asked is not None and now - asked.at < asked.delay:
            return WAITING
        try:
            outcome = self.cluster.evict_pod(pod.namespace, pod.name)
        except ClusterError as err:
            self.metrics.kube_api_errors.labels("evict").inc()
            log.error("evicting %s from %s failed: %s", pod.key, pod.node_name, err)
            outcome = ERROR
        self.metrics.eviction_attempts.labels(reason, outcome).inc()
        delay = FIRST_RETRY if asked is None else min(LAST_RETRY, asked.delay * 2)
        evicted = outcome == EvictionOutcome.EVICTED
        if evicted and not (asked and asked.evicted):
            self.metrics.evictions.labels(reason).inc()
        self.asked[key] = _Asked(now, delay, evicted or bool(asked and asked.evicted))
        return outcome

    def forget(self, live: set[str]) -> None:
        """Drop what is known of pods that are gone (`live`: uids or keys of pods that exist)."""
        for key in [k for k in self.asked if k not in live]:
            del self.asked[key]
