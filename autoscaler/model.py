"""The planner's view of pods and nodes: plain, immutable, hashable data.

Kubernetes objects are turned into these once, at the edge (`autoscaler.podspec`,
`autoscaler.kube`); the planner never looks at raw API objects.
"""

from __future__ import annotations

import weakref

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Mapping, Sequence

from autoscaler.resources import ZERO, Resources
from pricing.types import Taint

NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
BIN_PACK = "bin-pack"
BIN_SELECT = "bin-select"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One node-selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt).

    `field` marks a nodeSelectorTerm's matchFields requirement: its key is a field of the Node
    (only metadata.name is supported by the API), matched against the node's name; a node yet
    to be launched has no name anyone could have written down, so it matches In never and
    NotIn always."""

    key: str
    operator: str
    values: tuple[str, ...] = ()
    field: bool = False

    def matches(self, labels: Mapping[str, str], name: str | None = None) -> bool:
        value = (name or None) if self.field else labels.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        if self.operator == "DoesNotExist":
            return value is None
        if self.operator in ("Gt", "Lt") and value is not None and self.values:
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.operator == "Gt" else have < want
        return False

    def describe(self) -> str:
        if self is MATCHES_NO_NODE:
            return "an empty nodeSelectorTerm, which matches no node"
        if self.field:
            return f"node {self.key} {self.operator} ({','.join(self.values)}), which no new node's name meets"
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{self.key} {self.operator}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


# The requirement standing for an empty nodeSelectorTerm: the API reference (NodeSelectorTerm)
# says "a null or empty node selector term matches no objects".
MATCHES_NO_NODE = Requirement("", "In", ())


@dataclass(frozen=True, slots=True)
class NodeAffinity:
    """Required node affinity: the node must match every requirement of at least one term.

    nodeSelector entries are folded into every term. No terms means no constraint. `name` is
    the node's name for matchFields requirements (None: a node not launched yet).
    """

    terms: tuple[tuple[Requirement, ...], ...] = ()

    def matches(self, labels: Mapping[str, str], name: str | None = None) -> bool:
        if not self.terms:
            return True
        return any(all(req.matches(labels, name) for req in term) for term in self.terms)

    def keys(self) -> set[str]:
        return {req.key for term in self.terms for req in term}

    def describe(self) -> str:
        return " or ".join("(" + ", ".join(req.describe() for req in term) + ")" for term in self.terms)


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:  # an empty key with Exists tolerates everything
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


def tolerates_all(tolerations: tuple[Toleration, ...], taints: tuple[Taint, ...]) -> bool:
    """Whether the pod may schedule on a node with these taints (PreferNoSchedule never blocks)."""
    return all(
        taint.effect == "PreferNoSchedule" or any(t.tolerates(taint) for t in tolerations) for taint in taints
    )


@dataclass(frozen=True, slots=True)
class InstanceSelection:
    """The instance-selection annotations of SPEC §3 (None = not given)."""

    type_regexp: str | None = None
    family_inclusions: frozenset[str] | None = None
    family_exclusions: frozenset[str] = frozenset()
    gpu_skus: frozenset[str] | None = None  # upper-case model names
    max_gpus: int | None = None
    max_cost: float | None = None
    capacity_types: tuple[str, ...] | None = None

    @property
    def given(self) -> bool:
        return self != NO_SELECTION


NO_SELECTION = InstanceSelection()


HostPort = tuple[int, str, str]  # (port, protocol, host IP; "" = every address)


def ports_conflict(a: frozenset[HostPort], b: frozenset[HostPort]) -> bool:
    """kube-scheduler's NodePorts rule: one (port, protocol) clashes when either side binds every
    address (0.0.0.0 or unset) or both bind the same address."""
    if not a or not b:
        return False
    for port, protocol, ip in a:
        for other_port, other_protocol, other_ip in b:
            if port == other_port and protocol == other_protocol and (not ip or not other_ip or ip == other_ip):
                return True
    return False


@dataclass(frozen=True, slots=True)
class PodSelector:
    """Which pods a term counts: a label selector within some namespaces (None = every namespace)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()
    namespaces: frozenset[str] | None = None

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.expressions)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels] + [req.describe() for req in self.expressions]
        return ",".join(parts) or "every pod"


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    """A required (anti-)affinity term: pods matching `pods` in the same `topology_key` domain."""

    pods: PodSelector
    topology_key: str


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A DoNotSchedule topology spread constraint (ScheduleAnyway ones are not planned for)."""

    pods: PodSelector
    topology_key: str
    max_skew: int = 1
    min_domains: int = 1
    honor_node_affinity: bool = True  # nodeAffinityPolicy (default Honor)
    honor_taints: bool = False  # nodeTaintsPolicy (default Ignore)


@dataclass(frozen=True, slots=True)
class PodConstraints:
    """Everything besides resource requests that limits where a pod may run."""

    affinity: NodeAffinity = NodeAffinity()
    tolerations: tuple[Toleration, ...] = ()
    # The device resource the pod asks for (nvidia.com/gpu, amd.com/gpu, aws.amazon.com/neuron,
    # example.com/fpga...); its count is the `gpu` dimension of the requests.
    gpu_resource: str | None = None
    extra_devices: tuple[tuple[str, int], ...] = ()  # further device resources asked at once
    host_ports: frozenset[HostPort] = frozenset()
    pod_affinity: tuple[PodAffinityTerm, ...] = ()
    pod_anti_affinity: tuple[PodAffinityTerm, ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    selection: InstanceSelection = NO_SELECTION
    gpu_time_slices: int | None = None  # GKE time-sharing clients per GPU asked by node selector
    # Why no node can be planned for the pod at all (it asks for something no node the
    # autoscaler launches is known to offer: pre-allocated huge pages, DRA devices); "" = none.
    unplannable: str = ""
    # The pod's own node affinity and nodeSelector when `affinity` is narrowed further by its
    # volumes' topology (autoscaler/volumes.py); None: `affinity` is its own. Topology spread's
    # nodeAffinityPolicy counts the nodes matching this one, as kube-scheduler does.
    own_affinity: NodeAffinity | None = None
    # Hashed once: pod classes, option-book lists and shapes are looked up by constraints many
    # times per plan, and a dataclass hash walks every field (and every term in it) each time.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(_compared_constraints(self)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def spread_affinity(self) -> NodeAffinity:
        """The node affinity a spread constraint's nodeAffinityPolicy Honor filters domains by."""
        return self.affinity if self.own_affinity is None else self.own_affinity

    @property
    def inter_pod(self) -> bool:
        """Whether where other pods are matters to this pod."""
        return bool(self.pod_affinity or self.pod_anti_affinity or self.spread)


