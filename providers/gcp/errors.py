"""GCE and GKE errors -> the typed failures of providers.base, with the offerings they cover.

Compute Engine reports launch failures in three places, all with the same codes: an
Operation's `error.errors[]`, a managed instance's `lastAttempt.errors.errors[]` (a MIG
accepts a create and then keeps retrying while the zone has no capacity), and HTTP errors
of the call itself. GKE operations carry a `google.rpc.Status` with a message only.

- ZONE_RESOURCE_POOL_EXHAUSTED(_WITH_DETAILS), RESOURCE_POOL_EXHAUSTED: the zone has no
  capacity for this offering -> InsufficientCapacity, scope = (type, capacity type, zone).
- A `*QUOTA*` code: the quota's metric says what it covers. GPU metrics
  (NVIDIA_T4_GPUS) cover every type with that GPU, CPU metrics per family (N2_CPUS), the
  regional CPUS metric the families without their own, PREEMPTIBLE_* only spot, and
  region-wide metrics (INSTANCES, disks, addresses) everything, in every zone of the region.
- rateLimitExceeded and HTTP 429 (and the per-project limit on concurrent operations)
  -> Throttled; the request itself was fine, so it covers only the offering asked for.
Pure: no SDK import; callers pass codes and messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from pricing.types import SPOT, InstanceType
from providers.base import (
    FailureScope,
    InsufficientCapacity,
    ProviderError,
    QuotaExceeded,
    Throttled,
)

CAPACITY_CODES = frozenset(
    {"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"}
)
THROTTLE_CODES = frozenset(
    {"RATELIMITEXCEEDED", "USERRATELIMITEXCEEDED", "RATE_LIMIT_EXCEEDED", "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", "429"}
)
ALREADY_EXISTS_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADYEXISTS", "ALREADY_EXISTS", "409"})
# Families whose vCPUs count against a quota of their own (<FAMILY>_CPUS); the others
# (n1, e2, f1, g1) count against the regional CPUS quota.
OWN_CPU_QUOTA_FAMILIES = frozenset(
    {"n2", "n2d", "n4", "c2", "c2d", "c3", "c3d", "c4", "t2d", "t2a", "a2", "a3", "g2", "m1", "m2", "m3", "h3"}
)
# GCE: "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region us-central1."; GKE: "Insufficient
# regional quota to satisfy request: resource \"CPUS\": request requires '8.0' and is short '4.0'".
_QUOTA_IN_MESSAGE = re.compile(r"[Qq]uota '([A-Za-z0-9_]+)' exceeded|quota to satisfy request: resource \W*([A-Z0-9_]+)")
_REGION_IN_MESSAGE = re.compile(r"\bin region ([a-z]+-[a-z]+\d+)")


@dataclass(frozen=True, slots=True)
class GceError:
    """One error as Compute Engine reports it."""

    code: str
    message: str = ""
    quota_metric: str = ""  # errorDetails[].quotaInfo.metricName, when given
    quota_region: str = ""  # errorDetails[].quotaInfo.dimensions.region


@dataclass(frozen=True, slots=True)
class Offering:
    """What a launch asked for: the failure's scope is worked out relative to it."""

    instance_type: InstanceType
    capacity_type: str
    zone: str
    region: str


def gpu_quota_metric(itype: InstanceType) -> str:
    """The regional GPU quota an instance of this type counts against (NVIDIA_L4_GPUS ...)."""
    model = (itype.gpu_model or "").upper().replace(" ", "_")
    if model == "A100" and (itype.gpu_memory_mib or 0) > 40960:
        model = "A100_80GB"
    return f"NVIDIA_{model}_GPUS" if model else ""


def cpu_quota_metric(itype: InstanceType) -> str:
    family = itype.family.lower()
    return f"{family.upper()}_CPUS" if family in OWN_CPU_QUOTA_FAMILIES else "CPUS"


