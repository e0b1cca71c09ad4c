"""Where a pod's persistent volumes let it run, as kube-scheduler decides it.

Sources: the core/v1 API (PersistentVolumeClaim spec.volumeName, spec.storageClassName and
status.phase; PersistentVolume spec.nodeAffinity.required), storage.k8s.io/v1 StorageClass
(volumeBindingMode, allowedTopologies), and kube-scheduler's VolumeBinding and VolumeZone
plugins (k8s.io/kubernetes pkg/scheduler/framework/plugins/volumebinding, volumezone):

- a claim bound to a volume: the node must match the volume's required node affinity (its
  terms ORed) and, for a volume labelled the legacy way, its zone and region labels (a value
  may list several zones joined by "__");
- a claim not bound yet whose StorageClass binds WaitForFirstConsumer: the volume is made
  where the pod lands, within the class's allowedTopologies (terms ORed, each requirement
  `key In values`); without them, anywhere;
- the scheduler places the pod nowhere, so no node is planned for it, when a claim does not
  exist, is being deleted or has lost its volume, when a bound claim's volume does not exist,
  and when an unbound claim binds Immediately (its class says so, or it names no class): the
  volume controller binds it first, and the next loop sees where.

A volume's topology narrows where the pod may run, not its own node affinity: topology spread
counts the nodes matching the pod's own affinity (nodeAffinityPolicy: Honor), as kube-scheduler
does, so the two are kept apart (PodConstraints.own_affinity).

The zone a CSI driver names under its own key (EBS `topology.ebs.csi.aws.com/zone`, GCE PD
`topology.gke.io/zone`, Azure Disk `topology.disk.csi.azure.com/zone`), and the deprecated
`failure-domain.beta.kubernetes.io/*` keys, are read as the well-known zone and region: each
driver's node plugin labels a node with its zone under that key once it runs there, so a node
launched into a zone will carry it.

An ephemeral volume's claim is the pod's own (named `<pod>-<volume>`); a pod that replaces a
running one gets a new claim, so a running pod's ephemeral claims do not hold it where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from autoscaler.model import NodeAffinity, Pod, PodShape, Requirement

ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
_SAME_AS = {
    "failure-domain.beta.kubernetes.io/zone": ZONE,
    "failure-domain.beta.kubernetes.io/region": REGION,
    "topology.ebs.csi.aws.com/zone": ZONE,
    "topology.gke.io/zone": ZONE,
    "topology.disk.csi.azure.com/zone": ZONE,
}
_LEGACY_LABELS = ("failure-domain.beta.kubernetes.io/zone", ZONE, "failure-domain.beta.kubernetes.io/region", REGION)
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim, as far as scheduling reads it."""

    namespace: str
    name: str
    volume_name: str = ""  # spec.volumeName: bound (or pre-bound) to this volume
    storage_class: str | None = None  # spec.storageClassName; None: not set
    deleting: bool = False
    lost: bool = False  # status.phase Lost: its volume is gone


@dataclass(frozen=True)
class Volume:
    """A PersistentVolume: where it can be reached from (terms ORed; none: anywhere)."""

    name: str
    terms: tuple[tuple[Requirement, ...], ...] = ()
    deleting: bool = False


@dataclass(frozen=True)
class StorageClass:
    name: str
    wait_for_consumer: bool = False  # volumeBindingMode WaitForFirstConsumer
    terms: tuple[tuple[Requirement, ...], ...] = ()  # allowedTopologies, ORed; none: anywhere
    default: bool = False