_compared_constraints = attrgetter(*(f.name for f in fields(PodConstraints) if f.compare))
NO_CONSTRAINTS = PodConstraints()


class PodShape:
    """Requests plus constraints: pods with the same shape are interchangeable for planning.

    Shapes are interned, so equal shapes are the same object and group by identity —
    grouping 50,000 pods costs a dictionary insert each, not a deep hash.
    """

    __slots__ = ("requests", "constraints", "__weakref__")
    # Weak values: a shape stays interned exactly as long as a pod holds it, so the table
    # never needs clearing, and a pod made later always gets the same object as the pods of
    # its set that are still around (a cleared table would split one set in two).
    _interned: weakref.WeakValueDictionary[tuple[Resources, PodConstraints], PodShape] = weakref.WeakValueDictionary()

    def __init__(self, requests: Resources, constraints: PodConstraints) -> None:
        self.requests = requests
        self.constraints = constraints

    # Shapes without constraints (most pods), keyed by their requests alone: hashing a
    # PodConstraints (every field, each time) costs more than the rest of `of`.
    _plain: weakref.WeakValueDictionary[Resources, PodShape] = weakref.WeakValueDictionary()

    @classmethod
    def of(cls, requests: Resources, constraints: PodConstraints = NO_CONSTRAINTS) -> PodShape:
        if constraints is NO_CONSTRAINTS or constraints == NO_CONSTRAINTS:
            shape = cls._plain.get(requests)
            if shape is None:
                shape = cls._plain[requests] = cls(requests, NO_CONSTRAINTS)
            return shape
        key = (requests, constraints)
        shape = cls._interned.get(key)
        if shape is None:
            shape = cls._interned[key] = cls(requests, constraints)
        return shape

    def __repr__(self) -> str:
        return f"PodShape({self.requests.describe()})"


