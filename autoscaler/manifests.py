"""Read Kubernetes manifests and expand workloads into the pods they would create.

Used by `preview` (SPEC §7): Pods, Deployments, ReplicaSets, StatefulSets, Jobs, CronJobs and
KubeRay RayCluster/RayService/RayJob objects become the Pending pods their controllers would
create, with deterministic names and uids so that two runs over the same files agree.
DaemonSets are returned apart (their pods run on every matching node); other kinds are skipped.
Resource quantities are not parsed here: pod specs are copied verbatim.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import pickle
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import yaml

from autoscaler.manifest_yaml import ManifestLoader
from autoscaler.validate.manifests import (
    MAX_MANIFEST_CHARS,
    PodBudget,
    check_document,
    check_workload,
    read_stdin,
    skip_reason,
)

_LOADER = ManifestLoader
# Kubernetes' rand.SafeEncodeString alphabet: no vowels and no 0/1/3, so no words by accident.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "smart-autoscaler/manifests")
_UID_BYTES = _UID_NAMESPACE.bytes
_STDIN = "<stdin>"


class ManifestError(ValueError):
    """A manifest that cannot be read.

    str(err) names the file, the document (1-based, with kind and name when known), the field
    and the problem, e.g. "x.yaml: document 2 (Deployment web): spec.replicas: expected a
    non-negative integer, got 'three'". YAML syntax errors also carry `line` (1-based).
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        document: int | None = None,
        field: str | None = None,
        what: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file, self.document, self.field, self.line = file, document, field, line
        parts = [file]
        if document is not None:
            parts.append(f"document {document}" + (f" ({what})" if what else ""))
        if line is not None:
            parts.append(f"line {line}")
        if field:
            parts.append(field)
        super().__init__(": ".join([*parts, message]))


@dataclass(frozen=True)
class ExpandedPod:
    """One pod a manifest would create, as a complete core/v1 Pod object in phase Pending."""

    manifest: dict
    source: str  # "file.yaml#2 Deployment/web", for messages
    workload: str  # "Deployment/default/web": all pods of one workload object share it
    group: str  # "" or, for Ray, "head" / the worker group name / "submitter"


@dataclass(frozen=True)
class LoadedManifests:
    """Everything read from a set of manifests."""

    pods: list[ExpandedPod] = field(default_factory=list)
    daemonsets: list[dict] = field(default_factory=list)  # apps/v1 DaemonSet objects, as read
    skipped: list[str] = field(default_factory=list)  # "file.yaml#3 Service/web: no pods"


# ---------------------------------------------------------------------------------------------
# Where a document came from, and errors about it


@dataclass(frozen=True)
class _Where:
    """A document of a file, and the path of an item inside it (for Lists and JSON arrays)."""

    file: str
    document: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file if self.document is None else f"{self.file}#{self.document}"
        return f"{where}/{self.path}" if self.path else where

    def child(self, step: str) -> _Where:
        path = self.path + step if step.startswith("[") or not self.path else f"{self.path}.{step}"
        return _Where(self.file, self.document, path)

    def error(self, field_: str, message: str, what: str | None = None) -> ManifestError:
        full = f"{self.path}.{field_}" if self.path and field_ else self.path or field_
        return ManifestError(self.file, message, document=self.document, field=full or None, what=what)

    @staticmethod
    def parse(source: str) -> _Where:
        match = re.fullmatch(r"(.*)#(\d+)", source)
        return _Where(match[1], int(match[2])) if match else _Where(source)


def _show(value: object) -> str:
    if isinstance(value, (dict, list)) and value:
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(value: object, expected: str) -> str:
    return "missing" if value is None else f"expected {expected}, got {_show(value)}"


def _is_name(value: object) -> bool:
    return isinstance(value, str) and value != ""


