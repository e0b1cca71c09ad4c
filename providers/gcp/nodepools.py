"""The GKE side: find, create and delete the node pools the autoscaler makes.

Creating a pool is a cluster operation (a minute or two on GKE); it is waited on with
operations.get. Two launches that need the same new pool wait for one creation. A pool
that has stayed empty past `gcp.poolIdleTime` is deleted (without waiting: GKE takes
minutes and nothing depends on it).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from autoscaler.config import GcpConfig
from providers.gcp.calls import CallFailed, call
from providers.gcp.clients import GcpClients
from providers.gcp.errors import GceError
from providers.gcp.pools import PoolInfo, PoolSpec, node_pool_body, pool_info

log = logging.getLogger(__name__)


class PoolCreateFailed(Exception):
    """GKE could not make the pool: its operation's message."""


class NodePools:
    def __init__(self, clients: GcpClients, config: GcpConfig, location: str, cluster: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clients = clients
        self.config = config
        self.cluster_path = f"projects/{clients.project}/locations/{location}/clusters/{cluster}"
        self.location_path = f"projects/{clients.project}/locations/{location}"
        self.sleep = sleep
        self._known: dict[str, PoolInfo] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._empty_since: dict[str, float] = {}
        self._used_at: dict[str, float] = {}
        self._cluster_zones: tuple[str, ...] | None = None

    def cluster_zones(self) -> tuple[str, ...]:
        """The zones the cluster's nodes may be in (a pool's location must be one of them)."""
        with self._guard:
            cached = self._cluster_zones
        if cached is None:
            cluster = call("clusters.get", self.clients.gke.get_cluster, name=self.cluster_path, timeout=self.config.call_timeout)
            cached = tuple(cluster.locations)
            with self._guard:
                self._cluster_zones = cached
        return cached

    def listed(self) -> list[PoolInfo]:
        """Every pool the autoscaler made in this cluster (one GKE call)."""
        answer = call("nodePools.list", self.clients.gke.list_node_pools, parent=self.cluster_path, timeout=self.config.call_timeout)
        pools = [info for info in (pool_info(pool) for pool in answer.node_pools) if info is not None]
        with self._guard:
            self._known = {info.name: info for info in pools}
        return pools

    def known(self) -> list[PoolInfo]:
        """The pools as the last `listed()` saw them (no call)."""
        with self._guard:
            return list(self._known.values())

    def get(self, name: str) -> PoolInfo | None:
        with self._guard:
            known = self._known.get(name)
        if known is not None:
            return known
        try:
            pool = call("nodePools.get", self.clients.gke.get_node_pool, name=f"{self.cluster_path}/nodePools/{name}", timeout=self.config.call_timeout)
        except CallFailed as failed:
            if failed.not_found:
                return None
            raise
        info = pool_info(pool)
        if info is not None:
            with self._guard:
                self._known[name] = info
        return info

    def ensure(self, spec: PoolSpec, deadline: float) -> PoolInfo:
        """The pool for this offering, created now if it does not exist."""
        name = spec.name
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
            self._used_at[name] = time.monotonic()
        with lock:
            info = self.get(name)
            if info is not None and info.status not in ("PROVISIONING", "RECONCILING", "STOPPING") and info.instance_group_urls:
                return info
            if info is None:
                self._create(spec, deadline)
            return self._wait_ready(name, deadline)

    def _create(self, spec: PoolSpec, deadline: float) -> None:
        container = self.clients.container
        request = container.CreateNodePoolRequest(parent=self.cluster_path, node_pool=container.NodePool(node_pool_body(spec, self.config)))
        try:
            operation = call("nodePools.create", self.clients.gke.create_node_pool, request=request, timeout=self.config.call_timeout)
        except CallFailed as failed:
            if failed.already_exists:
                return  # made by a previous attempt (or term)
            raise
        log.info("creating GKE node pool %s (%s in %s)", spec.name, spec.machine_type, spec.zone)
        self._wait_operation(operation.name, deadline)

    def _wait_operation(self, name: str, deadline: float) -> None:
        done = self.clients.container.Operation.Status.DONE
        while True:
            operation = call("operations.get", self.clients.gke.get_operation, name=f"{self.location_path}/operations/{name}", timeout=self.config.call_timeout)
            if operation.status == done:
                message = operation.error.message if operation.error and operation.error.message else ""
                if message:
                    raise PoolCreateFailed(message)
                return
            if time.monotonic() >= deadline:
                raise CallFailed(f"node pool operation {name}", 0, [GceError("rateLimitExceeded", "GKE is still creating the node pool: asked again later")])
            self.sleep(self.config.poll_interval)

    def _wait_ready(self, name: str, deadline: float) -> PoolInfo:
        while True:
            with self._guard:
                self._known.pop(name, None)
            info = self.get(name)
            if info is None:
                raise PoolCreateFailed(f"node pool {name} is gone")
            if info.status == "ERROR":
                raise PoolCreateFailed(f"node pool {name} is in state ERROR")
            if info.status == "RUNNING" and info.instance_group_urls:
                return info
            if time.monotonic() >= deadline:
                raise CallFailed(f"node pool {name}", 0, [GceError("rateLimitExceeded", f"node pool still {info.status}: asked again later")])
            self.sleep(self.config.poll_interval)

    def note_emptiness(self, info: PoolInfo, empty: bool, now: float) -> None:
        """Delete a pool that stayed empty (and unused) past gcp.poolIdleTime."""
        if not empty or info.status != "RUNNING":
            self._empty_since.pop(info.name, None)
            return
        since = self._empty_since.setdefault(info.name, now)
        with self._guard:
            used = self._used_at.get(info.name, float("-inf"))
            lock = self._locks.setdefault(info.name, threading.Lock())
        if now - since < self.config.pool_idle_time or time.monotonic() - used < self.config.pool_idle_time:
            return
        if not lock.acquire(blocking=False):
            return  # a launch is using it right now
        try:
            call("nodePools.delete", self.clients.gke.delete_node_pool, name=f"{self.cluster_path}/nodePools/{info.name}", timeout=self.config.call_timeout)
            log.info("deleting GKE node pool %s: empty for %.0fs", info.name, now - since)
            self._empty_since.pop(info.name, None)
            with self._guard:
                self._known.pop(info.name, None)
        except CallFailed as failed:
            log.warning("deleting idle node pool %s failed (will retry): %s", info.name, failed)
        finally:
            lock.release()
