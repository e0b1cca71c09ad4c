"""Live OCI list prices, refreshed off the loop; the embedded catalog answers otherwise.

A background thread reads OCI's public price list (`oci.priceListURL`, no credentials) every
`oci.priceRefreshInterval`, with a timeout; a failed read keeps the last good figures, and
figures older than four intervals are dropped, so the embedded catalog answers again. Nothing
is fetched at start: until the first read the embedded catalog is the answer.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any, Callable

from pricing.catalog import raw_catalog
from pricing.oci_prices import OciRates, parse_price_list, rates_from, reprice
from pricing.types import RegionCatalog
from providers.refresher import RefreshedSources

log = logging.getLogger(__name__)
SOURCE = "oci-price-list"


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a configured https address
        return response.read()


class LivePrices(RefreshedSources):
    failure_log = "reading the OCI price list (%s) failed (the last figures or the embedded catalog answer): %s"

    def __init__(
        self, url: str, period: float, timeout: float, fetch: Callable[[str, float], bytes] = _fetch
    ) -> None:
        period = max(1.0, period)
        super().__init__((SOURCE,), period, 4 * period, "oci-prices", log)
        self.url = url
        self.timeout = timeout
        self.fetch = fetch

    def start(self) -> None:
        if self.url:
            super().start()

    def refresh(self) -> bool:
        """Read the price list once; False (and the last figures kept) when that fails."""
        return self.refresh_sources({SOURCE: self._rates})

    def _rates(self) -> OciRates:
        document: Any = json.loads(self.fetch(self.url, self.timeout))
        return rates_from(parse_price_list(document), raw_catalog("oci"))

    def catalog(self, base: RegionCatalog) -> RegionCatalog:
        """`base` re-priced from the last good price list; `base` itself when there is none."""
        rates: OciRates | None = self.figure(SOURCE)
        if not rates:
            return base
        return self.built(base, lambda figures: reprice(base, figures[SOURCE], "OCI price list") if figures[SOURCE] else base)
