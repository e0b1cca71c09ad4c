"""Live AWS prices and offerings, refreshed off the loop; the embedded catalog answers otherwise.

* On-demand: the Price List API (`GetProducts`, service AmazonEC2, the us-east-1 endpoint)
  for the region, product family "Compute Instance", market option OnDemand (without it,
  Capacity Block and other market prices of the same type come back too), Linux, shared
  tenancy, no pre-installed software, capacity status Used, no license. Each product is
  checked against the same attributes and the hourly unit; a type that still has two
  different prices keeps the embedded figure rather than whichever came last.
* Spot: `DescribeSpotPriceHistory` (Linux/UNIX), the latest price per type and zone.
* Zones per type: `DescribeInstanceTypeOfferings` (location type availability-zone).
* Pods per node for the types without a published figure: `DescribeInstanceTypes`
  NetworkInfo (providers/aws/maxpods.py), once a day; the planner's types get that maxPods
  (and the kubelet memory reservation that follows from it), as their launches do.
* Spot Instance Advisor (`aws.useSpotAdvisor`): the JSON from `aws.spotAdvisorURL` (an
  https address or a file); a type's spot estimate is on-demand x (1 - s/100) where no live
  spot price is known, and the bucket/ratio filters apply.

Zones without a subnet to launch into (discovered or `aws.subnets`) are not offered. A
background thread refreshes every `aws.priceRefreshPeriod` (prices only with `aws.livePrices`); each source fails on its own
(its last good answer, or the embedded figure, stays in use). Nothing here runs at start:
until the first refresh the embedded catalog is the answer. `ages()` says how old each
source's figures are, for the price-age metric.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pricing.catalog import advisor_file_data
from pricing.spot_advisor import SpotAdvisorData, SpotAdvisorPolicy, apply_spot_advisor, parse_advisor
from pricing.types import ON_DEMAND, SPOT, Offering, RegionCatalog
from providers.aws.discovery import _paginate
from providers.aws.maxpods import eni_max_pods_of, unpublished_max_pods, with_max_pods
from providers.refresher import RefreshedSources

log = logging.getLogger("smart_autoscaler.providers.aws.prices")
SOURCES = ("on-demand", "spot", "zones", "advisor", "subnets", "max-pods")
MAX_PODS_REFRESH = 86400.0  # ENI limits of a type do not change
ADVISOR_TIMEOUT = 20.0
ADVISOR_REFRESH = 3600.0  # the advisor's averages change slowly: fetch them at most hourly


def _on_demand_attributes(region: str) -> tuple[tuple[str, str], ...]:
    return (
        ("regionCode", region),
        ("productFamily", "Compute Instance"),
        ("marketoption", "OnDemand"),
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
        ("licenseModel", "No License required"),
    )


def on_demand_filters(region: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in _on_demand_attributes(region)]


def parse_price_list(items: list[str], region: str = "") -> dict[str, float]:
    """GetProducts PriceList entries (JSON strings) -> instance type -> USD per hour. A product
    whose attributes say another market, OS, tenancy... (where it names them) is skipped; a
    type left with two different hourly prices is left out (the embedded figure answers)."""
    wanted = {field.lower(): value for field, value in _on_demand_attributes(region) if value}
    found: dict[str, set[float]] = {}
    for raw in items:
        product = json.loads(raw) if isinstance(raw, str) else raw
        details = product.get("product") or {}
        attributes = {key.lower(): value for key, value in (details.get("attributes") or {}).items()}
        if details.get("productFamily"):
            attributes.setdefault("productfamily", details["productFamily"])
        if any(key in attributes and attributes[key] != value for key, value in wanted.items()):
            continue
        name = attributes.get("instancetype")
        for term in ((product.get("terms") or {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                usd = (dimension.get("pricePerUnit") or {}).get("USD")
                if name and usd is not None and float(usd) > 0 and dimension.get("unit", "Hrs") == "Hrs":
                    found.setdefault(name, set()).add(float(usd))
    ambiguous = sorted(name for name, seen in found.items() if len(seen) > 1)
    if ambiguous:
        log.warning("the Price List gave several on-demand prices for %s: keeping the embedded figures", ", ".join(ambiguous))
    return {name: seen.pop() for name, seen in found.items() if len(seen) == 1}


class LivePrices(RefreshedSources):
    failure_log = "refreshing %s prices failed (the last figures or the embedded catalog answer): %s"

    def __init__(
        self,
        clients: Any,
        config: Any,
        clock: Any = None,
        fetch_url: Callable[[str], bytes] | None = None,
        subnet_zones: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        period = max(1.0, config.aws.price_refresh_period)
        ttl = max(4 * period, 2 * ADVISOR_REFRESH)  # older figures are dropped: the embedded ones answer
        super().__init__(SOURCES, period, ttl, "aws-prices", log)
        self.clients = clients
        self.config = config
        self.region = config.region
        self.settings = config.aws
        self.fetch_url = fetch_url or _fetch_url
        self.subnet_zones = subnet_zones

    # ---- refresh (background)

    def refresh(self) -> bool:
        """Fetch every source once; a failing source keeps its previous figures."""
        loaders: dict[str, Callable[[], Any]] = {}
        if self.settings.live_prices:
            loaders.update({"on-demand": self._on_demand, "spot": self._spot, "zones": self._zones})
        if self.settings.use_spot_advisor and not self.fresh("advisor", ADVISOR_REFRESH):
            loaders["advisor"] = self._advisor
        if self.subnet_zones is not None:
            loaders["subnets"] = lambda: self.subnet_zones() or None
        if not self.config.max_pods_per_node and not self.fresh("max-pods", MAX_PODS_REFRESH):
            loaders["max-pods"] = lambda: eni_max_pods_of(self.clients.ec2, unpublished_max_pods()) or None
        return self.refresh_sources(loaders)

    def _on_demand(self) -> dict[str, float] | None:
        items: list[str] = []
        paginator = self.clients.pricing.get_paginator("get_products")
        for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=on_demand_filters(self.region), FormatVersion="aws_v1"):
            items.extend(page.get("PriceList", []))
        prices = parse_price_list(items, self.region)
        return prices or None

    def _spot(self) -> dict[tuple[str, str], float] | None:
        since = datetime.now(timezone.utc) - timedelta(hours=6)
        latest: dict[tuple[str, str], tuple[datetime, float]] = {}
        for item in _paginate(
            self.clients.ec2, "describe_spot_price_history", "SpotPriceHistory",
            ProductDescriptions=["Linux/UNIX"], StartTime=since,
        ):
            key = (item["InstanceType"], item["AvailabilityZone"])
            stamp = item.get("Timestamp") or since
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (stamp, float(item["SpotPrice"]))
        return {key: price for key, (_, price) in latest.items() if price > 0} or None

    def _zones(self) -> dict[str, frozenset[str]] | None:
        zones: dict[str, set[str]] = {}
        for item in _paginate(self.clients.ec2, "describe_instance_type_offerings", "InstanceTypeOfferings", LocationType="availability-zone"):
            zones.setdefault(item["InstanceType"], set()).add(item["Location"])
        return {name: frozenset(found) for name, found in zones.items()} or None

    def _advisor(self) -> SpotAdvisorData | None:
        source = self.settings.spot_advisor_url
        if source.startswith(("http://", "https://")):
            return parse_advisor(self.fetch_url(source), source)
        return advisor_file_data(source)

    # ---- answers (the loop's thread)

    def catalog(self, base: RegionCatalog) -> RegionCatalog:
        """The embedded catalog `base` with live figures where known (same object when none)."""
        return self.built(base, lambda figures: live_catalog(base, figures, self.config) if any(figures.values()) else base)


def live_catalog(base: RegionCatalog, figures: dict[str, Any], config: Any) -> RegionCatalog:
    """`base` re-priced and re-zoned with the live figures; any figure missing keeps the
    embedded one. Spot without a live price: live (or embedded) on-demand x
    spotPriceRatioEstimate, then the advisor's estimate and filters when it is on."""
    on_demand: dict[str, float] = figures.get("on-demand") or {}
    spot: dict[tuple[str, str], float] = figures.get("spot") or {}
    zones: dict[str, frozenset[str]] = figures.get("zones") or {}
    reachable: frozenset[str] | None = figures.get("subnets")  # zones with a subnet to launch into
    ratio = config.spot_price_ratio_estimate
    pods: dict[str, int] = figures.get("max-pods") or {}
    if pods:
        base = replace(base, offerings=tuple(
            replace(o, instance_type=with_max_pods(o.instance_type, pods[o.instance_type.name]))
            if o.instance_type.name in pods and not config.max_pods_per_node else o
            for o in base.offerings
        ))
    by_type: dict[str, dict[str, Offering]] = {}
    base_zones: dict[str, set[str]] = {}
    for offering in base.offerings:
        by_type.setdefault(offering.instance_type.name, {})[offering.capacity_type] = offering
        base_zones.setdefault(offering.instance_type.name, set()).add(offering.zone)
    offerings: list[Offering] = []
    for name, templates in by_type.items():
        if zones and name not in zones:
            continue  # the region does not sell this type
        od_price = on_demand.get(name)
        for zone in sorted(zones.get(name) or base_zones[name]):
            if reachable is not None and zone not in reachable:
                continue
            od_template = templates.get(ON_DEMAND)
            if od_template is not None:
                live = {"price": od_price, "price_estimated": False, "price_note": "AWS Price List"} if od_price else {}
                offerings.append(replace(od_template, zone=zone, **live))
            spot_template = templates.get(SPOT)
            if spot_template is None:
                continue
            live_spot = spot.get((name, zone))
            if live_spot:
                offerings.append(replace(spot_template, zone=zone, price=live_spot, price_estimated=False, price_note="EC2 spot price history"))
            elif od_price:
                note = f"on-demand (AWS Price List) x {ratio} (spotPriceRatioEstimate)"
                offerings.append(replace(spot_template, zone=zone, price=round(od_price * ratio, 6), price_estimated=True, price_note=note))
            else:
                offerings.append(replace(spot_template, zone=zone))
    if config.aws.use_spot_advisor:
        policy = SpotAdvisorPolicy(figures.get("advisor"), config.aws.max_spot_interrupt_bucket, config.aws.max_spot_price_ratio)
        offerings = apply_spot_advisor(offerings, base.region, policy)
    sources = (*base.sources, "live: AWS Price List GetProducts, EC2 DescribeSpotPriceHistory, DescribeInstanceTypeOfferings")
    return replace(base, offerings=tuple(offerings), sources=sources)


def _fetch_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=ADVISOR_TIMEOUT) as response:  # noqa: S310 - https address from config
        return response.read()
