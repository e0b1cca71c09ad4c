"""Azure's failures as the provider interface's typed failures, each with its scope.

Codes come from the top-level error, its details, and `Code="..."` inside messages (AKS
wraps the scale set's error in its own). Scopes and default back-off durations follow what
the Azure Karpenter provider learned (all configurable under `azure.*`):

- SkuNotAvailable: the size is not offered here for this subscription: the offering, 1 h for
  Spot and 23 h on demand (it rarely comes back within a day);
- AllocationFailed, OverconstrainedAllocationRequest: no capacity for the size: the offering
  in every zone, 1 h; the Zonal variants name a zone: the offering in that zone, 1 h;
- OperationNotAllowed / QuotaExceeded on a cores quota, 10 min: "LowPriorityCores" covers
  every Spot offering in the region, "<family> Cores quota" every size of that VM family,
  "Total Regional Cores quota" every size of the capacity type in the region;
- HTTP 429: throttled, every offering (ARM throttles the subscription, not a size), for as
  long as Retry-After says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from providers.base import FailureScope, InsufficientCapacity, ProviderError, QuotaExceeded, Throttled
from providers.azure.names import Offering

CAPACITY_CODES = {
    "SkuNotAvailable": False,
    "AllocationFailed": False,
    "OverconstrainedAllocationRequest": False,
    "ZonalAllocationFailed": True,  # True: the failure is about one zone
    "OverconstrainedZonalAllocationRequest": True,
}
QUOTA_CODES = ("OperationNotAllowed", "QuotaExceeded")
_INNER_CODE = re.compile(r"""Code\s*[=:]\s*\\?["']?([A-Za-z]+)""")
_FAMILY_QUOTA = re.compile(r"approved (\w+) Cores quota", re.IGNORECASE)


@dataclass(frozen=True)
class BackoffDurations:
    allocation_failed: float = 3600.0
    sku_not_available_spot: float = 3600.0
    sku_not_available_on_demand: float = 23 * 3600.0
    quota: float = 600.0


def error_codes(err: Any) -> list[str]:
    """Every error code an Azure SDK exception carries, outermost first."""
    codes: list[str] = []
    error = getattr(err, "error", None)
    stack = [error] if error is not None else []
    while stack:
        item = stack.pop(0)
        code = getattr(item, "code", None)
        if code:
            codes.append(str(code))
        stack.extend(getattr(item, "details", None) or [])
        inner = getattr(item, "innererror", None)
        if isinstance(inner, dict) and inner.get("code"):
            codes.append(str(inner["code"]))
    codes.extend(_INNER_CODE.findall(error_text(err)))
    return list(dict.fromkeys(codes))


def error_text(err: Any) -> str:
    parts = [str(err)]
    error = getattr(err, "error", None)
    for item in [error, *(getattr(error, "details", None) or [])]:
        if item is not None and getattr(item, "message", None):
            parts.append(str(item.message))
    return " ".join(parts)


def retry_after(err: Any) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def failure_from(
    err: Any,
    offering: Offering,
    region: str,
    family_sizes: Callable[[str], frozenset[str]],
    durations: BackoffDurations,
    what: str,
) -> ProviderError:
    """The typed failure for an Azure SDK exception raised while `what` for `offering`."""
    codes = error_codes(err)
    text = error_text(err)
    status = getattr(err, "status_code", None)
    summary = f"{what}: {_first_line(text)}"
    where = offering.zone or region
    if status == 429 or "TooManyRequests" in codes:
        scope = FailureScope(label=f"Azure Resource Manager requests in {region}")
        return Throttled(summary, "TooManyRequests", scopes=(scope,), backoff=retry_after(err))
    for code in codes:
        if code in CAPACITY_CODES:
            zonal = CAPACITY_CODES[code]
            # the Zonal codes name one zone; the others are the size's exhaustion in every zone
            # (Azure/karpenter-provider-azure, handleAllocationFailureError: "region-wide for the
            # requested scope", the zonal offerings)
            scope = FailureScope.offering(offering.vm_size, offering.capacity_type, (offering.zone or None) if zonal else None)
            where = where if zonal else region
            if code == "SkuNotAvailable":
                backoff = durations.sku_not_available_spot if offering.spot else durations.sku_not_available_on_demand
            else:
                backoff = durations.allocation_failed
            label = f"{offering.vm_size}/{offering.capacity_type} in {'zone ' if zonal else ''}{where}"
            return InsufficientCapacity(
                summary, code, zone=offering.zone, scopes=(replace(scope, label=label),), backoff=backoff
            )
    if any(code in QUOTA_CODES for code in codes) or "quota" in text.lower():
        scope = _quota_scope(text, offering, region, family_sizes)
        if scope is not None:
            code = next((c for c in codes if c in QUOTA_CODES), "QuotaExceeded")
            return QuotaExceeded(summary, code, scopes=(scope,), backoff=durations.quota)
    code = codes[0] if codes else (f"HTTP{status}" if status else type(err).__name__)
    return ProviderError(f"{summary} (Azure code {code})", code)


def _quota_scope(
    text: str, offering: Offering, region: str, family_sizes: Callable[[str], frozenset[str]]
) -> FailureScope | None:
    if "LowPriorityCores" in text or "low priority cores" in text.lower():
        return FailureScope(None, "spot", None, f"Spot (low-priority) cores quota in {region}")
    if "Total Regional Cores quota" in text or "Total Regional" in text:
        return FailureScope(None, offering.capacity_type, None, f"total regional cores quota in {region}")
    family = _FAMILY_QUOTA.search(text)
    if family:
        name = family.group(1)
        sizes = family_sizes(name) or frozenset({offering.vm_size})
        return FailureScope(sizes | {offering.vm_size}, offering.capacity_type, None, f"{name} cores quota in {region}")
    return None


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def family_index(specs: list[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """VM family (as quota messages name it, e.g. standardEASv5Family) -> its sizes."""
    families: dict[str, set[str]] = {}
    for spec in specs:
        family = spec.get("sku_family") or spec.get("family")
        if family:
            families.setdefault(str(family).lower(), set()).add(spec["name"])
    return {name: frozenset(sizes) for name, sizes in families.items()}
