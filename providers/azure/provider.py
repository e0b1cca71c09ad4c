"""The AKS provider: nodes through the agent pools it makes, on operations AKS supports.

launch: the launch joins its offering's pool's next count change (scaler.py: one change for
every launch of one loop; the pool is made with that count on first need) and answers with
the machine the change made. terminate: Delete Machines naming exactly that machine.
list_instances: the machines of the pools made for this cluster (AKS Machines API), each
with the request id of the launch that made it (ledger.py); a pool left empty for
azure.poolIdleTime is deleted off the loop (keeper.py). Nothing in the node resource group
is written; the scale sets are not even read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from autoscaler.config import Config
from autoscaler.nodelabels import ROLE
from pricing.catalog import with_live_prices
from pricing.types import RegionCatalog
from providers.azure import names
from providers.azure.api import AzureApi, OperationTimeout
from providers.azure.errors import BackoffDurations, error_codes, failure_from, retry_after
from providers.azure.keeper import PoolKeeper
from providers.azure.ledger import Ledger
from providers.azure.names import Offering
from providers.azure.pools import pool_body, pool_cluster, pool_offering, pool_role, pool_state, pool_tags
from providers.azure.prices import RetailPrices
from providers.azure.scaler import PoolScaler
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

_STATES = {"creating": "pending", "updating": "pending", "succeeded": "running", "deleting": "terminating", "deleted": "terminated"}


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
        self.roles: dict[str, tuple[Offering, str]] = {}  # pool -> (offering, role)
        self.scaler = PoolScaler(api, config, clock, self._instance, self._failure)
        self.pools = PoolKeeper(api, config, clock, self.scaler)
        self.prices = RetailPrices(settings.retail_prices_url, config.region, settings.price_refresh_interval, settings.call_timeout)
        self._priced: tuple[int, int, RegionCatalog] | None = None  # (table, base) ids -> catalog
        self._first_seen: dict[str, float] = {}  # machine -> when a listing first showed it
        self._evicting: list[InterruptionNotice] = []  # Spot evictions the last listing saw
        self._terminating: set[str] = set()  # machines this process deleted
        self._spot: dict[str, Instance] = {}  # Spot machines of the last listing, by instance id

    # ---- the provider interface

    def launch(self, request: LaunchRequest) -> Instance:
        zone = request.zones[0] if request.zones else ""
        offering = Offering(request.instance_type.name, request.capacity_type, zone)
        role = request.tags.get(TAG_ROLE) or request.labels.get(ROLE, "")
        pool = names.pool_name(offering, role)
        self.roles[pool] = (offering, role)
        self.pools.busy(pool)

        def create_body(count: int) -> dict[str, Any]:
            return pool_body(
                offering, request.instance_type, self.config.region, request.labels, request.taints,
                names.cluster_identity(self.config), self.config.azure, count,
            )

        try:
            return self.scaler.launch(pool, offering, request, create_body)
        finally:
            self.pools.busy(pool)

    def terminate(self, instance_id: str) -> None:
        try:
            pool, machine = names.parse_instance_id(instance_id)
        except ValueError as err:
            raise ProviderError(str(err), "InvalidInstanceId") from None
        offering = self.roles.get(pool, (Offering("", "", ""), ""))[0]
        self._terminating.add(instance_id)
        self.scaler.deleting.add(instance_id)
        try:
            self.scaler.delete(pool, machine, offering)
        finally:
            self.scaler.deleting.discard(instance_id)

    def list_instances(self) -> list[Instance]:
        try:
            instances = self._list()
            self._evicting = evictions(self._spot, instances, set(self._terminating), self.clock.now())
            self._spot = {i.instance_id: i for i in instances if i.capacity_type == "spot"}
            return instances
        except ProviderError:
            raise
        except Exception as err:
            raise _other(err, "listing the agent pools' machines") from None

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
        instances: list[Instance] = []
        listed: set[str] = set()
        now = self.clock.now()
        mine = names.cluster_identity(self.config)
        for pool in self.api.list_pools():
            offering = pool_offering(pool)
            if offering is None or pool_cluster(pool) != mine:
                continue
            name = pool["name"]
            self.roles[name] = (offering, pool_role(pool))
            machines = self.api.list_machines(name)
            assigned = Ledger.of(pool_tags(pool)).assign(machines)
            deleting = pool_state(pool) == "deleting"
            listed.update(m["name"] for m in machines)
            for machine in machines:
                short, made_at = assigned.get(machine["name"], ("", 0))
                request_id = self.scaler.request_of.get(machine["name"]) or self.scaler.full_ids.get(short, short)
                instance = self._instance(name, machine, request_id, made_at)
                if deleting or instance.instance_id in self.scaler.deleting:
                    instance = replace(instance, state="terminating")
                instances.append(instance)
            self.pools.seen(name, len(machines), now)
        for gone in [m for m in list(self.scaler.request_of) if m not in listed]:
            self.scaler.request_of.pop(gone, None)
        return instances

    def _instance(self, pool: str, machine: dict[str, Any], request_id: str, made_at: int) -> Instance:
        offering, role = self.roles.get(pool, (Offering("", "", ""), ""))
        name = machine["name"]
        properties = machine.get("properties") or {}
        # The Machines API states no provisioning state in its stable versions; a machine listed
        # is on its way or running (a failed one never registers: the loop's scaleUpTimeout
        # deletes it and backs its offering off).
        state = _STATES.get(str(properties.get("provisioningState", "succeeded")).lower(), "pending")
        launched_at = float(made_at) if made_at else self._first_seen.setdefault(name, self.clock.now())
        return Instance(
            instance_id=names.instance_id(pool, name),
            provider_id=names.provider_id_of(str(properties.get("resourceId") or "")),
            instance_type=offering.vm_size,
            capacity_type=offering.capacity_type,
            zone=offering.zone,
            state=state,
            launched_at=launched_at,
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


def _other(err: Exception, what: str) -> ProviderError:
    """A failure of a call that is not a launch (terminate, list): throttled or other."""
    if getattr(err, "status_code", None) == 429:
        return Throttled(f"{what}: throttled", "TooManyRequests", backoff=retry_after(err))
    codes = error_codes(err)
    code = codes[0] if codes else type(err).__name__
    first_line = str(err).splitlines()[0] if str(err) else code
    return ProviderError(f"{what}: {first_line} (Azure code {code})", code)
