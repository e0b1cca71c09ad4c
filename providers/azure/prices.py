"""Live Linux VM prices from the Azure Retail Prices API (public, no credentials).

One region's `Virtual Machines` consumption meters, all pages (`NextPageLink`): on-demand
and Spot per `armSkuName`. Left out: Windows meters (productName "... Windows"), Low
Priority meters (the retired predecessor of Spot), DevTest and reservation prices, and
anything not priced per hour in USD. Where a size has several meters, the newest
`effectiveStartDate` wins, the primary meter region on a tie.

Prices are cached (cachetools TTL, azure.priceRefreshInterval) and refreshed off the loop:
`current()` never waits for the network; it returns the last good table (or None, and the
embedded catalog answers) and starts a refresh on the background thread when due.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from cachetools import TTLCache

from pricing.types import ON_DEMAND, SPOT

log = logging.getLogger("smart_autoscaler.providers.azure.prices")
API_VERSION = "2023-01-01-preview"
MAX_PAGES = 500  # eastus has ~100 pages of VM meters; a runaway NextPageLink chain stops here


class PriceFetchError(Exception):
    pass


@dataclass(frozen=True)
class PriceTable:
    region: str
    prices: dict[tuple[str, str], float]  # (armSkuName, on-demand|spot) -> USD per hour
    fetched_at: float
    source: str = "Azure Retail Prices API"
    skipped: dict[str, int] = field(default_factory=dict)  # why meters were left out, counted

    def note(self) -> str:
        return f"live: {self.source}, {time.strftime('%Y-%m-%d %H:%MZ', time.gmtime(self.fetched_at))}"


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "smart-autoscaler"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or a test server)
            return json.loads(response.read())
    except (OSError, ValueError) as err:
        raise PriceFetchError(f"{url.split('?')[0]}: {err}") from None


def first_page_url(base_url: str, region: str) -> str:
    query = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption'"
    )
    return f"{base_url}?{urllib.parse.urlencode({'api-version': API_VERSION, '$filter': query})}"


def fetch_prices(
    base_url: str, region: str, timeout: float, get_json: Callable[[str, float], dict[str, Any]] = _get_json
) -> PriceTable:
    """Every page of the region's VM meters, as a PriceTable. Raises PriceFetchError."""
    items: list[dict[str, Any]] = []
    url: str | None = first_page_url(base_url, region)
    pages = 0
    while url and pages < MAX_PAGES:
        page = get_json(url, timeout)
        items.extend(page.get("Items") or [])
        url = page.get("NextPageLink")
        pages += 1
    prices, skipped = linux_prices(items, region)
    if not prices:
        raise PriceFetchError(f"the Retail Prices API listed no Linux VM prices for {region!r}")
    return PriceTable(region, prices, time.time(), skipped=skipped)


def linux_prices(items: Iterable[dict[str, Any]], region: str) -> tuple[dict[tuple[str, str], float], dict[str, int]]:
    best: dict[tuple[str, str], tuple[str, bool, float]] = {}
    skipped: dict[str, int] = {}
    for item in items:
        reason = _skip_reason(item, region)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        names = f"{item.get('skuName', '')} {item.get('meterName', '')}"
        key = (item["armSkuName"], SPOT if "Spot" in names else ON_DEMAND)
        rank = (str(item.get("effectiveStartDate", "")), bool(item.get("isPrimaryMeterRegion", True)))
        current = best.get(key)
        if current is None or rank > current[:2]:
            best[key] = (*rank, float(item["retailPrice"]))
    return {key: round(value[2], 6) for key, value in best.items()}, skipped


def _skip_reason(item: dict[str, Any], region: str) -> str:
    names = f"{item.get('skuName', '')} {item.get('meterName', '')}"
    if item.get("type") != "Consumption":
        return f"type {item.get('type')}"
    if "Windows" in str(item.get("productName", "")):
        return "Windows"
    if "Low Priority" in names:
        return "Low Priority"
    if not item.get("armSkuName") or item.get("armRegionName", region) != region:
        return "no size or other region"
    if item.get("unitOfMeasure") != "1 Hour" or item.get("currencyCode", "USD") != "USD":
        return "not USD per hour"
    if not isinstance(item.get("retailPrice"), (int, float)) or item["retailPrice"] <= 0:
        return "no price"
    return ""


class RetailPrices:
    """One region's live prices: cached, refreshed off the loop, last good table kept."""

    def __init__(self, base_url: str, region: str, refresh_interval: float, timeout: float) -> None:
        self.base_url = base_url
        self.region = region
        self.timeout = timeout
        self._fresh: TTLCache = TTLCache(maxsize=1, ttl=refresh_interval)
        self._last: PriceTable | None = None
        self._lock = threading.Lock()
        self._refresh: Future | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azure-prices")

    def current(self) -> PriceTable | None:
        """The newest good table, without waiting; starts a refresh when the cached one expired."""
        with self._lock:
            if self.region not in self._fresh and (self._refresh is None or self._refresh.done()):
                self._refresh = self._executor.submit(self._refresh_now)
            return self._last

    def refresh(self) -> PriceTable:
        """Fetch now (blocking): for the preview and for tests."""
        return self._refresh_now(raise_errors=True)

    def _refresh_now(self, raise_errors: bool = False) -> PriceTable | None:
        try:
            table = fetch_prices(self.base_url, self.region, self.timeout)
        except PriceFetchError as err:
            log.warning("live Azure prices for %s unavailable, using %s: %s", self.region,
                        "the last good prices" if self._last else "the embedded catalog", err)
            with self._lock:
                self._fresh[self.region] = False  # try again after the interval, not every loop
            if raise_errors:
                raise
            return None
        with self._lock:
            self._last = table
            self._fresh[self.region] = True
        log.info("live Azure prices for %s: %d meters (left out: %s)", self.region, len(table.prices), table.skipped)
        return table

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
