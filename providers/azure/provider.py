"""The AKS provider: one node per launch through the scale set of an offering's agent pool.

launch: make the offering's pool on first need, then raise its scale set's capacity by one,
recording the launch key in a scale-set tag (`sa-launch-<request id>` = "<instance>|<role>")
so that a retry of the same launch attempt - after a crash, or from a new leader - finds the
instance it already got instead of adding another. terminate: delete_instances of exactly
that instance. list_instances: the instances of the pools made for this cluster; a pool left
empty for azure.poolIdleTime is deleted (off the loop, on the reaper's thread).

Calls for one scale set are serialised (a lock per pool): two launches of one offering never
read the same capacity. Calls for different pools run concurrently from the loop's threads.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Callable

from autoscaler.config import Config
from pricing.catalog import with_live_prices
from pricing.types import RegionCatalog
from providers.azure import names
from providers.azure.api import AzureApi, OperationTimeout
from providers.azure.errors import BackoffDurations, failure_from
from providers.azure.names import Offering
from providers.azure.pools import pool_body, pool_cluster, pool_offering
from providers.azure.prices import RetailPrices
from providers.base import (
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_REQUEST,
    TAG_ROLE,
    FailureScope,
    Instance,
    LaunchRequest,
    ProviderError,
)

log = logging.getLogger("smart_autoscaler.providers.azure")
MAX_LAUNCH_TAGS = 30
_STATES = {"creating": "pending", "updating": "pending", "succeeded": "running", "deleting": "terminating"}


class AzureProvider:
    name = "azure"

    def __init__(
        self, api: AzureApi, config: Config, clock: Any, subscription_id: str, family_sizes: Callable[[str], frozenset[str]]
    ) -> None:
        self.api = api
        self.config = config
        self.settings = config.azure
        self.clock = clock
        self.subscription_id = subscription_id
        self.family_sizes = family_sizes
        settings = config.azure
        self.durations = BackoffDurations(
            settings.allocation_failed_backoff,
            settings.sku_not_available_spot_backoff,
            settings.sku_not_available_on_demand_backoff,
            settings.quota_backoff,
        )
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._last_busy: dict[str, float] = {}  # pool -> last time it had a node or a launch
        self._reaping: set[str] = set()
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azure-pool-reaper")
        self.prices = RetailPrices(settings.retail_prices_url, config.region, settings.price_refresh_interval, settings.call_timeout)
        self._priced: tuple[int, int, RegionCatalog] | None = None  # (table, base) ids -> catalog

    # ---- the provider interface

    def launch(self, request: LaunchRequest) -> Instance:
        zone = request.zones[0] if request.zones else ""
        offering = Offering(request.instance_type.name, request.capacity_type, zone)
        pool = names.pool_name(offering)
        role = request.tags.get(TAG_ROLE, "")
        with self._lock(pool):
            self._last_busy[pool] = self.clock.now()
            try:
                self._ensure_pool(pool, offering, request)
                vmss = self._scale_set_of(pool)
                return self._add_node(vmss, offering, request.request_id, role)
            except ProviderError:
                raise
            except Exception as err:  # the SDK's errors, timeouts and connection failures
                raise self._failure(err, offering, f"launching {offering.vm_size} {offering.capacity_type} in pool {pool}") from None
            finally:
                self._last_busy[pool] = self.clock.now()

    def terminate(self, instance_id: str) -> None:
        vmss, number = names.parse_instance_id(instance_id)
        with self._lock(vmss):
            try:
                if self.api.get_vm(vmss, number) is None:
                    return  # already gone
                self.api.delete_instances(vmss, [number])
            except Exception as err:
                raise _other(err, f"deleting instance {instance_id}") from None

    def list_instances(self) -> list[Instance]:
        try:
            return self._list()
        except ProviderError:
            raise
        except Exception as err:
            raise _other(err, "listing the agent pools' instances") from None

    # ---- launch

    def _ensure_pool(self, pool: str, offering: Offering, request: LaunchRequest) -> None:
        found = self.api.get_pool(pool)
        state = str(((found or {}).get("properties") or {}).get("provisioningState", "")).lower()
        if found is not None and state not in ("deleting", "failed"):
            return
        if found is not None:
            if state == "failed":  # a creation that failed earlier: remove it, the next launch makes it anew
                self._delete_later(pool)
            raise ProviderError(f"agent pool {pool} is {state}; launching again when it is gone", f"Pool{state.title()}")
        body = pool_body(
            offering, request.instance_type, self.config.region, request.labels, request.taints, self.config.cluster_name, self.settings
        )
        log.info("creating agent pool %s for %s %s in %s", pool, offering.vm_size, offering.capacity_type, offering.zone or self.config.region)
        try:
            self.api.create_pool(pool, body)
        except Exception:
            self._delete_later(pool)  # nothing left behind: a half-made pool goes too
            raise

    def _delete_later(self, pool: str) -> None:
        if pool not in self._reaping:
            self._reaping.add(pool)
            self._reaper.submit(self._delete_pool, pool)

    def _delete_pool(self, pool: str) -> None:
        try:
            with self._lock(pool):
                self.api.delete_pool(pool)
        except Exception as err:
            log.error("deleting agent pool %s failed (will retry): %s", pool, err)
        finally:
            self._reaping.discard(pool)

    def _scale_set_of(self, pool: str) -> str:
        for vmss in self.api.list_scale_sets():
            if (vmss.get("tags") or {}).get(names.AKS_POOL_TAG) == pool:
                return vmss["name"]
        raise ProviderError(f"agent pool {pool} has no scale set in {self.api.node_resource_group()} yet", "ScaleSetMissing")

    def _add_node(self, vmss: str, offering: Offering, request_id: str, role: str) -> Instance:
        with self._lock(vmss):
            scale_set = self.api.get_scale_set(vmss)
            tags = dict(scale_set.get("tags") or {})
            vms = {vm["instanceId"]: vm for vm in self.api.list_vms(vmss)}
            key = names.launch_tag(request_id)
            replay = self._replayed(vmss, tags, vms, key, offering, request_id, role)
            if replay is not None:
                return replay
            tags = _live_launch_tags(tags, vms)
            tags[key] = names.launch_value(names.PENDING, role)
            capacity = int((scale_set.get("sku") or {}).get("capacity") or 0)
            try:
                self.api.update_scale_set(vmss, capacity + 1, tags)
            except Exception:
                self._clean_up_failed_scale_out(vmss, set(vms), key)
                raise
            after = {vm["instanceId"]: vm for vm in self.api.list_vms(vmss)}
            fresh = [n for n in after if n not in vms and n not in _claimed(tags)]
            if not fresh:
                raise ProviderError(f"{vmss} grew to {capacity + 1} but no new instance is listed", "NoNewInstance")
            number = max(fresh, key=int)
            tags[key] = names.launch_value(number, role)
            self.api.update_scale_set(vmss, None, tags)
            return self._instance(vmss, after[number], offering, request_id, role)

    def _replayed(
        self, vmss: str, tags: dict[str, str], vms: dict[str, dict], key: str, offering: Offering, request_id: str, role: str
    ) -> Instance | None:
        """The instance an earlier try of this launch attempt got, if any (idempotency)."""
        if key not in tags:
            return None
        number, recorded_role = names.parse_launch_value(tags[key])
        role = recorded_role or role
        if number == names.PENDING:  # the scale-out went through but the instance was not recorded
            unclaimed = [n for n in vms if n not in _claimed(tags)]
            if not unclaimed:
                return None
            number = max(unclaimed, key=int)
            tags[key] = names.launch_value(number, role)
            self.api.update_scale_set(vmss, None, tags)
        vm = vms.get(number)
        return self._instance(vmss, vm, offering, request_id, role) if vm is not None else None

    def _clean_up_failed_scale_out(self, vmss: str, before: set[str], key: str) -> None:
        """Nothing left behind: instances the failed scale-out made are deleted, its tag removed."""
        try:
            tags = dict(self.api.get_scale_set(vmss).get("tags") or {})
            leftovers = [n for n in (vm["instanceId"] for vm in self.api.list_vms(vmss)) if n not in before and n not in _claimed(tags)]
            if leftovers:
                self.api.delete_instances(vmss, leftovers)
            if key in tags:
                del tags[key]
                self.api.update_scale_set(vmss, None, tags)
        except Exception as err:  # the loop's timeout / orphan sweep catches what is left
            log.error("cleaning up after the failed scale-out of %s failed: %s", vmss, err)

    # ---- list

    def _list(self) -> list[Instance]:
        ours = {}
        for pool in self.api.list_pools():
            offering = pool_offering(pool)
            if offering is not None and pool_cluster(pool) == self.config.cluster_name:
                ours[pool["name"]] = offering
        if not ours:
            return []
        instances = []
        now = self.clock.now()
        for vmss in self.api.list_scale_sets():
            pool = (vmss.get("tags") or {}).get(names.AKS_POOL_TAG)
            if pool not in ours:
                continue
            launches = _launches(vmss.get("tags") or {})
            vms = self.api.list_vms(vmss["name"])
            for vm in vms:
                request_id, role = launches.get(vm["instanceId"], ("", ""))
                instances.append(self._instance(vmss["name"], vm, ours[pool], request_id, role))
            if vms:
                self._last_busy[pool] = now
            else:
                self._reap_when_idle(pool, now)
        return instances

    def _instance(self, vmss: str, vm: dict[str, Any], offering: Offering, request_id: str, role: str) -> Instance:
        number = vm["instanceId"]
        properties = vm.get("properties") or {}
        # A Failed instance never registers: the loop's scaleUpTimeout terminates it and backs off.
        state = _STATES.get(str(properties.get("provisioningState", "creating")).lower(), "pending")
        node_rg = self.api.node_resource_group()
        return Instance(
            instance_id=names.instance_id(vmss, number),
            provider_id=names.provider_id(self.subscription_id, node_rg, vmss, number),
            instance_type=offering.vm_size,
            capacity_type=offering.capacity_type,
            zone=offering.zone,
            state=state,
            launched_at=_timestamp(properties.get("timeCreated")) or self.clock.now(),
            request_id=request_id,
            tags={
                TAG_CLUSTER: self.config.cluster_name,
                TAG_REQUEST: request_id,
                TAG_ROLE: role,
                TAG_CAPACITY: offering.capacity_type,
            },
        )

    # ---- idle pools

    def _reap_when_idle(self, pool: str, now: float) -> None:
        idle_since = self._last_busy.setdefault(pool, now)
        if now - idle_since < self.settings.pool_idle_time or pool in self._reaping:
            return
        self._reaping.add(pool)
        self._reaper.submit(self._reap, pool)

    def _reap(self, pool: str) -> None:
        try:
            with self._lock(pool):
                if self.clock.now() - self._last_busy.get(pool, 0.0) < self.settings.pool_idle_time:
                    return  # a launch came in meanwhile
                vmss = self._scale_set_of(pool)
                if self.api.list_vms(vmss):
                    return
                log.info("deleting agent pool %s: empty for azure.poolIdleTime=%gs", pool, self.settings.pool_idle_time)
                self.api.delete_pool(pool)
                self._last_busy.pop(pool, None)
        except Exception as err:
            log.error("deleting idle agent pool %s failed (will retry): %s", pool, err)
        finally:
            self._reaping.discard(pool)

    def close(self) -> None:
        self._reaper.shutdown(wait=False)

    # ---- live prices (the optional provider methods the loop reads)

    def live_catalog(self, base: RegionCatalog) -> RegionCatalog:
        """`base` at the Retail Prices API's Linux prices where known; `base` itself until the
        first refresh (started here, off the loop) or while the API cannot be reached."""
        table = self.prices.current()
        if table is None:
            return base
        cached = self._priced
        if cached is not None and cached[:2] == (id(table), id(base)):
            return cached[2]
        priced = with_live_prices(base, table.prices, table.note())
        self._priced = (id(table), id(base), priced)
        return priced

    def price_ages(self) -> dict[str, float]:
        """Seconds since the live prices were fetched; -1 while the embedded catalog answers."""
        table = self.prices.current()
        return {"retail-prices": -1.0 if table is None else max(0.0, time.time() - table.fetched_at)}

    # ---- helpers

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _failure(self, err: Exception, offering: Offering, what: str) -> ProviderError:
        if isinstance(err, OperationTimeout):
            scope = FailureScope.offering(offering.vm_size, offering.capacity_type, offering.zone or None)
            return ProviderError(f"{what}: {err}", "OperationTimeout", scopes=(scope,))
        return failure_from(err, offering, self.config.region, self.family_sizes, self.durations, what)


def _launches(tags: dict[str, str]) -> dict[str, tuple[str, str]]:
    """instance number -> (request id, role), from a scale set's launch tags."""
    found = {}
    for key, value in tags.items():
        if key.startswith(names.LAUNCH_TAG_PREFIX):
            number, role = names.parse_launch_value(value)
            if number != names.PENDING:
                found[number] = (key[len(names.LAUNCH_TAG_PREFIX) :], role)
    return found


