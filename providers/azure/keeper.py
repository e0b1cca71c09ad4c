"""The agent pools the autoscaler makes: created on first need, deleted when idle or failed.

One lock per pool (and per scale set) serialises what touches it: two launches of one
offering never read the same capacity, and an idle pool is never deleted under a launch.
Deletions run on one background thread (the reaper), off the loop.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from autoscaler.config import Config
from providers.azure import names
from providers.azure.api import AzureApi
from providers.azure.names import Offering
from providers.azure.pools import pool_body
from providers.base import LaunchRequest, ProviderError

log = logging.getLogger("smart_autoscaler.providers.azure")


class PoolKeeper:
    def __init__(self, api: AzureApi, config: Config, clock: Any) -> None:
        self.api = api
        self.config = config
        self.clock = clock
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._last_busy: dict[str, float] = {}  # pool -> last time it had a node or a launch
        self._reaping: set[str] = set()
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azure-pool-reaper")

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def busy(self, pool: str) -> None:
        self._last_busy[pool] = self.clock.now()

    def ensure(self, pool: str, offering: Offering, request: LaunchRequest) -> None:
        """The offering's pool exists (made now if needed); call under `lock(pool)`."""
        found = self.api.get_pool(pool)
        state = str(((found or {}).get("properties") or {}).get("provisioningState", "")).lower()
        if found is not None and state not in ("deleting", "failed"):
            return
        if found is not None:
            if state == "failed":  # a creation that failed earlier: remove it, the next launch makes it anew
                self.delete_later(pool)
            raise ProviderError(f"agent pool {pool} is {state}; launching again when it is gone", f"Pool{state.title()}")
        body = pool_body(
            offering, request.instance_type, self.config.region, request.labels, request.taints,
            self.config.cluster_name, self.config.azure,
        )
        log.info("creating agent pool %s for %s %s in %s", pool, offering.vm_size, offering.capacity_type, offering.zone or self.config.region)
        try:
            self.api.create_pool(pool, body)
        except Exception:
            self.delete_later(pool)  # nothing left behind: a half-made pool goes too
            raise

    def scale_set_of(self, pool: str) -> str:
        for vmss in self.api.list_scale_sets():
            if (vmss.get("tags") or {}).get(names.AKS_POOL_TAG) == pool:
                return vmss["name"]
        raise ProviderError(f"agent pool {pool} has no scale set in {self.api.node_resource_group()} yet", "ScaleSetMissing")

    def seen(self, pool: str, nodes: int, now: float) -> None:
        """What a listing found; a pool empty for azure.poolIdleTime is deleted (off the loop)."""
        if nodes:
            self._last_busy[pool] = now
            return
        idle_since = self._last_busy.setdefault(pool, now)
        if now - idle_since >= self.config.azure.pool_idle_time:
            self.delete_later(pool, only_if_idle=True)

    def delete_later(self, pool: str, only_if_idle: bool = False) -> None:
        with self._guard:
            if pool in self._reaping:
                return
            self._reaping.add(pool)
        self._reaper.submit(self._delete, pool, only_if_idle)

    def _delete(self, pool: str, only_if_idle: bool) -> None:
        idle_time = self.config.azure.pool_idle_time
        try:
            with self.lock(pool):
                if only_if_idle:
                    if self.clock.now() - self._last_busy.get(pool, 0.0) < idle_time:
                        return  # a launch came in meanwhile
                    if self.api.list_vms(self.scale_set_of(pool)):
                        return
                    log.info("deleting agent pool %s: empty for azure.poolIdleTime=%gs", pool, idle_time)
                self.api.delete_pool(pool)
                self._last_busy.pop(pool, None)
        except Exception as err:
            log.error("deleting agent pool %s failed (will retry): %s", pool, err)
        finally:
            with self._guard:
                self._reaping.discard(pool)

    def flush(self) -> None:
        """Wait for the deletions asked so far (tests, shutdown)."""
        self._reaper.submit(lambda: None).result()

    def close(self) -> None:
        self._reaper.shutdown(wait=False)
