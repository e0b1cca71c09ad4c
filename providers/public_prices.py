"""`preview --live-prices` for AWS, GCP and OCI: one blocking read of each cloud's price list,
with no cloud SDK and, for AWS and OCI, no account. (Azure's Retail Prices API is
providers/azure/prices.py, shared with the daemon.)

* AWS: the public bulk price list (pricing/aws_bulk.py), `aws.publicPriceListURL` with
  `{region}`; the daemon's refresher asks the Price List API instead, which needs credentials.
* GCP: the Cloud Billing Catalog's Compute Engine SKUs (`GET /v1/services/6F81-5844-456A/skus`,
  paged by `pageToken`), priced per vCPU and GiB as the daemon's refresher prices them
  (providers/gcp/prices.py). The Catalog needs an API key (`GOOGLE_API_KEY`, a key of a project
  with the Cloud Billing API enabled): without one, the reason is said and the embedded prices
  answer. `gcp.apiEndpoint` points it elsewhere (a test server).
* OCI: Oracle's public price list (`oci.priceListURL`), applied to the embedded shapes and their
  per-OCPU / per-GB Flex rates as the daemon's refresher applies it (pricing/oci_prices.py).
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from pricing.catalog import raw_catalog, with_live_prices
from pricing.types import RegionCatalog

GCP_KEY_VARIABLE = "GOOGLE_API_KEY"
GCP_BILLING_ENDPOINT = "https://cloudbilling.googleapis.com"
MAX_GCP_PAGES = 200  # the Compute Engine service lists a few thousand SKUs, 5,000 a page at most


class PriceSourceUnavailable(ValueError):
    """The price list cannot be asked here; the message says why and what to set."""


@dataclass(frozen=True)
class LiveTable:
    """One cloud's live prices for a region: (type, capacity type) -> USD/h, or a function that
    re-prices the embedded catalog (OCI's Flex shapes are priced per OCPU and GB)."""

    source: str
    fetched_at: float
    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    reprice: Callable[[RegionCatalog, str], RegionCatalog] | None = None

    def note(self) -> str:
        return f"live: {self.source}, {time.strftime('%Y-%m-%d %H:%MZ', time.gmtime(self.fetched_at))}"

    def apply(self, catalog: RegionCatalog) -> RegionCatalog:
        if self.reprice is not None:
            return self.reprice(catalog, self.note())
        return with_live_prices(catalog, self.prices, self.note())


def _open(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "smart-autoscaler"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - a configured https address (or a test server)


def _where(url: str) -> str:
    return url.split("?")[0]


def aws_prices(region: str, config: Any) -> LiveTable:
    from pricing.aws_bulk import BulkPriceListError, on_demand_prices

    url = config.aws.public_price_list_url.replace("{region}", region)
    try:
        with _open(url, config.aws.api_timeout) as response:
            prices = on_demand_prices(io.TextIOWrapper(response, encoding="utf-8", newline=""))
    except (OSError, BulkPriceListError, UnicodeDecodeError) as err:
        raise PriceSourceUnavailable(f"{_where(url)}: {err}") from None
    if not prices:
        raise PriceSourceUnavailable(f"{_where(url)} lists no on-demand Linux price for {region}")
    return LiveTable("AWS bulk price list", time.time(), {(name, "on-demand"): usd for name, usd in prices.items()})


def gcp_prices(region: str, config: Any, environ: Any = os.environ) -> LiveTable:
    from providers.gcp.prices import COMPUTE_ENGINE_SERVICE, region_prices

    key = environ.get(GCP_KEY_VARIABLE, "")
    if not key:
        raise PriceSourceUnavailable(
            f"the Cloud Billing Catalog needs an API key: set {GCP_KEY_VARIABLE} to a key of a project with the "
            "Cloud Billing API enabled")
    base = (config.gcp.api_endpoint or GCP_BILLING_ENDPOINT).rstrip("/")
    skus: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_GCP_PAGES):
        query = {"currencyCode": "USD", "pageSize": "5000", "key": key, **({"pageToken": token} if token else {})}
        url = f"{base}/v1/{COMPUTE_ENGINE_SERVICE}/skus?{urllib.parse.urlencode(query)}"
        try:
            with _open(url, config.gcp.call_timeout) as response:
                page = json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise PriceSourceUnavailable(f"{_where(url)}: HTTP {err.code} {_google_error(err)}") from None
        except (OSError, ValueError) as err:
            raise PriceSourceUnavailable(f"{_where(url)}: {err}") from None
        skus += page.get("skus") or []
        token = page.get("nextPageToken") or ""
        if not token:
            break
    prices = region_prices(skus, region)
    if not prices.resources:
        raise PriceSourceUnavailable(f"the Cloud Billing Catalog lists no Compute Engine prices for {region}")

    def reprice(catalog: RegionCatalog, note: str) -> RegionCatalog:
        table = {(o.instance_type.name, o.capacity_type): price for o in catalog.offerings
                 if (price := prices.price(o.instance_type, o.capacity_type)) is not None}
        return with_live_prices(catalog, table, note)

    return LiveTable("Cloud Billing Catalog", time.time(), reprice=reprice)


def _google_error(err: Any) -> str:
    """The message of a Google API error body ({"error": {"message"}}), else the reason."""
    try:
        return str(json.loads(err.read())["error"]["message"])
    except Exception:  # noqa: BLE001 - any other body: the HTTP reason says enough
        return str(err.reason)


def oci_prices(region: str, config: Any) -> LiveTable:
    from pricing.oci_prices import parse_price_list, rates_from, reprice

    url = config.oci.price_list_url
    if not url:
        raise PriceSourceUnavailable("oci.priceListURL is empty")
    try:
        with _open(url, config.oci.call_timeout) as response:
            document = json.loads(response.read())
    except (OSError, ValueError) as err:
        raise PriceSourceUnavailable(f"{_where(url)}: {err}") from None
    by_part = parse_price_list(document)
    if not by_part:
        raise PriceSourceUnavailable(f"{_where(url)} lists no USD pay-as-you-go price")
    rates = rates_from(by_part, raw_catalog("oci"))
    return LiveTable("OCI price list", time.time(), reprice=lambda catalog, note: reprice(catalog, rates, note))


FETCHERS: dict[str, Callable[[str, Any], LiveTable]] = {"aws": aws_prices, "gcp": gcp_prices, "oci": oci_prices}
