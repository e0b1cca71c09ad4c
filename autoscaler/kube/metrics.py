"""`MetricsApi`: NodeMetrics and PodMetrics from `metrics.k8s.io/v1beta1` (metrics-server),
read with the official client's CustomObjectsApi, into a `UsageReport` (autoscaler/usage.py).

Every sample keeps its `timestamp` and `window`, so callers judge staleness themselves.
Failures never raise: a 404 / 503 (no metrics-server, or its APIService not available) or a
refused connection becomes `UsageReport.error`, and items that cannot be read are left out
with a log line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping

from kubernetes.client import ApiClient, CustomObjectsApi

from autoscaler.clock import Clock, SystemClock
from autoscaler.kube.api import ApiCallError, call_json
from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.usage import UsageReport, UsageSample

log = logging.getLogger(__name__)

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
REQUEST_TIMEOUT = (5.0, 20.0)  # connect, read (seconds)


def _time(value: Any) -> float:
    """An RFC 3339 metav1.Time ('2026-11-29T16:40:05Z') as epoch seconds."""
    if not isinstance(value, str) or not value:
        raise ValueError("no timestamp")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _window(value: Any) -> float:
    """A metav1.Duration as Go prints it ('15s', '1m0.5s', '20.015s')."""
    text = str(value or "0s")
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in units or not number:
            raise ValueError(f"window {text!r}")
        total += float(number) * units[unit]
        number = ""
        index += len(unit)
    return total


def _sample(usage: Mapping[str, Any], item: Mapping[str, Any]) -> UsageSample:
    return UsageSample(
        cpu_millis=parse_cpu_millis(usage.get("cpu", "0")),
        memory_bytes=parse_count(usage.get("memory", "0")),
        timestamp=_time(item.get("timestamp")),
        window=_window(item.get("window")),
    )


def node_samples(body: Mapping[str, Any]) -> dict[str, UsageSample]:
    samples = {}
    for item in body.get("items") or ():
        name = (item.get("metadata") or {}).get("name", "")
        try:
            samples[name] = _sample(item.get("usage") or {}, item)
        except (QuantityError, ValueError, TypeError) as err:
            log.warning("NodeMetrics %s left out: %s", name, err)
    return samples


def pod_samples(body: Mapping[str, Any]) -> dict[str, UsageSample]:
    """PodMetrics with their containers summed, by namespace/name."""
    samples = {}
    for item in body.get("items") or ():
        meta = item.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        try:
            containers = [_sample(c.get("usage") or {}, item) for c in item.get("containers") or ()]
            stamp, window = _time(item.get("timestamp")), _window(item.get("window"))
        except (QuantityError, ValueError, TypeError) as err:
            log.warning("PodMetrics %s left out: %s", key, err)
            continue
        samples[key] = UsageSample(
            sum(c.cpu_millis for c in containers), sum(c.memory_bytes for c in containers), stamp, window
        )
    return samples


class MetricsApi:
    """The MetricsSource on a real API server."""

    def __init__(self, api_client: ApiClient, clock: Clock | None = None, group: str = GROUP) -> None:
        self._api = CustomObjectsApi(api_client)
        self._group = group
        self._clock = clock or SystemClock()

    def usage(self) -> UsageReport:
        now = self._clock.now()
        try:
            nodes = call_json(
                "list nodes.metrics.k8s.io", self._api.list_cluster_custom_object, self._group, VERSION, "nodes",
                _request_timeout=REQUEST_TIMEOUT,
            )
            pods = call_json(
                "list pods.metrics.k8s.io", self._api.list_cluster_custom_object, self._group, VERSION, "pods",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiCallError as err:
            hint = " (is metrics-server installed and its APIService Available?)" if err.status in (404, 503) else ""
            return UsageReport(read_at=now, error=f"{err}{hint}")
        return UsageReport(node_samples(nodes), pod_samples(pods), now)
