"""The daemon's view of a Kubernetes cluster, and the actions it takes on one.

Two implementations: `autoscaler.kube.client.KubeCluster` (the official `kubernetes` client
against a real API server: list+watch caches, Events, patches, the Eviction subresource)
and `autoscaler.sim.cluster.InMemoryCluster` (a named simulator for `simulate` and the loop
tests). The reconcile loop only sees this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from autoscaler.model import NodeAffinity, Pod, Toleration
from autoscaler.resources import Resources
from pricing.types import Taint


@dataclass(frozen=True, slots=True)
class KubeNode:
    """What the autoscaler keeps of a core/v1 Node."""

    name: str
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable: Resources = Resources()
    capacity: Resources = Resources()
    provider_id: str = ""
    unschedulable: bool = False
    ready: bool = False
    created: float = 0.0  # creationTimestamp, epoch seconds
    resource_version: str = ""
    # Extended resources in status.allocatable by name (nvidia.com/gpu, aws.amazon.com/neuron,
    # ...): what the node's device plugins advertise now.
    devices: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DaemonSetInfo:
    namespace: str
    name: str
    requests: Resources
    affinity: NodeAffinity = NodeAffinity()
    tolerations: tuple[Toleration, ...] = ()
    host_ports: frozenset = frozenset()  # (port, protocol, host IP) its pods bind on every node


@dataclass(frozen=True, slots=True)
class PdbInfo:
    """A PodDisruptionBudget: which pods it covers and how many may be disrupted now."""

    namespace: str
    name: str
    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (key, operator, values)
    disruptions_allowed: int = 0
    has_selector: bool = True  # policy/v1: a missing selector selects nothing, an empty one every pod

    def selects(self, pod: Pod) -> bool:
        if pod.namespace != self.namespace or not self.has_selector:
            return False
        for key, value in self.match_labels.items():
            if pod.labels.get(key) != value:
                return False
        for key, operator, values in self.match_expressions:
            have = pod.labels.get(key)
            if operator == "In" and (have is None or have not in values):
                return False
            if operator == "NotIn" and have is not None and have in values:
                return False
            if operator == "Exists" and have is None:
                return False
            if operator == "DoesNotExist" and have is not None:
                return False
        return True


@dataclass(frozen=True)
class ClusterView:
    """One consistent look at the cluster, as the caches hold it now."""

    pods: tuple[Pod, ...]
    nodes: tuple[KubeNode, ...]
    daemonsets: tuple[DaemonSetInfo, ...] = ()
    pdbs: tuple[PdbInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The involvedObject of an Event."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "v1"


class EvictionOutcome:
    EVICTED = "evicted"
    BLOCKED = "blocked"  # 429: a PodDisruptionBudget says no for now
    GONE = "gone"  # 404: already gone


class ClusterError(RuntimeError):
    """An API call that failed; the message names the call, the object and the status."""


class Cluster(Protocol):
    def view(self) -> ClusterView: ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block until a watched object changes or `timeout` passes; True on a change."""
        ...

    def create_event(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None: ...

    def has_event(self, ref: ObjectRef, reason: str) -> bool:
        """Whether an Event with this reason exists now for the object (by uid when given)."""
        ...

    def patch_node(
        self,
        name: str,
        labels: Mapping[str, str | None] | None = None,
        add_taints: tuple[Taint, ...] = (),
        remove_taint_keys: tuple[str, ...] = (),
    ) -> None:
        """Merge-patch labels (None deletes a key); add taints and remove taints by key against the
        node as it is now (taints other writers set meanwhile are kept); retried on 409."""
        ...

    def evict_pod(self, namespace: str, name: str) -> str:
        """Evict through the Eviction subresource; returns an EvictionOutcome value."""
        ...

    def delete_node(self, name: str) -> None: ...