def quota_scope(metric: str, offering: Offering, types: Iterable[InstanceType]) -> FailureScope:
    """The offerings an exhausted quota covers, in every zone of the region."""
    name = metric.rsplit("/", 1)[-1].upper()
    spot_only = name.startswith("PREEMPTIBLE_")
    base = name.removeprefix("PREEMPTIBLE_")
    capacity = SPOT if spot_only else None
    where = f"in {offering.region}" if offering.region else "in the region"
    label_kind = f"{'spot ' if spot_only else ''}quota {base} {where}"
    if base.endswith("_GPUS"):
        covered = frozenset(t.name for t in types if t.gpu_count and gpu_quota_metric(t) == base)
    elif base.endswith("_CPUS") or base == "CPUS":
        covered = frozenset(t.name for t in types if cpu_quota_metric(t) == base)
    elif base in {"INSTANCES", "CPUS_ALL_REGIONS", "GPUS_ALL_REGIONS"} or "DISK" in base or "SSD" in base or "ADDRESS" in base:
        covered = None  # every type: each node needs an instance, a boot disk, an address
    else:
        covered = None
    if covered is not None:
        covered = covered | {offering.instance_type.name}
    return FailureScope(covered, capacity, None, label_kind)


def classify(errors: list[GceError], offering: Offering, types: Iterable[InstanceType], http_status: int = 0) -> ProviderError:
    """The typed failure for a list of GCE errors (the first that says more than 'other' wins)."""
    types = list(types)
    summary = "; ".join(f"{e.code}: {e.message}" if e.message else e.code for e in errors) or f"HTTP {http_status}"
    where = f"{offering.instance_type.name} {offering.capacity_type} in {offering.zone}"
    for error in errors:
        code = error.code.upper()
        if code in CAPACITY_CODES:
            scope = FailureScope.offering(offering.instance_type.name, offering.capacity_type, offering.zone)
            return InsufficientCapacity(f"no capacity for {where}: {summary}", error.code, offering.zone, (scope,))
    for error in errors:
        code = error.code.upper()
        if code in THROTTLE_CODES or http_status == 429:
            scope = FailureScope.offering(offering.instance_type.name, offering.capacity_type, offering.zone)
            return Throttled(f"Compute Engine throttled the launch of {where}: {summary}", error.code, offering.zone, (scope,))
    for error in errors:
        if "QUOTA" in error.code.upper():
            metric = error.quota_metric or _metric_in_message(error.message)
            scope = quota_scope(metric, offering, types) if metric else FailureScope(
                frozenset({offering.instance_type.name}), offering.capacity_type, None, f"quota in {offering.region}"
            )
            return QuotaExceeded(f"quota exhausted launching {where}: {summary}", error.code, "", (scope,))
    if http_status == 429:
        scope = FailureScope.offering(offering.instance_type.name, offering.capacity_type, offering.zone)
        return Throttled(f"Compute Engine throttled the launch of {where}: {summary}", "429", offering.zone, (scope,))
    code = errors[0].code if errors else str(http_status or "")
    return ProviderError(f"launch of {where} failed: {summary}", code, offering.zone)


def classify_message(message: str, offering: Offering, types: Iterable[InstanceType], http_status: int = 0) -> ProviderError:
    """A GKE operation or HTTP error gives a message only; the GCE code, when it quotes one, decides."""
    codes = [code for code in (*CAPACITY_CODES, "QUOTA_EXCEEDED") if code in message]
    if not codes and _metric_in_message(message):
        codes = ["QUOTA_EXCEEDED"]
    if not codes and re.search(r"rate ?limit|try again|incompatible operation|currently (creating|deleting|upgrading)", message, re.IGNORECASE):
        codes = ["rateLimitExceeded"]  # GKE runs one operation at a time on some resources: retry soon
    errors = [GceError(code, message) for code in codes] or [GceError(str(http_status) if http_status else "UNKNOWN", message)]
    return classify(errors, offering, types, http_status)


def is_already_exists(errors: list[GceError]) -> bool:
    return any(e.code.upper() in ALREADY_EXISTS_CODES or "already exists" in e.message for e in errors)


def _metric_in_message(message: str) -> str:
    match = _QUOTA_IN_MESSAGE.search(message)
    return (match.group(1) or match.group(2)) if match else ""
