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


class FailureKind:
    INSUFFICIENT_CAPACITY = "insufficient-capacity"
    QUOTA_EXCEEDED = "quota-exceeded"
    LAUNCH_TIMEOUT = "launch-timeout"
    THROTTLED = "throttled"
    OTHER = "other"


class ProviderError(Exception):
    """A failed cloud call. `kind` is one of FailureKind; `code` is the cloud's own error code."""

    kind = FailureKind.OTHER

    def __init__(self, message: str, code: str = "", zone: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.zone = zone  # the zone the failure is about, when the cloud says


class InsufficientCapacity(ProviderError):
    kind = FailureKind.INSUFFICIENT_CAPACITY


class QuotaExceeded(ProviderError):
    kind = FailureKind.QUOTA_EXCEEDED


class LaunchTimeout(ProviderError):
    kind = FailureKind.LAUNCH_TIMEOUT


class Throttled(ProviderError):
    kind = FailureKind.THROTTLED


@dataclass(frozen=True)
class LaunchRequest:
    """One node to launch. `request_id` is the idempotency key: launching twice with the same
    id yields one instance (AWS ClientToken, GCP requestId, ...)."""

    request_id: str
    instance_type: InstanceType
    capacity_type: str
    zones: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # for the kubelet's --node-labels
    taints: tuple[Taint, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


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

    @property
    def alive(self) -> bool:
        return self.state in ("pending", "running")


class Provider(Protocol):
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
