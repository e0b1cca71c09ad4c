"""Live OCI list prices, refreshed off the loop; the embedded catalog answers otherwise.

A background thread reads OCI's public price list (`oci.priceListURL`, no credentials) every
`oci.priceRefreshInterval`, with a timeout; a failed read keeps the last good figures, and
figures older than four intervals are dropped, so the embedded catalog answers again. Nothing
is fetched at start: until the first read the embedded catalog is the answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any, Callable

from cachetools import TTLCache

from pricing.catalog import raw_catalog
from pricing.oci_prices import OciRates, parse_price_list, rates_from, reprice
from pricing.types import RegionCatalog

log = logging.getLogger(__name__)
SOURCE = "oci-price-list"


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a configured https address
        return response.read()


class LivePrices:
    def __init__(
        self, url: str, period: float, timeout: float, fetch: Callable[[str, float], bytes] = _fetch
    ) -> None:
        self.url = url
        self.period = max(1.0, period)
        self.timeout = timeout
        self.fetch = fetch
        self._rates: TTLCache = TTLCache(maxsize=1, ttl=4 * self.period, timer=time.monotonic)
        self._updated: float | None = None
        self._generation = 0
        self._built: tuple[int, int, RegionCatalog] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.url:
            self._thread = threading.Thread(target=self._run, name="oci-prices", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.period)

    def refresh(self) -> bool:
        """Read the price list once; False (and the last figures kept) when that fails."""
        try:
            document: Any = json.loads(self.fetch(self.url, self.timeout))
            rates = rates_from(parse_price_list(document), raw_catalog("oci"))
        except Exception as err:  # noqa: BLE001 - any failure: keep the last figures
            log.warning("reading the OCI price list failed (the last figures or the embedded catalog answer): %s", err)
            return False
        with self._lock:
            self._rates["rates"] = rates
            self._updated = time.monotonic()
            self._generation += 1
        return True

    def catalog(self, base: RegionCatalog) -> RegionCatalog:
        """`base` re-priced from the last good price list; `base` itself when there is none."""
        with self._lock:
            rates: OciRates | None = self._rates.get("rates")
            if not rates:
                return base
            built = self._built
            if built is not None and built[0] == self._generation and built[1] == id(base):
                return built[2]
            catalog = reprice(base, rates, "OCI price list")
            self._built = (self._generation, id(base), catalog)
            return catalog

    def ages(self) -> dict[str, float]:
        with self._lock:
            fresh = self._rates.get("rates") is not None and self._updated is not None
            return {SOURCE: time.monotonic() - self._updated if fresh else -1.0}
