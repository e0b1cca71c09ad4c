"""Which zones offer each machine type, and what it costs there now: refreshed off the loop.

Zones come from machineTypes.aggregatedList and acceleratorTypes.aggregatedList, filtered to
the region's zones; prices from the Cloud Billing Catalog's Compute Engine SKUs. Both are
kept in a cachetools TTL cache that a background thread refreshes every `gcp.priceRefresh`;
the loop only reads them. Until the first refresh, or whenever one fails, the embedded
catalog answers (its GCP prices are one list for every region: marked estimated).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from cachetools import TTLCache

from autoscaler.config import GcpConfig
from pricing.catalog import CatalogSettings
from pricing.types import InstanceType, Offering, RegionCatalog
from providers.gcp.calls import CallFailed, call
from providers.gcp.clients import GcpClients
from providers.gcp.discovered import MachineSpec, extra_offerings, machine_spec
from providers.gcp.prices import COMPUTE_ENGINE_SERVICE, RegionPrices, region_prices

log = logging.getLogger(__name__)


class LiveCatalog:
    def __init__(self, clients: GcpClients, config: GcpConfig, embedded: RegionCatalog, settings: CatalogSettings = CatalogSettings()) -> None:
        self.clients = clients
        self.settings = settings
        self.config = config
        self.embedded = embedded
        self.region = embedded.region
        ttl = max(config.price_refresh * 2, 60.0)  # a failed refresh keeps the last answer a while
        self._cache: TTLCache = TTLCache(maxsize=4, ttl=ttl)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshed_at: float | None = None

    # ---- reading (the loop and launches)

    def zones_for(self, itype: InstanceType, where: str) -> tuple[str, ...]:
        """Zones of `where` (the region, or one zone) that offer the type (and its GPU)."""
        zones = self.zones()
        machine = zones["machines"].get(itype.machine_type or itype.name, ())
        if itype.accelerator is not None:
            accelerator = set(zones["accelerators"].get(itype.accelerator.cloud_name, ()))
            machine = tuple(z for z in machine if z in accelerator)
        if where != self.region:
            return (where,) if where in machine else ()
        return machine

    def zones(self) -> dict[str, dict]:
        with self._lock:
            cached = self._cache.get("zones")
        if cached is None:
            cached = self._load_zones()
            with self._lock:
                self._cache["zones"] = cached
        return cached

    def prices(self) -> RegionPrices | None:
        with self._lock:
            return self._cache.get("prices")

    def catalog(self) -> RegionCatalog:
        """The embedded offerings, per zone where the zones are known, at live prices where known."""
        with self._lock:
            zones = self._cache.get("zones")
            prices = self._cache.get("prices")
        if zones is None and prices is None:
            return self.embedded
        offerings: list[Offering] = []
        for offering in self.embedded.offerings:
            itype = offering.instance_type
            live = prices.price(itype, offering.capacity_type) if prices else None
            priced = offering if live is None else replace(offering, price=live, price_estimated=False, price_note="Cloud Billing Catalog")
            if zones is None:
                offerings.append(priced)
                continue
            for zone in self.zones_for(itype, self.region):
                offerings.append(replace(priced, zone=zone))
        if zones is not None and prices is not None:
            known = {o.instance_type.machine_type or o.instance_type.name for o in self.embedded.offerings}
            offerings += extra_offerings(zones["specs"].values(), known, prices, zones["machines"], self.settings)
        sources = self.embedded.sources + (("Cloud Billing Catalog API (live)",) if prices else ())
        return replace(self.embedded, offerings=tuple(offerings), sources=sources)

    # ---- refreshing (a background thread)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gcp-prices", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.config.price_refresh)

    def refresh(self) -> bool:
        """Reload zones and prices; on failure the previous answer (or the embedded one) stays."""
        try:
            zones = self._load_zones()
            prices = self._load_prices()
        except CallFailed as failed:
            log.warning("refreshing GCP zones and prices failed, keeping the previous ones: %s", failed)
            return False
        with self._lock:
            self._cache["zones"] = zones
            if prices is not None:
                self._cache["prices"] = prices
        return True

    def _load_zones(self) -> dict[str, dict]:
        region_filter = f"zone eq {self.region}-.*"
        specs: dict[str, MachineSpec] = {}
        machines = self._aggregated(self.clients.machine_types, "machine_types", region_filter, specs)
        accelerators = self._aggregated(self.clients.accelerator_types, "accelerator_types", region_filter)
        return {"machines": machines, "accelerators": accelerators, "specs": specs}

    def _aggregated(self, client: Any, field: str, region_filter: str, specs: dict | None = None) -> dict[str, tuple[str, ...]]:
        request = {"project": self.clients.project, "filter": region_filter}
        pager = call(f"{field}.aggregatedList", client.aggregated_list, request=request, timeout=self.config.call_timeout)
        found: dict[str, set[str]] = {}
        for scope, listed in call(f"{field}.aggregatedList", list, pager):
            zone = scope.rsplit("/", 1)[-1]
            if not zone.startswith(f"{self.region}-"):
                continue
            for item in getattr(listed, field):
                found.setdefault(item.name, set()).add(zone)
                if specs is not None and item.name not in specs and (spec := machine_spec(item)) is not None:
                    specs[item.name] = spec
        return {name: tuple(sorted(zones)) for name, zones in found.items()}

    def _load_prices(self) -> RegionPrices | None:
        if not self.config.live_prices or self.clients.billing is None:
            return None
        pager = call("skus.list", self.clients.billing.list_skus, request={"parent": COMPUTE_ENGINE_SERVICE, "currency_code": "USD"}, timeout=self.config.call_timeout)
        prices = region_prices(call("skus.list", list, pager), self.region)
        if not prices.resources:
            log.warning("the Cloud Billing Catalog listed no Compute Engine prices for %s: keeping the embedded ones", self.region)
            return None
        return prices
