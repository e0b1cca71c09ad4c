"""Figures from named price sources, refreshed by one background thread off the loop.

A provider's live prices subclass RefreshedSources: `refresh()` fetches every source once
(through `refresh_sources`), a failing source keeps its previous figures, and figures not
refreshed within `ttl` are dropped so the embedded catalog answers again. The loop only
reads: `ages()` for the price-age metric and `built(base, build)` for the catalog, which is
built once per change of the figures. Nothing runs until `start()`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from cachetools import TTLCache

from pricing.types import RegionCatalog

FAILED = "refreshing %s failed (the last figures or the embedded catalog answer): %s"


class RefreshedSources:
    failure_log = FAILED  # %s source, %s error

    def __init__(
        self,
        sources: tuple[str, ...],
        period: float,
        ttl: float,
        thread_name: str,
        log: logging.Logger,
        failures: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self.sources = sources
        self.period = period
        self.thread_name = thread_name
        self.log = log
        self.failures = failures  # what a failing source may raise; anything else is a bug
        self._figures: TTLCache = TTLCache(maxsize=len(sources), ttl=ttl, timer=time.monotonic)
        self._updated: dict[str, float] = {}
        self._generation = 0
        self._built: tuple[int, int, RegionCatalog] | None = None  # (generation, id(base), catalog)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- refreshing (the background thread)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.period)

    def refresh(self) -> bool:
        raise NotImplementedError

    def refresh_sources(self, loaders: dict[str, Callable[[], Any]]) -> bool:
        """Fetch each source once; a failing source keeps its previous figures, and a source
        answering None changes nothing. True when none failed."""
        answered = True
        for source, load in loaders.items():
            try:
                value = load()
            except self.failures as err:
                self.log.warning(self.failure_log, source, err)
                answered = False
                continue
            if value is not None:
                self.store(source, value)
        return answered

    def store(self, source: str, value: Any) -> None:
        with self._lock:
            self._figures[source] = value
            self._updated[source] = time.monotonic()
            self._generation += 1

    # ---- reading (the loop and launches)

    def figure(self, source: str) -> Any:
        with self._lock:
            return self._figures.get(source)

    def fresh(self, source: str, max_age: float) -> bool:
        """The source has figures fetched less than `max_age` seconds ago."""
        with self._lock:
            return source in self._figures and time.monotonic() - self._updated[source] < max_age

    def ages(self) -> dict[str, float]:
        """Seconds since each source's figures were fetched; -1 = the embedded catalog answers."""
        now = time.monotonic()
        with self._lock:
            return {source: (now - self._updated[source]) if source in self._figures else -1.0 for source in self.sources}

    def built(self, base: RegionCatalog, build: Callable[[dict[str, Any]], RegionCatalog]) -> RegionCatalog:
        """`build(figures per source)` for `base`: the same object until the figures (or `base`) change."""
        with self._lock:
            if self._built is not None and self._built[:2] == (self._generation, id(base)):
                return self._built[2]
            figures = {source: self._figures.get(source) for source in self.sources}
            generation = self._generation
        catalog = build(figures)
        with self._lock:
            self._built = (generation, id(base), catalog)
        return catalog
