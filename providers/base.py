"""The provider interface (DESIGN.md): offerings, launch, terminate, list owned instances.

A provider turns a launch request into cloud API calls and maps the cloud's errors onto
the typed failures below, so the back-off tracker can react. It never decides which type
to launch: the planner does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from pricing.types import InstanceType, Taint

# Tags every launched instance carries, so a restarted autoscaler adopts what it launched.
TAG_CLUSTER = "smart-autoscaler.io/cluster"
TAG_REQUEST = "smart-autoscaler.io/request-id"
TAG_ROLE = "smart-autoscaler.io/node-type"
TAG_CAPACITY = "smart-autoscaler.io/capacity-type"


def provider_id_key(provider_id: str) -> str:
    """The key a Node's `spec.providerID` and an Instance's `provider_id` are matched by: the
    optional `<cloud>://` scheme dropped and case folded. OKE registers nodes with the bare
    instance OCID by default (oracle/cluster-api-provider-oci's OKE cloud-init passes no
    `--provider-id`), and the Cluster Autoscaler's OCI code trims an optional `oci://` for that
    reason; Azure answers resource group names in another case than AKS's providerIDs."""
    _, scheme, rest = provider_id.partition("://")
    return (rest if scheme else provider_id).lower()


class FailureKind:
    INSUFFICIENT_CAPACITY = "insufficient-capacity"
    QUOTA_EXCEEDED = "quota-exceeded"
    LAUNCH_TIMEOUT = "launch-timeout"
    THROTTLED = "throttled"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FailureScope:
    """Which offerings a failure covers, as the provider that knows its cloud says.

    A field left None covers every value: `FailureScope(instance_types=None,
    capacity_type="spot", zone=None)` is "all spot in the region" (e.g. AWS
    MaxSpotInstanceCountExceeded); `instance_types=frozenset({...every type of the
    quota group...})` with zone None is an AWS vCPU quota group. `label` names the scope for
    people ("offering m5.large/spot/us-east-1a", "vCPU quota group Standard", "spot in
    us-east-1"). The back-off tracker keeps scopes; the core never works them out itself.
    """

    instance_types: frozenset[str] | None = None
    capacity_type: str | None = None
    zone: str | None = None
    label: str = ""

    @classmethod
    def offering(cls, instance_type: str, capacity_type: str, zone: str | None) -> FailureScope:
        where = zone or "every zone"
        return cls(frozenset({instance_type}), capacity_type, zone or None, f"{instance_type}/{capacity_type}/{where}")

    def covers(self, instance_type: str, capacity_type: str, zone: str) -> bool:
        return (
            (self.instance_types is None or instance_type in self.instance_types)
            and (self.capacity_type is None or self.capacity_type == capacity_type)
            and (self.zone is None or self.zone == zone)
        )


class ProviderError(Exception):
    """A failed cloud call. `kind` is one of FailureKind; `code` is the cloud's own error code.

    `scopes` say what the failure covers (see FailureScope); empty means the provider could
    not tell, and the loop backs off the offering it asked for in the zones it offered.
    `backoff` is how long (seconds) the provider's cloud says to leave those scopes alone
    (e.g. Azure: a SKU not available on demand for 23 h); None leaves it to `BackoffConfig`.
    """

    kind = FailureKind.OTHER

    def __init__(
        self,
        message: str,
        code: str = "",
        zone: str = "",
        scopes: tuple[FailureScope, ...] = (),
        backoff: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.zone = zone  # the zone the failure is about, when the cloud says
        self.scopes = tuple(scopes)
        self.backoff = backoff
        # The separate failures one call gathered (e.g. every CreateFleet override's error),
        # each with its own kind and scopes; empty for a single failure.
        self.causes: tuple[ProviderError, ...] = ()


class InsufficientCapacity(ProviderError):
    kind = FailureKind.INSUFFICIENT_CAPACITY


class QuotaExceeded(ProviderError):
    kind = FailureKind.QUOTA_EXCEEDED


class LaunchTimeout(ProviderError):
    kind = FailureKind.LAUNCH_TIMEOUT


class Throttled(ProviderError):
    kind = FailureKind.THROTTLED


@dataclass(frozen=True)
class LaunchAlternative:
    """An equivalent offering for the same need (the same pods fit, every constraint holds),
    next cheapest after the request's own: a provider that can ask its cloud for several at
    once (AWS CreateFleet overrides) may use them to ride out a stock-out in one call."""

    instance_type: InstanceType
    capacity_type: str
    zones: tuple[str, ...]
    price: float


@dataclass(frozen=True)
class LaunchRequest:
    """One node to launch. `request_id` is the idempotency key of one launch attempt:
    launching twice with the same id yields one instance (AWS ClientToken, GCP requestId, ...).
    The returned Instance says which type, capacity type and zone the cloud delivered."""

    request_id: str
    instance_type: InstanceType
    capacity_type: str
    zones: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # for the kubelet's --node-labels
    taints: tuple[Taint, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    price: float = 0.0
    alternatives: tuple[LaunchAlternative, ...] = ()
    # The root volume in GiB, sized to the planned pods' ephemeral storage (pricing/disk.py);
    # 0: the cloud's default. Alternatives get the same size.
    root_volume_gib: int = 0


@dataclass(frozen=True)
class Instance:
    instance_id: str
    provider_id: str  # as the Node's spec.providerID will say, e.g. aws:///us-east-1a/i-0abc
    instance_type: str
    capacity_type: str
    zone: str
    state: str  # pending, running, terminating, terminated
    launched_at: float
    request_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    # Failures of alternatives the cloud tried and passed over before it delivered this one
    # (e.g. CreateFleet's per-override Errors): the loop backs their scopes off too.
    skipped: tuple["ProviderError", ...] = field(default=(), compare=False, repr=False)

    @property
    def alive(self) -> bool:
        return self.state in ("pending", "running")


class Provider(Protocol):
    """The loop calls these off its own thread, several at once (up to `maxConcurrentLaunches`
    launches, as many terminations, one listing), and gives up on a call after
    `cloudCallTimeout`: implementations must be thread-safe and should set their SDK's own
    timeouts below that. A launch given up on is retried with the same request id."""

    name: str

    def launch(self, request: LaunchRequest) -> Instance:
        """Start one instance; raises a ProviderError subclass on failure (nothing left behind)."""
        ...

    def terminate(self, instance_id: str) -> None:
        """Terminate; succeeds quietly when the instance is already gone."""
        ...

    def list_instances(self) -> list[Instance]:
        """Every live instance tagged for this cluster."""
        ...

    # Optional: `registration_timeout_scope(instance) -> FailureScope`, what a node that never
    # registered backs off (a provider that knows its cloud's usual causes may widen it);
    # without it, the offering in the instance's zone. See `registration_timeout_scope` below.


def registration_timeout_scope(provider: object, instance: Instance) -> FailureScope:
    """The scope a launch that never became a node backs off, as the provider says."""
    scope_of = getattr(provider, "registration_timeout_scope", None)
    if scope_of is not None:
        return scope_of(instance)
    return FailureScope.offering(instance.instance_type, instance.capacity_type, instance.zone)
