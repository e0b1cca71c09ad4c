"""Live prices for the loop: a provider that fetches prices off the loop (optional
`live_catalog(base)` and `price_ages()`) re-prices the embedded catalog; every part that plans
(scale-up, cost estimates, gauges) then uses the same catalog. It returns the provider's last
answer, never blocks, and never stops the loop: on any failure the embedded catalog answers."""

from __future__ import annotations

import logging
from typing import Callable

from autoscaler.metrics import Metrics
from pricing.types import RegionCatalog
from providers.base import Provider

log = logging.getLogger("smart_autoscaler.prices")


class LivePrices:
    def __init__(
        self,
        provider: Callable[[], Provider],
        embedded: RegionCatalog,
        metrics: Metrics,
        use: Callable[[RegionCatalog], None],
    ) -> None:
        self._provider = provider
        self.embedded = embedded
        self.current = embedded
        self._metrics = metrics
        self._use = use

    def refresh(self) -> None:
        provider = self._provider()
        live_catalog = getattr(provider, "live_catalog", None)
        if live_catalog is None:
            return
        try:
            catalog = live_catalog(self.embedded)
            ages = getattr(provider, "price_ages", dict)()
        except Exception:  # noqa: BLE001 - prices must never stop the loop
            log.exception("live prices failed; the embedded catalog answers")
            catalog, ages = self.embedded, {}
        for source, age in ages.items():
            self._metrics.price_age.labels(source).set(age)
        if catalog is not self.current:
            self.current = catalog
            self._use(catalog)
