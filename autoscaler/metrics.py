"""Prometheus metrics (SPEC §8) and the /metrics + /healthz endpoint."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "smart_autoscaler"


class Metrics:
    """Every metric of the daemon, in a registry of its own (tests make as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.scale_ups = Counter(
            f"{PREFIX}_scale_ups", "Nodes launched, by mode, instance type and capacity type",
            ["mode", "instance_type", "capacity_type"], registry=r,
        )
        self.scale_downs = Counter(f"{PREFIX}_scale_downs", "Nodes removed, by reason", ["reason"], registry=r)
        self.launch_failures = Counter(
            f"{PREFIX}_launch_failures", "Launches the cloud refused or that timed out, by kind", ["kind"], registry=r
        )
        self.cloud_api_errors = Counter(
            f"{PREFIX}_cloud_api_errors", "Failed cloud API calls, by operation, kind and the cloud's error code",
            ["operation", "kind", "code"], registry=r,
        )
        self.launches_unused = Counter(
            f"{PREFIX}_launches_unused", "Nodes launched for pods that did not take them, by reason", ["reason"],
            registry=r,
        )
        self.kube_api_errors = Counter(
            f"{PREFIX}_kube_api_errors", "Failed Kubernetes API calls, by operation", ["operation"], registry=r
        )
        self.kube_api_request_errors = Counter(
            f"{PREFIX}_kube_api_request_errors",
            "Failed Kubernetes API requests (watch caches' lists and watches included), by verb, resource and code "
            "(HTTP status, unreachable or timeout)",
            ["verb", "resource", "code"], registry=r,
        )
        self.planning_errors = Counter(
            f"{PREFIX}_planning_errors", "Pod sets the planner failed on (left out and retried), by error", ["error"], registry=r
        )
        self.launch_latency = Histogram(
            f"{PREFIX}_launch_latency_seconds", "Time from launch to the Node registering",
            buckets=(15, 30, 60, 90, 120, 180, 300, 600, 900, 1800), registry=r,
        )
        self.backoffs = Gauge(f"{PREFIX}_backoffs_active", "Offerings in back-off now, by reason", ["reason"], registry=r)
        self.pending_pods = Gauge(f"{PREFIX}_pending_pods", "Managed pods that need capacity", registry=r)
        self.unplaceable_pods = Gauge(f"{PREFIX}_unplaceable_pods", "Pending pods no offering can take now", registry=r)
        self.managed_nodes = Gauge(f"{PREFIX}_managed_nodes", "Nodes created by the autoscaler, by role", ["role"], registry=r)
        self.in_flight = Gauge(f"{PREFIX}_in_flight_launches", "Instances launched that have no Node yet", registry=r)
        self.hourly_cost = Gauge(
            f"{PREFIX}_managed_nodes_hourly_cost_dollars", "Estimated $/h of the nodes the autoscaler created", registry=r
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds", "Time one reconcile loop takes",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r,
        )
        self.reconcile_errors = Counter(f"{PREFIX}_reconcile_errors", "Reconcile loops that failed", registry=r)
        self.is_leader = Gauge(f"{PREFIX}_leader", "1 while this replica leads", registry=r)
        self.api_reachable = Gauge(
            f"{PREFIX}_api_reachable", "1 while the API answers (0 once it has failed for more than 2 loops), by api "
            "(kubernetes, cloud)", ["api"], registry=r,
        )
        self.price_age = Gauge(
            f"{PREFIX}_price_age_seconds",
            "Age of the live prices in use, by source (-1: not fetched yet, the embedded catalog answers)",
            ["source"], registry=r,
        )
        # Hot-node mitigation and node TTL cycling (SPEC §5).
        self.hot_nodes = Gauge(
            f"{PREFIX}_hot_node_colour_nodes", "Bin-pack nodes judged by hot-node mitigation, by colour", ["colour"], registry=r
        )
        self.evictions = Counter(f"{PREFIX}_evictions", "Pods evicted, by reason", ["reason"], registry=r)
        self.eviction_attempts = Counter(
            f"{PREFIX}_eviction_attempts", "Eviction requests sent, by reason and outcome (evicted, blocked, gone, error)",
            ["reason", "outcome"], registry=r,
        )
        self.ttl_cycling = Gauge(f"{PREFIX}_ttl_cycling_nodes", "Nodes past nodeTTL being replaced now", registry=r)
        # Spot interruptions (autoscaler/loop/interruptions.py).
        self.interruption_notices = Counter(
            f"{PREFIX}_interruption_notices", "Interruption notices read, by cloud and kind (malformed: dropped)",
            ["cloud", "kind"], registry=r,
        )
        self.interruption_replacement = Histogram(
            f"{PREFIX}_interruption_replacement_seconds",
            "Time from an interruption notice to room for every pod of the node on Ready nodes",
            buckets=(15, 30, 60, 90, 120, 180, 300, 600), registry=r,
        )
        self.interruption_pods_waited = Counter(
            f"{PREFIX}_interruption_pods_waited",
            "Pods evicted from an interrupted node before their replacement was Ready", registry=r,
        )
        self.interrupted_nodes = Gauge(f"{PREFIX}_interrupted_nodes", "Nodes the cloud is taking back, being replaced", registry=r)

    def cloud_error(self, operation: str, error: object) -> None:
        """Count a failed cloud call: its kind (ours) and the cloud's own error code, if it gave one."""
        kind = str(getattr(error, "kind", "") or "other")
        self.cloud_api_errors.labels(operation, kind, str(getattr(error, "code", "") or kind)).inc()

    def forget_leader_state(self) -> None:
        """A replica that stops leading drops the gauges it set while leading: only the leader's
        figures mean anything."""
        for gauge in (self.backoffs, self.managed_nodes, self.hot_nodes):
            gauge.clear()
        for gauge in (
            self.pending_pods, self.unplaceable_pods, self.in_flight, self.hourly_cost, self.ttl_cycling,
            self.interrupted_nodes,
        ):
            gauge.set(0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def serve(
    metrics: Metrics, address: str, port: int, healthy: Callable[[], bool],
    ready: Callable[[], tuple[bool, str]] | None = None,
) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz (liveness: `healthy`) and /readyz (readiness: `ready`, which says
    why not; without it, /readyz answers as /healthz) on a background thread; returns the
    server (shutdown() stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.startswith("/metrics"):
                body, status, kind = metrics.exposition(), 200, CONTENT_TYPE_LATEST
            elif self.path.startswith("/readyz") and ready is not None:
                ok, why = ready()
                body, status, kind = (b"ok\n" if ok else f"not ready: {why}\n".encode()), (200 if ok else 503), "text/plain"
            elif self.path.startswith("/healthz") or self.path.startswith("/readyz"):
                ok = healthy()
                body, status, kind = (b"ok\n" if ok else b"unhealthy\n"), (200 if ok else 503), "text/plain"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # silence per-request logs
            return

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
