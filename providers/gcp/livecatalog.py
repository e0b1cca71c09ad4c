"""Which zones offer each machine type, and what it costs there now: refreshed off the loop.

Two sources, each refreshed on its own by a background thread every `gcp.priceRefresh`:
"gcp-zones" (machineTypes and acceleratorTypes aggregatedList, filtered to the region's
zones) and "gcp-billing" (the Cloud Billing Catalog's Compute Engine SKUs, with
`gcp.livePrices`). Their figures sit in a cachetools TTL cache (a source failing for two
periods in a row falls back to the embedded figures); the loop only reads them. A launch that
needs zones before the first refresh loads them itself. Until a source answers, the embedded
catalog does (its GCP prices are one list for every region).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from autoscaler.config import GcpConfig
from pricing.catalog import CatalogSettings
from pricing.types import SPOT, InstanceType, Offering, RegionCatalog
from providers.gcp.calls import CallFailed, call
from providers.gcp.clients import GcpClients
from providers.gcp.discovered import MachineSpec, extra_offerings, machine_spec
from providers.gcp.prices import COMPUTE_ENGINE_SERVICE, RegionPrices, region_prices
from providers.refresher import RefreshedSources

log = logging.getLogger(__name__)
ZONES, BILLING = "gcp-zones", "gcp-billing"
SOURCES = (ZONES, BILLING)


class LiveCatalog(RefreshedSources):
    def __init__(self, clients: GcpClients, config: GcpConfig, region: str, settings: CatalogSettings = CatalogSettings()) -> None:
        ttl = max(config.price_refresh * 2, 60.0)
        super().__init__(SOURCES, config.price_refresh, ttl, "gcp-prices", log, failures=(CallFailed,))
        self.clients = clients
        self.config = config
        self.region = region
        self.settings = settings

    # ---- reading (the loop and launches)

    def zones_for(self, itype: InstanceType, where: str) -> tuple[str, ...]:
        """Zones of `where` (the region, or one zone) that offer the type (and its GPU)."""
        machine = _zones_of(itype, self._zones(), self.region)
        if where != self.region:
            return (where,) if where in machine else ()
        return machine

    def catalog(self, base: RegionCatalog) -> RegionCatalog:
        """`base` (the embedded catalog) per zone where zones are known, at live prices where
        known, plus the types Compute Engine lists that `base` lacks; `base` itself when no
        source has answered. The same object until the figures change."""
        return self.built(base, lambda figures: self._live(base, figures[ZONES], figures[BILLING]))

    def _live(self, base: RegionCatalog, zones: dict[str, Any] | None, prices: RegionPrices | None) -> RegionCatalog:
        return base if zones is None and prices is None else live_catalog(base, zones, prices, self.settings)

    # ---- refreshing (a background thread)

    def refresh(self) -> bool:
        """Fetch every source once; a failing source keeps its previous figures. True when all answered."""
        return self.refresh_sources({ZONES: self._load_zones, BILLING: self._load_prices})

    def _zones(self) -> dict[str, Any]:
        cached = self.figure(ZONES)
        if cached is None:
            cached = self._load_zones()
            self.store(ZONES, cached)
        return cached

    def _load_zones(self) -> dict[str, Any]:
        region_filter = zone_filter(self.region)
        specs: dict[str, MachineSpec] = {}
        machines = self._aggregated(self.clients.machine_types, "machine_types", region_filter, specs)
        accelerators = self._aggregated(self.clients.accelerator_types, "accelerator_types", region_filter)
        return {"machines": machines, "accelerators": accelerators, "specs": specs}

    def _aggregated(self, client: Any, field: str, region_filter: str, specs: dict | None = None) -> dict[str, tuple[str, ...]]:
        request = {"project": self.clients.project, "filter": region_filter}
        pager = call(f"{field}.aggregatedList", client.aggregated_list, request=request, timeout=self.config.call_timeout)
        found: dict[str, set[str]] = {}
        for scope, listed in call(f"{field}.aggregatedList", list, pager):
            for item in getattr(listed, field):
                zone = (item.zone or scope).rstrip("/").rsplit("/", 1)[-1]  # a name or a URL, as the API answers
                if not zone.startswith(f"{self.region}-"):
                    continue
                found.setdefault(item.name, set()).add(zone)
                if specs is not None and item.name not in specs and (spec := machine_spec(item)) is not None:
                    specs[item.name] = spec
        return {name: tuple(sorted(zones)) for name, zones in found.items()}

    def _load_prices(self) -> RegionPrices | None:
        if not self.config.live_prices or self.clients.billing is None:
            return None
        request = {"parent": COMPUTE_ENGINE_SERVICE, "currency_code": "USD"}
        pager = call("skus.list", self.clients.billing.list_skus, request=request, timeout=self.config.call_timeout)
        prices = region_prices(call("skus.list", list, pager), self.region)
        if not prices.resources:
            log.warning("the Cloud Billing Catalog listed no Compute Engine prices for %s: keeping the embedded ones", self.region)
            return None
        return prices


def zone_filter(region: str) -> str:
    """The aggregatedList `filter` for the region's zones. Compute Engine matches `eq` against
    the whole field as an RE2 expression (Compute API reference, aggregatedList `filter`), and
    answers `zone` as a name for machine types and as a URL for accelerator types: the
    expression allows any prefix, so both forms of every zone of the region match."""
    return f"zone eq .*{region}-[a-z]+"


def live_catalog(base: RegionCatalog, zones: dict[str, Any] | None, prices: RegionPrices | None, settings: CatalogSettings) -> RegionCatalog:
    """`base` re-priced and re-zoned. A price the Billing Catalog lacks keeps the embedded one;
    a spot price estimated from on-demand is estimated again from the live on-demand price."""
    live_on_demand: dict[str, float] = {}
    if prices is not None:
        for offering in base.offerings:
            if offering.capacity_type != SPOT and (price := prices.price(offering.instance_type, offering.capacity_type)) is not None:
                live_on_demand[offering.instance_type.name] = price
    offerings: list[Offering] = []
    seen: set[tuple[str, str]] = set()
    for offering in base.offerings:
        itype = offering.instance_type
        if zones is not None:
            # the embedded catalog offers a type in each zone of the region; the live list says
            # which zones really have it: one offering per live zone, from the first of them
            if (itype.name, offering.capacity_type) in seen:
                continue
            seen.add((itype.name, offering.capacity_type))
        priced = offering
        live = prices.price(itype, offering.capacity_type) if prices is not None else None
        if live is not None:
            priced = replace(offering, price=live, price_estimated=False, price_note="Cloud Billing Catalog")
        elif offering.capacity_type == SPOT and offering.price_estimated and itype.name in live_on_demand:
            ratio = settings.spot_price_ratio
            note = f"on-demand (Cloud Billing Catalog) x {ratio} (spotPriceRatioEstimate)"
            priced = replace(offering, price=round(live_on_demand[itype.name] * ratio, 6), price_note=note)
        if zones is None:
            offerings.append(priced)
            continue
        for zone in _zones_of(itype, zones, base.region):
            offerings.append(replace(priced, zone=zone))
    if zones is not None and prices is not None:
        known = {o.instance_type.machine_type or o.instance_type.name for o in base.offerings}
        offerings += extra_offerings(zones["specs"].values(), known, prices, zones["machines"], settings)
    sources = (*base.sources, "live: Compute Engine machineTypes/acceleratorTypes aggregatedList, Cloud Billing Catalog SKUs")
    return replace(base, offerings=tuple(offerings), sources=sources)


def _zones_of(itype: InstanceType, zones: dict[str, Any], region: str) -> tuple[str, ...]:
    machine = zones["machines"].get(itype.machine_type or itype.name, ())
    if itype.accelerator is not None:
        accelerator = set(zones["accelerators"].get(itype.accelerator.cloud_name, ()))
        machine = tuple(z for z in machine if z in accelerator)
    return tuple(z for z in machine if z.startswith(f"{region}-"))