@dataclass(frozen=True)
class _Obj:
    """A Kubernetes object whose kind, apiVersion and name have been checked."""

    raw: dict
    where: _Where
    api_version: str
    kind: str
    name: str
    namespace: str

    @property
    def group(self) -> str:
        group = self.api_version.rpartition("/")[0]
        return "apps" if group == "extensions" else group  # pre-1.16 Deployment/ReplicaSet/DaemonSet

    # Cached in the instance's __dict__ by hand: functools.cached_property takes a lock on
    # every access in Python 3.11, and a Deployment asks once per replica.
    @property
    def source(self) -> str:
        cached = self.__dict__.get("_source")
        if cached is None:
            cached = self.__dict__["_source"] = f"{self.where} {self.kind}/{self.name}"
        return cached

    @property
    def workload(self) -> str:
        cached = self.__dict__.get("_workload")
        if cached is None:
            cached = self.__dict__["_workload"] = f"{self.kind}/{self.namespace}/{self.name}"
        return cached

    def error(self, field_: str, message: str) -> ManifestError:
        return self.where.error(field_, message, what=f"{self.kind} {self.name}")

    def pod(self, manifest: dict, group: str = "") -> ExpandedPod:
        return ExpandedPod(manifest, self.source, self.workload, group)


def _read_object(raw: object, where: _Where) -> _Obj:
    if not isinstance(raw, dict):
        raise where.error("", f"expected a mapping (a Kubernetes object), got {_show(raw)}")
    kind, api_version = raw.get("kind"), raw.get("apiVersion")
    if not _is_name(kind):
        raise where.error("kind", _problem(kind, "a non-empty string"))
    if not _is_name(api_version):
        raise where.error("apiVersion", _problem(api_version, "a non-empty string"), what=kind)
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        raise where.error("metadata", _problem(meta, "a mapping"), what=kind)
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    if not _is_name(name):
        raise where.error("metadata.name", _problem(name, "a non-empty string"), what=kind)
    obj = _Obj(raw, where, api_version, kind, name, namespace)
    if not isinstance(namespace, str):
        raise obj.error("metadata.namespace", f"expected a string, got {_show(namespace)}")
    return obj


# ---------------------------------------------------------------------------------------------
# Field checks


def _mapping(obj: _Obj, value: object, field_: str) -> dict:
    if not isinstance(value, dict):
        raise obj.error(field_, _problem(value, "a mapping"))
    return value


_Default = TypeVar("_Default", int, None)


def _count(obj: _Obj, spec: dict, key: str, prefix: str, default: _Default) -> int | _Default:
    """A non-negative integer field of `spec` (field path `prefix.key`); null means unset."""
    value = spec.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise obj.error(f"{prefix}.{key}", f"expected a non-negative integer, got {_show(value)}")
    return value


def _labels(obj: _Obj, meta: dict, key: str, prefix: str) -> dict:
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise obj.error(f"{prefix}.{key}", f"expected a mapping, got {_show(value)}")
    return dict(value)


def _check_pod_spec(obj: _Obj, spec: object, field_: str) -> dict:
    """A pod spec must have a non-empty list of named containers (and well-formed initContainers)."""
    spec = _mapping(obj, spec, field_)
    for key, required in (("containers", True), ("initContainers", False)):
        containers = spec.get(key)
        if containers is None and not required:
            continue
        if not isinstance(containers, list) or not containers and required:
            raise obj.error(f"{field_}.{key}", _problem(containers, "a non-empty list" if required else "a list"))
        for i, container in enumerate(containers):
            where = f"{field_}.{key}[{i}]"
            if not isinstance(container, dict):
                raise obj.error(where, f"expected a mapping, got {_show(container)}")
            if not _is_name(container.get("name")):
                raise obj.error(f"{where}.name", _problem(container.get("name"), "a non-empty string"))
    return spec


# ---------------------------------------------------------------------------------------------
# Deterministic names and uids


