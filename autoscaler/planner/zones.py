"""Zone arithmetic for topology spread: how many more matching pods each zone may take."""

from __future__ import annotations

from typing import Mapping, Sequence

from autoscaler.model import SpreadConstraint
from autoscaler.placement.spread import lowest as _global_minimum


def spread_quota(
    constraint: SpreadConstraint,
    wanted: int,
    counts: Mapping[str, int],
    domains: Sequence[str],
    placeable: Sequence[str],
) -> dict[str, int]:
    """Water-fill `wanted` pods that match their own constraint into the `placeable` zones, lowest
    count first, so that every step keeps count + 1 - min(count over `domains`) <= maxSkew.
    Returns zone -> pods it takes; the sum is less than `wanted` when the skew stops it."""
    counts = dict(counts)
    every = set(domains)
    every.update(placeable)
    quota = dict.fromkeys(placeable, 0)
    skew = constraint.max_skew
    for _ in range(wanted):
        lowest = _global_minimum(constraint, counts, every)
        best, best_have = None, 0
        for zone in placeable:
            have = counts.get(zone, 0)
            if have + 1 - lowest <= skew and (best is None or have < best_have):
                best, best_have = zone, have
        if best is None:
            break
        counts[best] = best_have + 1
        quota[best] += 1
    return quota


def spread_allowed(
    constraint: SpreadConstraint, counts: Mapping[str, int], domains: Sequence[str], placeable: Sequence[str]
) -> set[str]:
    """Zones a pod that does not match its own constraint may go to (its placement changes no count,
    so the zone's own count may reach min + maxSkew)."""
    every = set(domains)
    every.update(placeable)
    lowest = _global_minimum(constraint, counts, every)
    return {zone for zone in placeable if counts.get(zone, 0) - lowest <= constraint.max_skew}
