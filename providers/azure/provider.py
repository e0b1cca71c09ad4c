"""The AKS provider: one node per launch through the scale set of an offering's agent pool.

launch: make the offering's pool on first need (keeper.py), then raise its scale set's
capacity by one with the launch key recorded on the scale set (scalesets.py), so that a
retry of the same launch attempt - after a crash, or from a new leader - finds the instance
it already got instead of adding another. terminate: delete_instances of exactly that
instance. list_instances: the instances of the pools made for this cluster; a pool left
empty for azure.poolIdleTime is deleted off the loop.

Calls for different pools run concurrently from the loop's threads; calls for one pool or
scale set are serialised by its lock.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable

from autoscaler.config import Config
from autoscaler.nodelabels import ROLE
from pricing.catalog import with_live_prices
from pricing.types import RegionCatalog
from providers.azure import names
from providers.azure.api import AzureApi, OperationTimeout
from providers.azure.errors import BackoffDurations, error_codes, failure_from, retry_after
from providers.azure.keeper import PoolKeeper
from providers.azure.names import Offering
from providers.azure.pools import pool_cluster, pool_offering, pool_role
from providers.azure.prices import RetailPrices
from providers.azure.scalesets import ScaleSetNodes, launches
from providers.azure.evictions import evictions
from providers.interruptions import InterruptionNotice, NoticeBatch
from providers.base import (
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_REQUEST,
    TAG_ROLE,
    FailureScope,
    Instance,
    LaunchRequest,
    ProviderError,
    Throttled,
)

_STATES = {"creating": "pending", "updating": "pending", "succeeded": "running", "deleting": "terminating"}


class AzureProvider:
    name = "azure"

    def __init__(
        self, api: AzureApi, config: Config, clock: Any, subscription_id: str, family_sizes: Callable[[str], frozenset[str]]
    ) -> None:
        self.api = api
        self.config = config
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
        self.pools = PoolKeeper(api, config, clock)
        self.scale_sets = ScaleSetNodes(api)
        self.prices = RetailPrices(settings.retail_prices_url, config.region, settings.price_refresh_interval, settings.call_timeout)
        self._priced: tuple[int, int, RegionCatalog] | None = None  # (table, base) ids -> catalog
        self._evicting: list[InterruptionNotice] = []  # Spot evictions the last listing saw
        self._terminating: set[str] = set()  # instances this process deleted

    # ---- the provider interface

    def launch(self, request: LaunchRequest) -> Instance:
        zone = request.zones[0] if request.zones else ""
        offering = Offering(request.instance_type.name, request.capacity_type, zone)
        role = request.tags.get(TAG_ROLE) or request.labels.get(ROLE, "")
        pool = names.pool_name(offering, role)
        with self.pools.lock(pool):
            self.pools.busy(pool)
            try:
                self.pools.ensure(pool, offering, request)
                vmss = self.pools.scale_set_of(pool)
                with self.pools.lock(vmss):
                    vm, role = self.scale_sets.add(vmss, request.request_id, role)
                return self._instance(vmss, vm, offering, request.request_id, role)
            except ProviderError:
                raise
            except Exception as err:  # the SDK's errors, timeouts and connection failures
                raise self._failure(err, offering, f"launching {offering.vm_size} {offering.capacity_type} in pool {pool}") from None
            finally:
                self.pools.busy(pool)

    def terminate(self, instance_id: str) -> None:
        vmss, number = names.parse_instance_id(instance_id)
        self._terminating.add(instance_id)
        with self.pools.lock(vmss):
            try:
                self.scale_sets.delete(vmss, number)
            except Exception as err:
                raise _other(err, f"deleting instance {instance_id}") from None

    def list_instances(self) -> list[Instance]:
        try:
            instances = self._list()
            self._evicting = evictions(instances, set(self._terminating), self.clock.now())
            return instances
        except ProviderError:
            raise
        except Exception as err:
            raise _other(err, "listing the agent pools' instances") from None

    def interruption_notices(self, handled: tuple[str, ...] = ()) -> NoticeBatch:
        """Spot VMs Azure is evicting, as the last listing saw them (providers/azure/evictions.py)."""
        return NoticeBatch(tuple(self._evicting))

    def close(self) -> None:
        """The leader term ended: no more pool deletions or price refreshes from this one."""
        self.pools.close()
        self.prices.close()

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

    def _list(self) -> list[Instance]:
        ours, roles = {}, {}
        for pool in self.api.list_pools():
            offering = pool_offering(pool)
            if offering is not None and pool_cluster(pool) == self.config.cluster_name:
                ours[pool["name"]] = offering
                roles[pool["name"]] = pool_role(pool)
        if not ours:
            return []
        instances = []
        now = self.clock.now()
        for vmss in self.api.list_scale_sets():
            pool = (vmss.get("tags") or {}).get(names.AKS_POOL_TAG)
            if pool not in ours:
                continue
            recorded = launches(vmss.get("tags") or {})
            vms = self.api.list_vms(vmss["name"])
            for vm in vms:
                request_id, role = recorded.get(vm["instanceId"], ("", roles[pool]))
                instances.append(self._instance(vmss["name"], vm, ours[pool], request_id, role))
            self.pools.seen(pool, len(vms), now)
        return instances

    def _instance(self, vmss: str, vm: dict[str, Any], offering: Offering, request_id: str, role: str) -> Instance:
        number = vm["instanceId"]
        properties = vm.get("properties") or {}
        # A Failed instance never registers: the loop's scaleUpTimeout terminates it and backs off.
        state = _STATES.get(str(properties.get("provisioningState", "creating")).lower(), "pending")
        return Instance(
            instance_id=names.instance_id(vmss, number),
            provider_id=names.provider_id(self.subscription_id, self.api.node_resource_group(), vmss, number),
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

    def _failure(self, err: Exception, offering: Offering, what: str) -> ProviderError:
        if isinstance(err, OperationTimeout):
            scope = FailureScope.offering(offering.vm_size, offering.capacity_type, offering.zone or None)
            return ProviderError(f"{what}: {err}", "OperationTimeout", scopes=(scope,))
        return failure_from(err, offering, self.config.region, self.family_sizes, self.durations, what)


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _other(err: Exception, what: str) -> ProviderError:
    """A failure of a call that is not a launch (terminate, list): throttled or other."""
    if getattr(err, "status_code", None) == 429:
        return Throttled(f"{what}: throttled", "TooManyRequests", backoff=retry_after(err))
    codes = error_codes(err)
    code = codes[0] if codes else type(err).__name__
    first_line = str(err).splitlines()[0] if str(err) else code
    return ProviderError(f"{what}: {first_line} (Azure code {code})", code)