@dataclass(frozen=True)
class VolumeTopology:
    """The claims, volumes and classes a set of pods is read with. `strict`: a claim, volume or
    class that is not here does not exist (the cluster's caches); else it is not known (files
    given to `preview`), and a pod is planned as if its volume could be anywhere."""

    claims: Mapping[tuple[str, str], Claim] = field(default_factory=dict)
    volumes: Mapping[str, Volume] = field(default_factory=dict)
    classes: Mapping[str, StorageClass] = field(default_factory=dict)
    strict: bool = True

    def where(self, pod: Pod) -> tuple[tuple[tuple[Requirement, ...], ...] | None, str]:
        """(terms the node must match, ANDed with the pod's own affinity; None: anywhere) and
        why no node can be planned ('' when one can)."""
        claims = pod.claims if not pod.node_name else tuple(c for c in pod.claims if c not in pod.ephemeral_claims)
        narrowed: tuple[tuple[Requirement, ...], ...] | None = None
        for name in claims:
            terms, reason = self._claim_terms(pod.namespace, name)
            if reason:
                return None, reason
            if terms:
                narrowed = terms if narrowed is None else and_terms(narrowed, terms)
        return narrowed, ""

    def _claim_terms(self, namespace: str, name: str) -> tuple[tuple[tuple[Requirement, ...], ...], str]:
        claim = self.claims.get((namespace, name))
        if claim is None:
            return (), f'persistentvolumeclaim "{name}" not found' if self.strict else ""
        if claim.deleting:
            return (), f'persistentvolumeclaim "{name}" is being deleted'
        if claim.lost:
            return (), f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume "{claim.volume_name}"'
        if claim.volume_name:
            volume = self.volumes.get(claim.volume_name)
            if volume is None:
                if self.strict:
                    return (), (f'persistentvolumeclaim "{name}" is bound to persistentvolume '
                                f'"{claim.volume_name}", which does not exist')
                return (), ""
            if volume.deleting:
                return (), f'persistentvolume "{volume.name}" of claim "{name}" is being deleted'
            return volume.terms, ""
        class_name = claim.storage_class
        if class_name is None:
            class_name = next((c.name for c in self.classes.values() if c.default), None)
        if not class_name:
            if not self.strict:
                return (), ""
            return (), (f'persistentvolumeclaim "{name}" is not bound and names no StorageClass: it waits for a '
                        "matching volume to be bound to it (the pod is unschedulable until then)")
        storage_class = self.classes.get(class_name)
        if storage_class is None:
            if not self.strict:
                return (), ""
            return (), f'storageclass.storage.k8s.io "{class_name}" of persistentvolumeclaim "{name}" not found'
        if not storage_class.wait_for_consumer:
            return (), (f'persistentvolumeclaim "{name}" is not bound yet and its StorageClass {class_name} binds '
                        "Immediately: the volume controller binds it first, and where its volume is decides the node")
        return storage_class.terms, ""


def and_terms(
    left: tuple[tuple[Requirement, ...], ...], right: tuple[tuple[Requirement, ...], ...]
) -> tuple[tuple[Requirement, ...], ...]:
    """Two ORs of ANDed terms ANDed: every pair of terms joined (no terms: no constraint)."""
    if not left:
        return right
    if not right:
        return left
    return tuple(a + b for a in left for b in right)


def with_volumes(pods: Iterable[Pod], topology: VolumeTopology) -> list[Pod]:
    """The pods with their volumes' topology in their constraints: `affinity` narrowed to where
    the volumes can be reached (the pod's own kept as `own_affinity`), or unplannable with the
    scheduler's reason. Pods without claims come back as they are."""
    return [pod if not pod.claims else narrowed(pod, topology) for pod in pods]


def narrowed(pod: Pod, topology: VolumeTopology) -> Pod:
    terms, reason = topology.where(pod)
    constraints = pod.constraints
    if reason:
        if constraints.unplannable:
            reason = f"{constraints.unplannable}; {reason}"
        return replace(pod, shape=PodShape.of(pod.requests, replace(constraints, unplannable=reason)))
    if terms is None:
        return pod
    own = constraints.spread_affinity
    affinity = NodeAffinity(and_terms(own.terms, terms))
    return replace(pod, shape=PodShape.of(pod.requests, replace(constraints, affinity=affinity, own_affinity=own)))


# ---- reading the API objects


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _requirement(key: str, operator: str, values: Iterable[Any]) -> Requirement:
    key = _SAME_AS.get(key, key)
    return Requirement(key, operator, tuple(str(v) for v in values))


def claim_from_api(obj: Mapping[str, Any]) -> Claim:
    metadata, spec, status = _mapping(obj.get("metadata")), _mapping(obj.get("spec")), _mapping(obj.get("status"))
    storage_class = spec.get("storageClassName")
    return Claim(
        namespace=str(metadata.get("namespace") or "default"),
        name=str(metadata.get("name") or ""),
        volume_name=str(spec.get("volumeName") or ""),
        storage_class=None if storage_class is None else str(storage_class),
        deleting=bool(metadata.get("deletionTimestamp")),
        lost=status.get("phase") == "Lost",
    )


