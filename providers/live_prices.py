"""The optional live-price methods of a provider whose prices come from a background refresher."""

from __future__ import annotations

from typing import Any

from pricing.types import RegionCatalog


class LivePriceMethods:
    """`live_catalog`, `price_ages` and `close` over `self.prices` (start(), stop(), catalog(base),
    ages(); None when the provider has no live prices). `self._start_prices` False: never start
    the refresher (tests refresh by hand)."""

    prices: Any
    _start_prices: bool

    def live_catalog(self, base: RegionCatalog) -> RegionCatalog:
        """The loop's offerings: `base` with the live figures fetched so far (never waits for
        them). The first call starts the background refresher, so a provider built only to
        check the configuration starts no thread."""
        if self.prices is None:
            return base
        if self._start_prices:
            self.prices.start()
        return self.prices.catalog(base)

    def price_ages(self) -> dict[str, float]:
        return self.prices.ages() if self.prices is not None else {}

    def close(self) -> None:
        if self.prices is not None:
            self.prices.stop()
