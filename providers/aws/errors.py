"""EC2 error codes -> typed failures with the offerings they cover (DESIGN.md: the provider
maps its cloud's errors onto kind AND scope; the core holds no cloud knowledge).

| code | failure | scope |
|---|---|---|
| InsufficientInstanceCapacity, InsufficientHostCapacity, InsufficientReservedInstanceCapacity, UnfulfillableCapacity, SpotMaxPriceTooLow, ReservationCapacityExceeded | InsufficientCapacity | the offering (type, capacity type, zone) |
| Unsupported | InsufficientCapacity | the type in that zone, both capacity types |
| InsufficientFreeAddressesInSubnet | InsufficientCapacity | the zone (its subnet is full): every type, both capacity types |
| MaxSpotInstanceCountExceeded | QuotaExceeded | spot in the region |
| VcpuLimitExceeded, InstanceLimitExceeded | QuotaExceeded | the type's vCPU quota group, for its capacity type, in the region |
| MaxFleetCountExceeded | QuotaExceeded | the region |
| RequestLimitExceeded, Throttling | Throttled | the region (the SDK's retries are already spent) |
| anything else | ProviderError (other) | the offering; the AWS code is in the message |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from providers.base import FailureScope, InsufficientCapacity, ProviderError, QuotaExceeded, Throttled

SPOT = "spot"

# EC2's vCPU quotas group instance families by the letters their names start with. On-Demand
# quotas (Service Quotas "Running On-Demand <group> instances") and Spot quotas ("All <group>
# Spot Instance Requests") use the same groups; High Memory and HPC exist for On-Demand only.
QUOTA_GROUPS: dict[str, tuple[str, ...]] = {
    "Standard (A, C, D, H, I, M, R, T, Z)": ("a", "c", "d", "h", "i", "m", "r", "t", "z"),
    "F": ("f",),
    "G and VT": ("g", "vt"),
    "Inf": ("inf",),
    "P": ("p",),
    "X": ("x",),
    "DL": ("dl",),
    "Trn": ("trn",),
    "High Memory": ("u",),
    "HPC": ("hpc",),
}
SPOT_QUOTA_GROUPS = tuple(name for name in QUOTA_GROUPS if name not in ("High Memory", "HPC"))
_GROUP_BY_CLASS = {cls: name for name, classes in QUOTA_GROUPS.items() for cls in classes}
# Class prefixes that are spelled longer than their quota letter (im4gn, is4gen: I; gr6: G).
_CLASS_ALIASES = {"im": "i", "is": "i", "gr": "g", "cr": "r", "cc": "c"}

CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacity",
        "UnfulfillableCapacity",
        "SpotMaxPriceTooLow",
        "ReservationCapacityExceeded",
    }
)
VCPU_QUOTA_CODES = frozenset({"VcpuLimitExceeded", "InstanceLimitExceeded"})
THROTTLE_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"})


def quota_group(instance_type: str, capacity_type: str = "on-demand") -> str | None:
    """The vCPU quota group of a type ("m5.large" -> "Standard (A, C, D, H, I, M, R, T, Z)"),
    or None for types outside the vCPU quotas (mac hosts) or groups the capacity type lacks."""
    match = re.match(r"[a-z]+", instance_type.lower())
    if not match:
        return None
    letters = match.group()
    cls = _CLASS_ALIASES.get(letters, letters)
    group = _GROUP_BY_CLASS.get(cls)
    if group is None and cls not in ("mac",) and cls[:1] in QUOTA_GROUPS["Standard (A, C, D, H, I, M, R, T, Z)"]:
        group = "Standard (A, C, D, H, I, M, R, T, Z)"
    if group is not None and capacity_type == SPOT and group not in SPOT_QUOTA_GROUPS:
        return None
    return group


@dataclass(frozen=True)
class ErrorContext:
    """What the failed call asked for: the offering, and the types the region sells (for a
    quota group's members)."""

    instance_type: str
    capacity_type: str
    zone: str | None
    region: str
    known_types: frozenset[str] = frozenset()


def quota_group_scope(ctx: ErrorContext) -> FailureScope:
    group = quota_group(ctx.instance_type, ctx.capacity_type)
    if group is None:  # no group known: the type itself, in every zone
        return FailureScope(frozenset({ctx.instance_type}), ctx.capacity_type, None, f"{ctx.instance_type} {ctx.capacity_type} vCPU quota")
    members = {name for name in ctx.known_types if quota_group(name, ctx.capacity_type) == group}
    members.add(ctx.instance_type)
    return FailureScope(frozenset(members), ctx.capacity_type, None, f"{ctx.capacity_type} vCPU quota group {group} in {ctx.region}")


def provider_error(code: str, message: str, ctx: ErrorContext) -> ProviderError:
    """The typed failure for an EC2 error code, scoped as the table above says."""
    text = f"{code}: {message}" if message else code
    zone = ctx.zone or ""
    offering = FailureScope.offering(ctx.instance_type, ctx.capacity_type, ctx.zone)
    if code in CAPACITY_CODES:
        return InsufficientCapacity(text, code=code, zone=zone, scopes=(offering,))
    if code == "Unsupported":
        where = ctx.zone or "the region"
        scope = FailureScope(frozenset({ctx.instance_type}), None, ctx.zone, f"{ctx.instance_type} not offered in {where}")
        return InsufficientCapacity(text, code=code, zone=zone, scopes=(scope,))
    if code == "InsufficientFreeAddressesInSubnet":
        scope = FailureScope(None, None, ctx.zone, f"no free addresses in the subnet of {ctx.zone or 'the zone'}")
        return InsufficientCapacity(text, code=code, zone=zone, scopes=(scope,))
    if code == "MaxSpotInstanceCountExceeded":
        return QuotaExceeded(text, code=code, scopes=(FailureScope(None, SPOT, None, f"spot in {ctx.region}"),))
    if code in VCPU_QUOTA_CODES:
        return QuotaExceeded(text, code=code, scopes=(quota_group_scope(ctx),))
    if code == "MaxFleetCountExceeded":
        return QuotaExceeded(text, code=code, scopes=(FailureScope(None, None, None, f"EC2 Fleet count in {ctx.region}"),))
    if code in THROTTLE_CODES:
        return Throttled(text, code=code, scopes=(FailureScope(None, None, None, f"EC2 API in {ctx.region}"),))
    return ProviderError(text, code=code, zone=zone, scopes=(offering,))


def combined_failure(errors: Iterable[ProviderError]) -> ProviderError:
    """One exception for a fleet that delivered nothing: the kind of the first override's
    error (the cheapest offering's), the scopes of every override's error, and `errors` with
    each typed failure so a caller can back each off with its own kind."""
    errors = list(errors)
    first = errors[0]
    scopes = tuple(dict.fromkeys(scope for err in errors for scope in err.scopes))
    codes = ", ".join(dict.fromkeys(err.code for err in errors if err.code))
    message = "; ".join(dict.fromkeys(str(err) for err in errors))
    zones = {err.zone for err in errors}
    zone = zones.pop() if len(zones) == 1 else ""  # several zones failed: the error is not one zone's
    combined = type(first)(f"no instance from {len(errors)} fleet error(s) [{codes}]: {message}", code=first.code, zone=zone, scopes=scopes)
    combined.causes = tuple(errors)
    return combined