@dataclass(frozen=True, slots=True)
class AnnotationProblem:
    annotation: str
    value: str
    reason: str

    def message(self, pod: str) -> str:
        return f"pod {pod}: annotation {self.annotation}={self.value!r} ignored: {self.reason}"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    shape: PodShape
    uid: str = ""
    owner: str = ""  # "Kind/namespace/name" of the controlling owner; "" for a bare pod
    owner_kind: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    node_name: str = ""
    scheduling_gates: tuple[str, ...] = ()
    unschedulable: bool = False  # PodScheduled=False with reason Unschedulable
    unschedulable_message: str = ""
    do_not_evict: bool = False
    annotation_problems: tuple[AnnotationProblem, ...] = ()
    created: float = 0.0
    priority: int = 0
    daemonset: bool = False
    # Its own spec tolerates `<device>=present:NoSchedule` for the devices it requests (the
    # ExtendedResourceToleration admission plugin adds that): its node may be tainted so.
    device_tolerated: bool = False
    # Why the planner cannot read this bound pod's spec ('' when it can): see autoscaler.podrecord.
    unreadable: str = ""
    # Identical replicas of one workload read from files (preview): this object stands for
    # `replicas` pods named `replica_names` (the first is `name`); see planner/replicas.py.
    replicas: int = 1
    replica_names: Sequence[str] = field(default=(), repr=False, compare=False)
    # The PersistentVolumeClaims its volumes use, and which of them are its own ephemeral
    # volumes' (autoscaler/volumes.py says where they let it run).
    claims: tuple[str, ...] = ()
    ephemeral_claims: tuple[str, ...] = ()
    key: str = field(init=False, repr=False, compare=False)  # namespace/name, computed once
    # The replicas' keys, made once with the object as `key` is (empty for a single pod).
    _replica_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.namespace}/{self.name}")
        keys = tuple(map(f"{self.namespace}/".__add__, self.replica_names)) if self.replicas > 1 else ()
        object.__setattr__(self, "_replica_keys", keys)

    @property
    def requests(self) -> Resources:
        return self.shape.requests

    @property
    def constraints(self) -> PodConstraints:
        return self.shape.constraints

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def replica_keys(self) -> tuple[str, ...]:
        """The keys of every pod this object stands for (itself alone, unless replicas)."""
        return self._replica_keys or (self.key,)


@dataclass(frozen=True, slots=True)
class Node:
    """A node in the cluster, or one on its way (an in-flight launch)."""

    name: str
    instance_type: str
    capacity_type: str
    zone: str
    allocatable: Resources
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    managed: bool = False  # created by this autoscaler
    role: str = ""  # bin-pack or bin-select when managed
    price: float = 0.0
    gpus: int = 0
    in_flight: bool = False
    starting: bool = False  # registered recently and not in use yet: still the launch's room
    ready: bool = True
    unschedulable: bool = False  # cordoned
    created: float = 0.0
    provider_id: str = ""
    reserved_for: tuple[str, ...] = ()  # pod keys its launch was made for that still wait
    used: Resources = ZERO  # requests of pods bound to it (filled by the snapshot)
    workload_pods: int = 0  # bound pods that are not DaemonSet pods
    host_ports: frozenset[HostPort] = frozenset()
    pods: tuple[Pod, ...] = field(default=(), compare=False, repr=False)  # bound, not terminal

    @property
    def free(self) -> Resources:
        a, u = self.allocatable, self.used
        return Resources(
            max(a.cpu - u.cpu, 0), max(a.memory - u.memory, 0), max(a.gpu - u.gpu, 0), max(a.pods - u.pods, 0),
            max(a.ephemeral - u.ephemeral, 0),
        )