def _claimed(tags: dict[str, str]) -> set[str]:
    return set(_launches(tags))


def _live_launch_tags(tags: dict[str, str], vms: dict[str, Any]) -> dict[str, str]:
    """Launch tags of instances that still exist. Azure allows 50 tags per resource and AKS
    uses some: beyond MAX_LAUNCH_TAGS the oldest instances' tags go (their launches are long
    done; only a retry of a recent launch attempt needs its key)."""
    kept, recorded = {}, []
    for key, value in tags.items():
        number = names.parse_launch_value(value)[0]
        if key.startswith(names.LAUNCH_TAG_PREFIX) and number != names.PENDING:
            if number not in vms:
                continue
            recorded.append((int(number), key))
        kept[key] = value
    for _, key in sorted(recorded)[: max(0, len(recorded) - (MAX_LAUNCH_TAGS - 1))]:  # room for the new one
        del kept[key]
    return kept


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _other(err: Exception, what: str) -> ProviderError:
    from providers.azure.errors import error_codes, retry_after

    codes = error_codes(err)
    status = getattr(err, "status_code", None)
    if status == 429:
        from providers.base import Throttled

        return Throttled(f"{what}: throttled", "TooManyRequests", backoff=retry_after(err))
    code = codes[0] if codes else type(err).__name__
    return ProviderError(f"{what}: {str(err).splitlines()[0] if str(err) else code} (Azure code {code})", code)
