"""Agent pools the autoscaler made and no longer needs: deleted when empty for azure.poolIdleTime.

Deletions run on one background thread (the reaper), off the loop, under the pool's lock
from the scaler (scaler.py), so that a pool is never deleted under a launch: a pool with
work queued or running, a machine, or a count above 0 stays.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from autoscaler.config import Config
from providers.azure.api import AzureApi
from providers.azure.pools import pool_count
from providers.azure.scaler import PoolScaler

log = logging.getLogger("smart_autoscaler.providers.azure")


class PoolKeeper:
    def __init__(self, api: AzureApi, config: Config, clock: Any, scaler: PoolScaler) -> None:
        self.api = api
        self.config = config
        self.clock = clock
        self.scaler = scaler
        self._guard = threading.Lock()
        self._last_busy: dict[str, float] = {}  # pool -> last time it had a node or a launch
        self._reaping: set[str] = set()
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azure-pool-reaper")

    def busy(self, pool: str) -> None:
        self._last_busy[pool] = self.clock.now()

    def seen(self, pool: str, nodes: int, now: float) -> None:
        """What a listing found; a pool empty for azure.poolIdleTime is deleted (off the loop)."""
        if nodes:
            self._last_busy[pool] = now
            return
        idle_since = self._last_busy.setdefault(pool, now)
        if now - idle_since >= self.config.azure.pool_idle_time:
            self.delete_later(pool)

    def delete_later(self, pool: str) -> None:
        with self._guard:
            if pool in self._reaping:
                return
            self._reaping.add(pool)
        self._reaper.submit(self._delete, pool)

    def _delete(self, pool: str) -> None:
        idle_time = self.config.azure.pool_idle_time
        try:
            with self.scaler.lock(pool):
                if not self.scaler.idle(pool) or self.clock.now() - self._last_busy.get(pool, 0.0) < idle_time:
                    return  # a launch came in meanwhile
                found = self.api.get_pool(pool)
                if found is None or pool_count(found) or self.api.list_machines(pool):
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