def _digest(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")


def _token(seed: str, length: int) -> str:
    """`length` characters of [a-z0-9] derived from `seed`."""
    # Only the number modulo 36**length decides the characters: divide a small int, not 128 bits.
    number, chars = _digest(seed) % (len(_ALPHABET) ** length), []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


_PAIRS = [a + b for b in _ALPHABET for a in _ALPHABET]  # [i + 27 j] = _ALPHABET[i] + _ALPHABET[j]


def _canonical(value: object) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except TypeError:  # YAML allows non-string keys, which cannot be sorted against strings
        return repr(value)


def _uid(kind: str, namespace: str, name: str) -> str:
    """uuid5(_UID_NAMESPACE, kind/namespace/name), computed without UUID objects (50,000 replicas)."""
    raw = bytearray(hashlib.sha1(_UID_BYTES + f"{kind}/{namespace}/{name}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _generated_names(prefix: str, seed: str, count: int) -> list[str]:
    """`count` distinct names `<prefix><5 chars>`, like metadata.generateName but reproducible."""
    names: list[str] = []
    seen: set[str] = set()
    # The same characters as _token(f"{seed}/{index}", 5), for many replicas: the hash of the
    # common "<seed>/" is taken once and copied, and two characters are looked up at a time.
    head, pairs, modulus = hashlib.sha256(f"{seed}/".encode()), _PAIRS, len(_ALPHABET) ** 5
    for index in range(count):
        digest = head.copy()
        digest.update(str(index).encode())
        number = int.from_bytes(digest.digest()[:16], "big") % modulus
        name, attempt = f"{prefix}{pairs[number % 729]}{pairs[number // 729 % 729]}{_ALPHABET[number // 531441]}", 0
        while name in seen:
            attempt += 1
            name = prefix + _token(f"{seed}/{index}/{attempt}", 5)
        seen.add(name)
        names.append(name)
    return names


def _owner(api_version: str, kind: str, name: str, namespace: str) -> dict:
    uid = _uid(kind, namespace, name)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


# ---------------------------------------------------------------------------------------------
# Pod templates


@dataclass(frozen=True)
class _Template:
    labels: dict
    annotations: dict
    spec_blob: bytes  # pickled spec: unpickling is a much faster deep copy than copy.deepcopy
    template_hash: str  # 10 characters, like the pod-template-hash label
    shared: dict = field(default_factory=dict, compare=False)  # read-only parts reused by replicas

    def pod(self, name: str, namespace: str, owner: dict, labels: dict | None = None) -> dict:
        """A Pending pod from this template; workload-level metadata is not copied (as in Kubernetes)."""
        if _SHARED_SPECS.get():
            return self._read_only_pod(name, namespace, owner, labels)
        meta = {
            "name": name,
            "namespace": namespace,
            "labels": {**self.labels, **(labels or {})},
            "annotations": dict(self.annotations),
            "uid": _uid("Pod", namespace, name),
            "ownerReferences": [dict(owner)],
        }
        spec = pickle.loads(self.spec_blob)
        status = {"phase": "Pending"}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}

    def _read_only_pod(self, name: str, namespace: str, owner: dict, labels: dict | None) -> dict:
        """The same pod for read-only callers (planning only): replicas share their spec, labels,
        annotations and owner reference, and get no uid."""
        key = id(labels)
        known = self.shared.get(key)
        if known is None or known[0] is not labels:
            known = self.shared[key] = (labels, {**self.labels, **(labels or {})})
        meta = {
            "name": name,
            "namespace": namespace,
            "labels": known[1],
            "annotations": self.annotations,
            "ownerReferences": [owner],
        }
        spec = _shared_spec(self.spec_blob)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


# Read-only callers (preview) let the replicas of one template share one spec object: 51,000
# copies of a spec cost seconds and nobody changes them.
_SHARED_SPECS: contextvars.ContextVar[bool] = contextvars.ContextVar("shared_specs", default=False)
_SPECS: dict[bytes, dict] = {}


def _shared_spec(blob: bytes) -> dict:
    spec = _SPECS.get(blob)
    if spec is None:
        if len(_SPECS) > 10_000:
            _SPECS.clear()
        spec = _SPECS[blob] = pickle.loads(blob)
    return spec


def _template(obj: _Obj, value: object, field_: str) -> _Template:
    template = _mapping(obj, value, field_)
    spec = _check_pod_spec(obj, template.get("spec"), f"{field_}.spec")
    meta = template.get("metadata") or {}
    if not isinstance(meta, dict):
        raise obj.error(f"{field_}.metadata", f"expected a mapping, got {_show(meta)}")
    labels = _labels(obj, meta, "labels", f"{field_}.metadata")
    annotations = _labels(obj, meta, "annotations", f"{field_}.metadata")
    blob = pickle.dumps(spec, pickle.HIGHEST_PROTOCOL)
    return _Template(labels, annotations, blob, _token(_canonical(template), 10))


# ---------------------------------------------------------------------------------------------
# Kinds


def _expand_pod(obj: _Obj) -> list[ExpandedPod]:
    _check_pod_spec(obj, obj.raw.get("spec"), "spec")
    # Read-only callers take the object as read (it is theirs alone); others get a deep copy.
    pod = obj.raw if _SHARED_SPECS.get() else pickle.loads(pickle.dumps(obj.raw, pickle.HIGHEST_PROTOCOL))
    meta = pod["metadata"]
    meta["namespace"] = obj.namespace
    meta["labels"] = _labels(obj, meta, "labels", "metadata")
    meta["annotations"] = _labels(obj, meta, "annotations", "metadata")
    meta.setdefault("uid", _uid("Pod", obj.namespace, obj.name))
    pod.setdefault("status", {"phase": "Pending"})
    return [obj.pod(pod)]


def _expand_deployment(obj: _Obj) -> list[ExpandedPod]:
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    template = _template(obj, spec.get("template"), "spec.template")
    replicas = _count(obj, spec, "replicas", "spec", 1)
    rs_name = f"{obj.name}-{template.template_hash}"
    owner = _owner("apps/v1", "ReplicaSet", rs_name, obj.namespace)
    names = _generated_names(f"{rs_name}-", f"ReplicaSet/{obj.namespace}/{rs_name}", replicas)
    labels = {"pod-template-hash": template.template_hash}
    return [obj.pod(template.pod(name, obj.namespace, owner, labels)) for name in names]


def _expand_replicaset(obj: _Obj) -> list[ExpandedPod]:
    """ReplicaSet, and the older core/v1 ReplicationController that works the same way."""
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    template = _template(obj, spec.get("template"), "spec.template")
    replicas = _count(obj, spec, "replicas", "spec", 1)
    owner = _owner(obj.api_version, obj.kind, obj.name, obj.namespace)
    names = _generated_names(f"{obj.name}-", f"{obj.kind}/{obj.namespace}/{obj.name}", replicas)
    return [obj.pod(template.pod(name, obj.namespace, owner)) for name in names]


def _expand_statefulset(obj: _Obj) -> list[ExpandedPod]:
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    template = _template(obj, spec.get("template"), "spec.template")
    replicas = _count(obj, spec, "replicas", "spec", 1)
    start = _count(obj, spec.get("ordinals") or {}, "start", "spec.ordinals", 0)
    claims = _claim_names(obj, spec)
    owner = _owner("apps/v1", "StatefulSet", obj.name, obj.namespace)
    pods = []
    for index in range(start, start + replicas):
        name = f"{obj.name}-{index}"
        labels = {
            "controller-revision-hash": f"{obj.name}-{template.template_hash}",
            "statefulset.kubernetes.io/pod-name": name,
            "apps.kubernetes.io/pod-index": str(index),
        }
        pod = template.pod(name, obj.namespace, owner, labels)
        if claims:  # each pod gets its own PersistentVolumeClaim per volumeClaimTemplate
            volumes = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in claims]
            volumes += [{"name": c, "persistentVolumeClaim": {"claimName": f"{c}-{name}"}} for c in claims]
            pod["spec"]["volumes"] = volumes
        pods.append(obj.pod(pod))
    return pods


def _claim_names(obj: _Obj, spec: dict) -> list[str]:
    templates = spec.get("volumeClaimTemplates") or []
    if not isinstance(templates, list):
        raise obj.error("spec.volumeClaimTemplates", f"expected a list, got {_show(templates)}")
    names = []
    for i, claim in enumerate(templates):
        meta = claim.get("metadata") if isinstance(claim, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not _is_name(name):
            raise obj.error(f"spec.volumeClaimTemplates[{i}].metadata.name", _problem(name, "a non-empty string"))
        names.append(name)
    return names


def _job_pod_count(obj: _Obj, spec: dict, prefix: str) -> int:
    if spec.get("suspend") is True:
        return 0
    parallelism = _count(obj, spec, "parallelism", prefix, 1)
    completions = _count(obj, spec, "completions", prefix, None)
    return parallelism if completions is None else min(parallelism, completions)


def _job_pods(
    obj: _Obj, template: _Template, job_name: str, count: int, group: str = ""
) -> list[ExpandedPod]:
    """The pods of a batch/v1 Job named `job_name`, created by `obj` (the Job itself or its creator)."""
    owner = _owner("batch/v1", "Job", job_name, obj.namespace)
    labels = {
        "job-name": job_name,
        "batch.kubernetes.io/job-name": job_name,
        "controller-uid": owner["uid"],
        "batch.kubernetes.io/controller-uid": owner["uid"],
    }
    names = _generated_names(f"{job_name}-", f"Job/{obj.namespace}/{job_name}", count)
    return [obj.pod(template.pod(name, obj.namespace, owner, labels), group) for name in names]


def _expand_job(obj: _Obj) -> list[ExpandedPod]:
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    template = _template(obj, spec.get("template"), "spec.template")
    return _job_pods(obj, template, obj.name, _job_pod_count(obj, spec, "spec"))


def _expand_cronjob(obj: _Obj) -> list[ExpandedPod]:
    """One run's worth: the Job named `<cronjob>-<scheduled time in minutes>` and its pods."""
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    job_template = _mapping(obj, spec.get("jobTemplate"), "spec.jobTemplate")
    job_spec = _mapping(obj, job_template.get("spec"), "spec.jobTemplate.spec")
    template = _template(obj, job_spec.get("template"), "spec.jobTemplate.spec.template")
    count = 0 if spec.get("suspend") is True else _job_pod_count(obj, job_spec, "spec.jobTemplate.spec")
    minutes = 10**7 + _digest(f"CronJob/{obj.namespace}/{obj.name}") % (9 * 10**7)  # 8 digits, as today
    return _job_pods(obj, template, f"{obj.name}-{minutes}", count)


def _ray_worker_count(obj: _Obj, group: dict, prefix: str) -> int:
    """KubeRay's desired pods: replicas (default minReplicas, else 1) clamped to min/max, × numOfHosts."""
    if group.get("suspend") is True:
        return 0
    low = _count(obj, group, "minReplicas", prefix, None)
    high = _count(obj, group, "maxReplicas", prefix, None)
    replicas = _count(obj, group, "replicas", prefix, None)
    if replicas is None:
        replicas = 1 if low is None else low
    if low is not None:
        replicas = max(replicas, low)
    if high is not None:
        replicas = min(replicas, high)
    return replicas * _count(obj, group, "numOfHosts", prefix, 1)


def _ray_cluster_pods(obj: _Obj, spec: object, prefix: str, cluster: str) -> list[ExpandedPod]:
    """Head and worker pods of the RayCluster `cluster` described by `spec` (field path `prefix`)."""
    spec = _mapping(obj, spec, prefix)
    head = _mapping(obj, spec.get("headGroupSpec"), f"{prefix}.headGroupSpec")
    head_template = _template(obj, head.get("template"), f"{prefix}.headGroupSpec.template")
    workers = spec.get("workerGroupSpecs") or []
    if not isinstance(workers, list):
        raise obj.error(f"{prefix}.workerGroupSpecs", f"expected a list, got {_show(workers)}")
    if spec.get("suspend") is True:
        return []
    ns = obj.namespace
    owner = _owner(obj.api_version, "RayCluster", cluster, ns)
    common = {"ray.io/cluster": cluster, "ray.io/is-ray-node": "yes"}
    head_labels = {
        **common,
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/identifier": f"{cluster}-head",
    }
    [head_name] = _generated_names(f"{cluster}-head-", f"RayCluster/{ns}/{cluster}/head", 1)
    pods = [obj.pod(head_template.pod(head_name, ns, owner, head_labels), "head")]
    seen: set[str] = set()
    for i, group in enumerate(workers):
        field_ = f"{prefix}.workerGroupSpecs[{i}]"
        group = _mapping(obj, group, field_)
        name = group.get("groupName")
        if not _is_name(name):
            raise obj.error(f"{field_}.groupName", _problem(name, "a non-empty string"))
        if name in seen:
            raise obj.error(f"{field_}.groupName", f"duplicate worker group {name!r}")
        seen.add(name)
        template = _template(obj, group.get("template"), f"{field_}.template")
        labels = {
            **common,
            "ray.io/node-type": "worker",
            "ray.io/group": name,
            "ray.io/identifier": f"{cluster}-worker",
        }
        count = _ray_worker_count(obj, group, field_)
        names = _generated_names(f"{cluster}-{name}-worker-", f"RayCluster/{ns}/{cluster}/{name}", count)
        pods += [obj.pod(template.pod(pod_name, ns, owner, labels), name) for pod_name in names]
    return pods


def _ray_cluster_name(obj: _Obj) -> str:
    return f"{obj.name}-raycluster-{_token(f'{obj.kind}/{obj.namespace}/{obj.name}', 5)}"


def _expand_raycluster(obj: _Obj) -> list[ExpandedPod]:
    return _ray_cluster_pods(obj, obj.raw.get("spec"), "spec", obj.name)


def _expand_rayservice(obj: _Obj) -> list[ExpandedPod]:
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    config = spec.get("rayClusterConfig")
    return _ray_cluster_pods(obj, config, "spec.rayClusterConfig", _ray_cluster_name(obj))


def _expand_rayjob(obj: _Obj) -> list[ExpandedPod]:
    """The RayJob's own cluster (unless it runs on an existing one via clusterSelector) and,
    in K8sJobMode with an explicit submitterPodTemplate, the submitter Job's pod."""
    spec = _mapping(obj, obj.raw.get("spec"), "spec")
    if spec.get("suspend") is True:
        return []
    pods = []
    if spec.get("rayClusterSpec") is not None or not spec.get("clusterSelector"):
        cluster_spec = spec.get("rayClusterSpec")
        pods += _ray_cluster_pods(obj, cluster_spec, "spec.rayClusterSpec", _ray_cluster_name(obj))
    submitter = spec.get("submitterPodTemplate")
    if submitter is not None and spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
        template = _template(obj, submitter, "spec.submitterPodTemplate")
        pods += _job_pods(obj, template, obj.name, 1, group="submitter")
    return pods


_Expander = Callable[[_Obj], list[ExpandedPod]]
_EXPANDERS: dict[tuple[str, str], _Expander] = {
    ("", "Pod"): _expand_pod,
    ("", "ReplicationController"): _expand_replicaset,
    ("apps", "Deployment"): _expand_deployment,
    ("apps", "ReplicaSet"): _expand_replicaset,
    ("apps", "StatefulSet"): _expand_statefulset,
    ("batch", "Job"): _expand_job,
    ("batch", "CronJob"): _expand_cronjob,
    ("ray.io", "RayCluster"): _expand_raycluster,
    ("ray.io", "RayService"): _expand_rayservice,
    ("ray.io", "RayJob"): _expand_rayjob,
}


def _is_daemonset(obj: _Obj) -> bool:
    return (obj.group, obj.kind) == ("apps", "DaemonSet")


def expand_object(obj: dict, source: str) -> list[ExpandedPod]:
    """The pods one object would create. `source` is "file#document" (or any label) for messages.

    DaemonSets and kinds that create no pods give an empty list.
    """
    checked = _read_object(obj, _Where.parse(source))
    expander = _EXPANDERS.get((checked.group, checked.kind))
    return expander(checked) if expander else []


# ---------------------------------------------------------------------------------------------
# Files and documents


def _documents(text: str, file: str) -> Iterator[tuple[int, object]]:
    """(1-based index, content) of each non-empty YAML/JSON document. JSON is read with the json
    module (many times faster than any YAML loader); YAML with LibYAML when it is installed."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError:
            pass  # not one JSON document (e.g. YAML flow style or several): YAML says what is wrong
        except RecursionError:
            raise ManifestError(file, "nested too deeply to read; refused", document=1) from None
        else:
            problem = check_document(document, may_share=False)  # json.loads builds a tree
            if problem:
                raise ManifestError(file, problem, document=1)
            if document is not None:
                yield 1, document
            return
    documents = yaml.load_all(text, Loader=_LOADER)
    may_share = "*" in text  # only an alias (`*name`) makes two places one object
    index = 0
    while True:
        try:
            document = next(documents)
        except StopIteration:
            return
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
            problem = getattr(err, "problem", None) or str(err)
            line = mark.line + 1 if mark is not None else None
            message = f"YAML syntax error: {problem}"
            raise ManifestError(file, message, document=index + 1, line=line) from None
        except RecursionError:
            raise ManifestError(file, "nested too deeply to read; refused", document=index + 1) from None
        except (ValueError, TypeError, OverflowError) as err:  # a value PyYAML cannot build, e.g. a 5000-digit int
            raise ManifestError(file, f"YAML value cannot be read: {err}", document=index + 1) from None
        index += 1
        problem = check_document(document, may_share=may_share)
        if problem:
            raise ManifestError(file, problem, document=index)
        if document is not None:
            yield index, document


def _objects(value: object, where: _Where) -> Iterator[tuple[_Where, object]]:
    """Flatten JSON arrays and `kind: List` / `*List` objects into their items."""
    if isinstance(value, list):
        items = value
        step = ""
    elif isinstance(value, dict) and isinstance(value.get("kind"), str) and value["kind"].endswith("List"):
        items = value.get("items") or []
        if not isinstance(items, list):
            raise where.error("items", f"expected a list, got {_show(items)}", what=value["kind"])
        step = "items"
    else:
        yield where, value
        return
    for i, item in enumerate(items):
        if isinstance(item, dict) and not (isinstance(item.get("kind"), str) and item["kind"].endswith("List")):
            yield where.child(f"{step}[{i}]"), item  # an object, not a nested list: no generator
        else:
            yield from _objects(item, where.child(f"{step}[{i}]"))


class _Collector:
    """Accumulates objects from documents, checking that no two pods share a namespace and name."""

    def __init__(self, timings: dict[str, float] | None = None, max_pods: int | None = None) -> None:
        self.result = LoadedManifests()
        self._pod_sources: dict[tuple[str, str], str] = {}
        self.timings = timings if timings is not None else {}
        self._budget = PodBudget(max_pods)

    def add_text(self, text: str, file: str) -> None:
        started = time.perf_counter()
        documents = list(_documents(text, file))
        expanding = time.perf_counter()
        self.timings["read"] = self.timings.get("read", 0.0) + expanding - started
        for index, document in documents:
            for where, raw in _objects(document, _Where(file, index)):
                self.add_object(raw, where)
        self.timings["expand"] = self.timings.get("expand", 0.0) + time.perf_counter() - expanding

    def add_object(self, raw: object, where: _Where) -> None:
        obj = _read_object(raw, where)
        expander = _EXPANDERS.get((obj.group, obj.kind))
        check_workload(obj.group, obj.kind, obj.raw, obj.error)
        if expander is not None:
            self._budget.take(obj.group, obj.kind, obj.raw, obj.error)
        if _is_daemonset(obj):
            _template(obj, _mapping(obj, obj.raw.get("spec"), "spec").get("template"), "spec.template")
            self.result.daemonsets.append(obj.raw)
        elif expander is None:
            self.result.skipped.append(f"{obj.source}: {skip_reason(obj.api_version, obj.kind)}")
        else:
            for pod in expander(obj):
                meta = pod.manifest["metadata"]
                key = (meta["namespace"], meta["name"])
                if key in self._pod_sources:
                    message = f"pod {key[0]}/{key[1]} is also created by {self._pod_sources[key]}"
                    raise obj.error("metadata.name", message)
                self._pod_sources[key] = obj.source
                self.result.pods.append(pod)


def load_manifest_text(text: str, source: str, max_pods: int | None = None) -> LoadedManifests:
    """Read one file's text; `source` names it in messages."""
    collector = _Collector(max_pods=max_pods)
    collector.add_text(text, source)
    return collector.result


def load_manifest_files(
    paths: list[str], timings: dict[str, float] | None = None, read_only: bool = False, max_pods: int | None = None
) -> LoadedManifests:
    """Read manifest files ("-" is stdin) as one set: pod names must be unique across all of them.
    `timings` (phase -> seconds) gets the time spent reading and expanding; with `read_only` the
    pods of one template share their spec object (the caller promises not to change it). More
    than `max_pods` pods in all (default `autoscaler.validate.manifests.MAX_PREVIEW_PODS`) is
    refused before any is expanded."""
    token = _SHARED_SPECS.set(read_only)
    try:
        return _load_files(paths, _Collector(timings, max_pods))
    finally:
        _SHARED_SPECS.reset(token)


def _load_files(paths: list[str], collector: _Collector) -> LoadedManifests:
    for path in paths:
        if path == "-":
            collector.add_text(read_stdin(_STDIN, ManifestError), _STDIN)
            continue
        try:
            started = time.perf_counter()
            with open(path, encoding="utf-8-sig") as handle:
                text = handle.read(MAX_MANIFEST_CHARS + 1)
            if len(text) > MAX_MANIFEST_CHARS:
                raise ManifestError(path, f"larger than {MAX_MANIFEST_CHARS // 2**20} Mi characters; refused")
            collector.timings["read"] = collector.timings.get("read", 0.0) + time.perf_counter() - started
        except OSError as err:
            raise ManifestError(path, f"cannot read: {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            message = f"cannot read: not UTF-8 text ({err.reason} at byte {err.start})"
            raise ManifestError(path, message) from None
        collector.add_text(text, path)
    return collector.result
