"""Back-off of offerings the cloud could not deliver (SPEC §4).

When a launch fails with insufficient capacity, an exhausted quota or a node that never
registered, the (instance type, capacity type, zone) offering is left out of planning for
a while: a base duration per kind of failure, doubled for each consecutive failure of the
same offering and capped at `BackoffConfig.max_duration`. The planner receives `active()`
as `plan(..., backoffs=...)`.

Quota errors cover a whole region, not a zone, so they back off the offering in every zone
(zone ""). A failure recorded while the offering is already backed off (another launch of
the same batch failing) does not compound the streak. After a back-off expires, its streak
is remembered for twice its duration, so a failure soon after expiry doubles again; later
the streak starts afresh. Pure: the caller passes the time in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import NamedTuple

from autoscaler.config import BackoffConfig
from autoscaler.planner.options import OfferingKey
from providers.base import FailureKind

_REASONS = {
    FailureKind.INSUFFICIENT_CAPACITY: "insufficient capacity",
    FailureKind.QUOTA_EXCEEDED: "quota exceeded",
    FailureKind.LAUNCH_TIMEOUT: "node did not register in time",
    FailureKind.THROTTLED: "cloud API throttled",
    FailureKind.OTHER: "launch failed",
}


class BackoffState(NamedTuple):
    """One back-off, for metrics: the offering, the kind of failure, and when it ends."""

    key: OfferingKey
    kind: str
    until: float


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str
    message: str
    failures: int  # consecutive failures of this offering
    duration: float
    until: float

    @property
    def forget_at(self) -> float:
        return self.until + 2 * self.duration


def backoff_key(key: OfferingKey, kind: str) -> OfferingKey:
    """The offering a failure backs off: quota errors apply in every zone."""
    instance_type, capacity_type, zone = key
    return (instance_type, capacity_type, "" if kind == FailureKind.QUOTA_EXCEEDED else zone)


class BackoffTracker:
    def __init__(self, config: BackoffConfig) -> None:
        self.config = config
        self._entries: dict[OfferingKey, _Entry] = {}

    def base_duration(self, kind: str) -> float:
        config = self.config
        return {
            FailureKind.INSUFFICIENT_CAPACITY: config.insufficient_capacity,
            FailureKind.QUOTA_EXCEEDED: config.quota_exceeded,
            FailureKind.LAUNCH_TIMEOUT: config.launch_timeout,
        }.get(kind, config.other)

    def record_failure(self, key: OfferingKey, kind: str, now: float, message: str = "") -> float:
        """Back the offering off; returns how long from now it stays backed off."""
        self._forget(now)
        key = backoff_key(key, kind)
        previous = self._entries.get(key)
        if previous is not None and previous.until > now:
            # Same batch failing again: keep the streak, refresh what is shown.
            self._entries[key] = replace(previous, kind=kind, message=message or previous.message)
            return previous.until - now
        failures = previous.failures + 1 if previous is not None else 1
        duration = min(self.base_duration(kind) * 2 ** (failures - 1), self.config.max_duration)
        self._entries[key] = _Entry(kind, message, failures, duration, now + duration)
        return duration

    def record_success(self, key: OfferingKey) -> None:
        """A node of this offering came up: its streak (and an every-zone one) ends."""
        self._entries.pop(key, None)
        self._entries.pop((key[0], key[1], ""), None)

    def active(self, now: float) -> dict[OfferingKey, str]:
        """Back-offs in force at `now`, each with a reason a person can read."""
        self._forget(now)
        return {key: _describe(entry) for key, entry in sorted(self._entries.items()) if entry.until > now}

    def snapshot(self, now: float | None = None) -> list[BackoffState]:
        """Every back-off remembered (only those in force at `now`, when given)."""
        return [
            BackoffState(key, entry.kind, entry.until)
            for key, entry in sorted(self._entries.items())
            if now is None or entry.until > now
        ]

    def _forget(self, now: float) -> None:
        for key in [key for key, entry in self._entries.items() if entry.forget_at <= now]:
            del self._entries[key]


def _describe(entry: _Entry) -> str:
    reason = _REASONS.get(entry.kind, entry.kind)
    detail = f" ({entry.message})" if entry.message else ""
    until = time.strftime("%H:%M:%SZ", time.gmtime(entry.until))
    streak = f", {_ordinal(entry.failures)} failure" if entry.failures > 1 else ""
    return f"{reason}{detail} until {until}{streak}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