def volume_from_api(obj: Mapping[str, Any]) -> Volume:
    """Its required node affinity, plus (VolumeZone) its legacy zone and region labels."""
    metadata, spec = _mapping(obj.get("metadata")), _mapping(obj.get("spec"))
    required = _mapping(_mapping(spec.get("nodeAffinity")).get("required"))
    terms: tuple[tuple[Requirement, ...], ...] = tuple(
        tuple(_requirement(str(e.get("key") or ""), str(e.get("operator") or "In"), e.get("values") or ())
              for e in _mapping(term).get("matchExpressions") or () if isinstance(e, Mapping))
        for term in required.get("nodeSelectorTerms") or ()
    )
    labels = _mapping(metadata.get("labels"))
    legacy = tuple(_requirement(key, "In", str(labels[key]).split("__")) for key in _LEGACY_LABELS if labels.get(key))
    if legacy:
        terms = and_terms(terms, (legacy,))
    return Volume(name=str(metadata.get("name") or ""), terms=terms, deleting=bool(metadata.get("deletionTimestamp")))


def storage_class_from_api(obj: Mapping[str, Any]) -> StorageClass:
    metadata = _mapping(obj.get("metadata"))
    terms = tuple(
        tuple(_requirement(str(e.get("key") or ""), "In", e.get("values") or ())
              for e in _mapping(term).get("matchLabelExpressions") or () if isinstance(e, Mapping))
        for term in obj.get("allowedTopologies") or ()
    )
    return StorageClass(
        name=str(metadata.get("name") or ""),
        wait_for_consumer=obj.get("volumeBindingMode") == "WaitForFirstConsumer",
        terms=tuple(term for term in terms if term),
        default=str(_mapping(metadata.get("annotations")).get(DEFAULT_CLASS, "")).lower() == "true",
    )


def pod_claims(spec: Mapping[str, Any], pod_name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every claim the pod's volumes use, the ephemeral ones among them)."""
    claims, ephemeral = [], []
    for volume in spec.get("volumes") or ():
        if not isinstance(volume, Mapping):
            continue
        claim = _mapping(volume.get("persistentVolumeClaim")).get("claimName")
        if claim:
            claims.append(str(claim))
        elif volume.get("ephemeral") is not None:
            name = ephemeral_claim_name(pod_name, volume)
            claims.append(name)
            ephemeral.append(name)
    return tuple(claims), tuple(ephemeral)


def ephemeral_claim_name(pod_name: str, volume: Mapping[str, Any]) -> str:
    """The claim the ephemeral volume controller makes for a pod's ephemeral volume."""
    return f"{pod_name}-{volume.get('name')}"


def ephemeral_claims(pod: Mapping[str, Any]) -> dict[tuple[str, str], Claim]:
    """The claims a pod manifest's ephemeral volumes will get, made from their templates."""
    metadata, spec = _mapping(pod.get("metadata")), _mapping(pod.get("spec"))
    namespace = str(metadata.get("namespace") or "default")
    claims = {}
    for volume in spec.get("volumes") or ():
        template = _mapping(volume.get("ephemeral")).get("volumeClaimTemplate") if isinstance(volume, Mapping) else None
        if isinstance(template, Mapping):
            name = ephemeral_claim_name(str(metadata.get("name")), volume)
            claims[(namespace, name)] = claim_from_api(
                {"metadata": {"namespace": namespace, "name": name}, "spec": template.get("spec") or {}})
    return claims


class NarrowedPods:
    """with_volumes over the daemon's successive views: the topology is rebuilt only when a
    claim, volume or class changed, and a pod object already narrowed under it keeps its answer
    (a cluster's pods are mostly the same objects from one loop to the next)."""

    def __init__(self) -> None:
        self._version: tuple[str, ...] = ()
        self._topology = VolumeTopology()
        self._done: dict[int, tuple[Pod, Pod]] = {}

    def __call__(self, pods: Iterable[Pod], claims: Any, volumes: Any, classes: Any) -> tuple[Pod, ...]:
        """`claims`, `volumes` and `classes`: watch caches (items() and resource_version)."""
        version = (claims.resource_version, volumes.resource_version, classes.resource_version)
        if version != self._version or not version[0]:
            self._version = version
            self._topology = VolumeTopology(
                claims={(c.namespace, c.name): c for c in claims.items()},
                volumes={v.name: v for v in volumes.items()},
                classes={c.name: c for c in classes.items()},
            )
            self._done = {}
        done: dict[int, tuple[Pod, Pod]] = {}
        out = []
        for pod in pods:
            if pod.claims:
                known = self._done.get(id(pod))
                if known is None or known[0] is not pod:
                    known = (pod, narrowed(pod, self._topology))
                done[id(pod)] = known
                pod = known[1]
            out.append(pod)
        self._done = done
        return tuple(out)
