"""The planner's back-off input: which offerings it must leave out now, and why.

The loop's tracker answers `reason(instance_type, capacity_type, zone)` from the scopes the
providers gave (autoscaler/loop/backoff.py). Plain data works too: a mapping of
(instance type, capacity type, zone) to a reason, where zone "" means every zone.
"""

from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable


@runtime_checkable
class Backoffs(Protocol):
    def reason(self, instance_type: str, capacity_type: str, zone: str) -> str | None:
        """Why this offering is backed off now, or None when it may be used."""
        ...


class KeyedBackoffs:
    """Back-offs as a mapping of (type, capacity type, zone; "" = every zone) to a reason."""

    def __init__(self, entries: Mapping[tuple[str, str, str], str] | None = None) -> None:
        self.entries = dict(entries or {})

    def reason(self, instance_type: str, capacity_type: str, zone: str) -> str | None:
        return self.entries.get((instance_type, capacity_type, zone)) or self.entries.get(
            (instance_type, capacity_type, "")
        )


def as_backoffs(value: Backoffs | Mapping[tuple[str, str, str], str] | None) -> Backoffs:
    if isinstance(value, Backoffs):
        return value
    return KeyedBackoffs(value)
