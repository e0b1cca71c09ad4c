"""OCI's error codes as the provider interface's typed failures, each with the offerings it covers.

OCI answers a stock-out with 500 InternalError "Out of host capacity." — for a node pool it
arrives in the work request's errors and the node's `nodeError`, in the same words. Service
limits (LimitExceeded: core or GPU counts per shape generation, most of them per availability
domain) and compartment quotas (QuotaExceeded) cover every shape of one generation, VM and
bare metal alike ("standard-e4-core-count" counts VM.Standard.E4.Flex and BM.Standard.E4.128).
Pure: no SDK import, so the mapping is tested with plain values.
"""

from __future__ import annotations

from typing import Iterable

from providers.base import FailureScope, InsufficientCapacity, ProviderError, QuotaExceeded, Throttled
from pricing.types import ON_DEMAND

OUT_OF_HOST_CAPACITY = "out of host capacity"


def quota_group(shape: str) -> str:
    """The shape generation OCI counts limits and quotas by: `VM.Standard.E4.Flex` and
    `BM.Standard.E4.128` -> `Standard.E4`; `VM.GPU.A10.1` -> `GPU.A10`; `VM.GPU3.4` -> `GPU3`."""
    parts = shape.split(".")
    if len(parts) >= 3 and parts[0] in ("VM", "BM"):
        return ".".join(parts[1:-1])
    return shape


def zone_of(availability_domain: str) -> str:
    """`Uocm:US-ASHBURN-AD-1` -> `US-ASHBURN-AD-1` (the tenancy prefix differs per tenancy)."""
    return availability_domain.split(":", 1)[-1]


def failure(
    status: int,
    code: str,
    message: str,
    shape: str,
    capacity_type: str,
    availability_domain: str = "",
    known_shapes: Iterable[str] = (),
) -> ProviderError:
    """The typed failure for one OCI error about launching `shape` as `capacity_type`."""
    zone = zone_of(availability_domain) if availability_domain else ""
    where = f" in {zone}" if zone else ""
    text = f"OCI {status} {code}: {message}".strip()
    if OUT_OF_HOST_CAPACITY in message.lower() or code == "OutOfHostCapacity":
        # No host for this shape here: on-demand stock-outs cover preemptible capacity too.
        kinds = (None,) if capacity_type == ON_DEMAND else (capacity_type,)
        scopes = tuple(
            FailureScope(frozenset({shape}), kind, zone or None, f"{shape}/{kind or 'any capacity'}/{zone or 'every AD'}")
            for kind in kinds
        )
        return InsufficientCapacity(f"{text} ({shape}{where})", code or "InternalError", zone, scopes)
    if code in ("LimitExceeded", "QuotaExceeded"):
        group = quota_group(shape)
        members = frozenset({name for name in known_shapes if quota_group(name) == group} | {shape})
        # service limits count per availability domain; compartment quotas per region
        limit_zone = zone if code == "LimitExceeded" and zone else None
        what = "service limit" if code == "LimitExceeded" else "compartment quota"
        label = f"{what} for {group} shapes in {limit_zone or 'the region'}"
        return QuotaExceeded(f"{text} ({label})", code, zone, (FailureScope(members, None, limit_zone, label),))
    if status == 429 or code == "TooManyRequests":
        return Throttled(text, code or "TooManyRequests", zone)
    return ProviderError(text, code or str(status), zone)


def from_service_error(err: object, shape: str, capacity_type: str, availability_domain: str = "", known_shapes: Iterable[str] = ()) -> ProviderError:
    """The same for an `oci.exceptions.ServiceError` (status, code, message attributes)."""
    return failure(
        int(getattr(err, "status", 0) or 0),
        str(getattr(err, "code", "") or ""),
        str(getattr(err, "message", "") or ""),
        shape,
        capacity_type,
        availability_domain,
        known_shapes,
    )
