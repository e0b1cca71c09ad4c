"""Back-off of offerings the cloud could not deliver (SPEC §4).

A failure carries the scope the provider gave (providers.base.FailureScope: one offering, a
zone, a family or quota group, a capacity type, the region); the tracker keeps it for a
base duration per kind of failure, doubled for each consecutive failure of the same scope
and capped at `BackoffConfig.max_duration`. It knows nothing of any cloud: what a quota or
a stock-out covers is the provider's call. The planner asks `reason(type, capacity type,
zone)` through `view(now)`.

A failure recorded while its scope is already backed off (another launch of the same batch
failing) does not compound the streak. After a back-off expires, its streak is remembered
for twice its duration, so a failure soon after expiry doubles again; later the streak
starts afresh. Pure: the caller passes the time in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import NamedTuple

from autoscaler.config import BackoffConfig
from providers.base import FailureKind, FailureScope

_REASONS = {
    FailureKind.INSUFFICIENT_CAPACITY: "insufficient capacity",
    FailureKind.QUOTA_EXCEEDED: "quota exceeded",
    FailureKind.LAUNCH_TIMEOUT: "node did not register in time",
    FailureKind.THROTTLED: "cloud API throttled",
    FailureKind.OTHER: "launch failed",
}

_ScopeKey = tuple[frozenset[str] | None, str | None, str | None]


class BackoffState(NamedTuple):
    """One back-off, for metrics: the scope, the kind of failure, and when it ends."""

    scope: FailureScope
    kind: str
    until: float


@dataclass(frozen=True, slots=True)
class _Entry:
    scope: FailureScope
    kind: str
    message: str
    failures: int  # consecutive failures of this scope
    duration: float
    until: float

    @property
    def forget_at(self) -> float:
        return self.until + 2 * self.duration


def _key(scope: FailureScope) -> _ScopeKey:
    return (scope.instance_types, scope.capacity_type, scope.zone)


class BackoffTracker:
    def __init__(self, config: BackoffConfig) -> None:
        self.config = config
        self._entries: dict[_ScopeKey, _Entry] = {}

    def base_duration(self, kind: str) -> float:
        config = self.config
        return {
            FailureKind.INSUFFICIENT_CAPACITY: config.insufficient_capacity,
            FailureKind.QUOTA_EXCEEDED: config.quota_exceeded,
            FailureKind.LAUNCH_TIMEOUT: config.launch_timeout,
        }.get(kind, config.other)

    def record_failure(
        self, scope: FailureScope, kind: str, now: float, message: str = "", base: float | None = None
    ) -> float:
        """Back the scope off; returns how long from now it stays backed off. `base` is the
        provider's own duration for this failure (ProviderError.backoff, e.g. Azure's 23 h for
        a size not offered on demand): it replaces the per-kind one and may exceed the cap."""
        self._forget(now)
        key = _key(scope)
        previous = self._entries.get(key)
        if previous is not None and previous.until > now:
            # Same batch failing again: keep the streak, refresh what is shown.
            self._entries[key] = replace(previous, kind=kind, message=message or previous.message)
            return previous.until - now
        failures = previous.failures + 1 if previous is not None else 1
        first = base if base and base > 0 else self.base_duration(kind)
        duration = min(first * 2 ** (failures - 1), max(self.config.max_duration, first))
        self._entries[key] = _Entry(scope, kind, message, failures, duration, now + duration)
        return duration

    def record_success(self, instance_type: str, capacity_type: str, zone: str) -> None:
        """A node of this offering came up: the streaks of scopes about this type alone end
        (a zone-, family- or region-wide scope is the provider's word and runs its course)."""
        for key, entry in list(self._entries.items()):
            if entry.scope.instance_types == frozenset({instance_type}) and entry.scope.covers(
                instance_type, capacity_type, zone
            ):
                del self._entries[key]

    def reason(self, instance_type: str, capacity_type: str, zone: str, now: float) -> str | None:
        """Why this offering is backed off at `now` (the first scope covering it), or None."""
        for entry in self._entries.values():
            if entry.until > now and entry.scope.covers(instance_type, capacity_type, zone):
                return _describe(entry)
        return None

    def view(self, now: float) -> BackoffView:
        """The planner's input (autoscaler.planner.backoffs.Backoffs) at `now`."""
        self._forget(now)
        return BackoffView(tuple(entry for entry in self._entries.values() if entry.until > now), now)

    def active(self, now: float) -> dict[FailureScope, str]:
        """Back-offs in force at `now`, each with a reason a person can read."""
        self._forget(now)
        return {entry.scope: _describe(entry) for entry in self._sorted() if entry.until > now}

    def snapshot(self, now: float | None = None) -> list[BackoffState]:
        """Every back-off remembered (only those in force at `now`, when given)."""
        return [
            BackoffState(entry.scope, entry.kind, entry.until)
            for entry in self._sorted()
            if now is None or entry.until > now
        ]

    def _sorted(self) -> list[_Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.scope.label, e.until))

    def _forget(self, now: float) -> None:
        for key in [key for key, entry in self._entries.items() if entry.forget_at <= now]:
            del self._entries[key]


@dataclass(frozen=True)
class BackoffView:
    """The back-offs in force at `now`, as they stood when the view was made: a failure
    recorded later is in the next view, not this one (a plan, and an option book made for it,
    answer from one fixed set)."""

    in_force: tuple[_Entry, ...]  # the tracker's order: the first covering entry names the reason
    now: float

    def reason(self, instance_type: str, capacity_type: str, zone: str) -> str | None:
        for entry in self.in_force:
            if entry.scope.covers(instance_type, capacity_type, zone):
                return _describe(entry)
        return None

    def cache_key(self) -> frozenset:
        """What every answer depends on: equal keys, equal answers (plans whose views have
        equal keys share an option book, autoscaler/planner/plan.py)."""
        return frozenset(self.in_force)


def _describe(entry: _Entry) -> str:
    reason = _REASONS.get(entry.kind, entry.kind)
    detail = f" ({entry.message})" if entry.message else ""
    wide = entry.scope.instance_types is None or len(entry.scope.instance_types) > 1
    scope = f" [{entry.scope.label}]" if entry.scope.label and wide else ""
    until = time.strftime("%H:%M:%SZ", time.gmtime(entry.until))
    streak = f", {_ordinal(entry.failures)} failure" if entry.failures > 1 else ""
    return f"{reason}{detail}{scope} until {until}{streak}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
