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
        if not self.entries:  # most plans: asked for every zone of every offering
            return None
        return self.entries.get((instance_type, capacity_type, zone)) or self.entries.get(
            (instance_type, capacity_type, "")
        )

    def cache_key(self) -> frozenset:
        return frozenset(self.entries.items())


def as_backoffs(value: Backoffs | Mapping[tuple[str, str, str], str] | None) -> Backoffs:
    if isinstance(value, Backoffs):
        return value
    return KeyedBackoffs(value)


def backoffs_key(value: Backoffs | Mapping[tuple[str, str, str], str] | None) -> object:
    """A hashable value standing for what these back-offs answer: equal keys, equal answers.
    Back-offs objects give theirs (`cache_key()`); a mapping is its items. TypeError when
    there is none (the caller then cannot reuse anything made with them)."""
    if value is None:
        return frozenset()
    key = getattr(value, "cache_key", None)
    if key is not None:
        return key()
    if isinstance(value, Mapping):
        return frozenset(value.items())
    raise TypeError(f"back-offs of type {type(value).__name__} give no cache key")
