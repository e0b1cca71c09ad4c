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
    domains = list(dict.fromkeys(list(domains) + list(placeable)))
    quota = {zone: 0 for zone in placeable}
    for _ in range(wanted):
        lowest = _global_minimum(constraint, counts, domains)
        best = None
        for zone in placeable:
            have = counts.get(zone, 0)
            if have + 1 - lowest <= constraint.max_skew and (best is None or have < counts.get(best, 0)):
                best = zone
        if best is None:
            break
        counts[best] = counts.get(best, 0) + 1
        quota[best] += 1
    return quota


def spread_allowed(
    constraint: SpreadConstraint, counts: Mapping[str, int], domains: Sequence[str], placeable: Sequence[str]
) -> set[str]:
    """Zones a pod that does not match its own constraint may go to (its placement changes no count)."""
    domains = list(dict.fromkeys(list(domains) + list(placeable)))
    lowest = _global_minimum(constraint, counts, domains)
    return {zone for zone in placeable if counts.get(zone, 0) + 1 - lowest <= constraint.max_skew}
