"""Workloads expanded into the pods their controllers would create (Pod, Deployment, ReplicaSet,
StatefulSet, Job, CronJob, KubeRay RayCluster/RayService/RayJob), with deterministic names and
uids so that two runs over the same files agree."""

from __future__ import annotations

import contextvars
import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field


from autoscaler.manifest_objects import (
    ExpandedPod,
    ManifestObject,
    Where,
    check_pod_spec,
    count_field,
    is_name,
    labels_field,
    mapping_field,
    problem_text,
    read_object,
    show_value,
)

# Kubernetes' rand.SafeEncodeString alphabet: no vowels and no 0/1/3, so no words by accident.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAMESPACE_URL = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")  # RFC 4122 appendix C (uuid.NAMESPACE_URL)


def _uuid5(namespace: bytes, name: str) -> bytes:
    """RFC 4122 name-based (SHA-1) UUID bytes, as uuid.uuid5 makes, without UUID objects."""
    raw = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    return bytes(raw)


_UID_BYTES = _uuid5(_NAMESPACE_URL, "smart-autoscaler/manifests")


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
    """uuid5(the manifests' namespace, kind/namespace/name) as text (50,000 replicas: no UUID objects)."""
    text = _uuid5(_UID_BYTES, f"{kind}/{namespace}/{name}").hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _generated_names(prefix: str, seed: str, count: int) -> list[str]:
    """`count` distinct names `<prefix><5 chars>`, like metadata.generateName but reproducible."""
    # The i-th name is the number (offset + step * i) mod 27**5 in the 27-letter alphabet, offset
    # and step drawn from the seed's hash: step is not a multiple of 3, the modulus is 3**15, so
    # the names are distinct for every count a workload can have, and cost no hash each.
    modulus = len(_ALPHABET) ** 5
    if count > modulus:
        raise ValueError(f"{count} replicas: more than the {modulus} names of 5 characters")
    digest = _digest(f"{seed}/names")
    offset, step = digest % modulus, (digest >> 64) % modulus
    step += 1 if step % 3 == 0 else 0
    pairs, alphabet = _PAIRS, _ALPHABET
    return [
        f"{prefix}{pairs[n % 729]}{pairs[n // 729 % 729]}{alphabet[n // 531441]}"
        for n in ((offset + step * index) % modulus for index in range(count))
    ]


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
        if SHARED_SPECS.get():
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
SHARED_SPECS: contextvars.ContextVar[bool] = contextvars.ContextVar("shared_specs", default=False)
_SPECS: dict[bytes, dict] = {}


def _shared_spec(blob: bytes) -> dict:
    spec = _SPECS.get(blob)
    if spec is None:
        if len(_SPECS) > 10_000:
            _SPECS.clear()
        spec = _SPECS[blob] = pickle.loads(blob)
    return spec


def pod_template(obj: ManifestObject, value: object, field_: str) -> _Template:
    template = mapping_field(obj, value, field_)
    spec = check_pod_spec(obj, template.get("spec"), f"{field_}.spec")
    meta = template.get("metadata") or {}
    if not isinstance(meta, dict):
        raise obj.error(f"{field_}.metadata", f"expected a mapping, got {show_value(meta)}")
    labels = labels_field(obj, meta, "labels", f"{field_}.metadata")
    annotations = labels_field(obj, meta, "annotations", f"{field_}.metadata")
    blob = pickle.dumps(spec, pickle.HIGHEST_PROTOCOL)
    return _Template(labels, annotations, blob, _token(_canonical(template), 10))


# ---------------------------------------------------------------------------------------------
# Kinds


def _expand_pod(obj: ManifestObject) -> list[ExpandedPod]:
    check_pod_spec(obj, obj.raw.get("spec"), "spec")
    # Read-only callers take the object as read (it is theirs alone); others get a deep copy.
    read_only = SHARED_SPECS.get()
    pod = obj.raw if read_only else pickle.loads(pickle.dumps(obj.raw, pickle.HIGHEST_PROTOCOL))
    meta = pod["metadata"]
    meta["namespace"] = obj.namespace
    meta["name"] = obj.name  # a generateName-only pod gets its generated name
    meta["labels"] = labels_field(obj, meta, "labels", "metadata")
    meta["annotations"] = labels_field(obj, meta, "annotations", "metadata")
    if not read_only and "uid" not in meta:  # read-only callers plan, and plans name no uid
        meta["uid"] = _uid("Pod", obj.namespace, obj.name)
    pod.setdefault("status", {"phase": "Pending"})
    return [obj.pod(pod)]


def _expand_deployment(obj: ManifestObject) -> list[ExpandedPod]:
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    template = pod_template(obj, spec.get("template"), "spec.template")
    replicas = count_field(obj, spec, "replicas", "spec", 1)
    rs_name = f"{obj.name}-{template.template_hash}"
    owner = _owner("apps/v1", "ReplicaSet", rs_name, obj.namespace)
    names = _generated_names(f"{rs_name}-", f"ReplicaSet/{obj.namespace}/{rs_name}", replicas)
    labels = {"pod-template-hash": template.template_hash}
    return _replicas(obj, template, names, owner, labels)


def _replicas(
    obj: ManifestObject, template: _Template, names: list[str], owner: dict, labels: dict | None = None, group: str = ""
) -> list[ExpandedPod]:
    """Pods of one template that differ only in their names (a ReplicaSet's, a Job's). Read-only
    callers get one ExpandedPod standing for all of them (replicas stay a count); others one each."""
    if SHARED_SPECS.get() and len(names) > 1:
        return [obj.pod(template.pod(names[0], obj.namespace, owner, labels), group, tuple(names))]
    return [obj.pod(template.pod(name, obj.namespace, owner, labels), group) for name in names]


def _expand_replicaset(obj: ManifestObject) -> list[ExpandedPod]:
    """ReplicaSet, and the older core/v1 ReplicationController that works the same way."""
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    template = pod_template(obj, spec.get("template"), "spec.template")
    replicas = count_field(obj, spec, "replicas", "spec", 1)
    owner = _owner(obj.api_version, obj.kind, obj.name, obj.namespace)
    names = _generated_names(f"{obj.name}-", f"{obj.kind}/{obj.namespace}/{obj.name}", replicas)
    return _replicas(obj, template, names, owner)


def _expand_statefulset(obj: ManifestObject) -> list[ExpandedPod]:
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    template = pod_template(obj, spec.get("template"), "spec.template")
    replicas = count_field(obj, spec, "replicas", "spec", 1)
    start = count_field(obj, spec.get("ordinals") or {}, "start", "spec.ordinals", 0)
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
            volumes += [{"name": c, "persistentVolumeClaim": {"claimName": _claim_name(c, name)}} for c in claims]
            pod["spec"]["volumes"] = volumes
        pods.append(obj.pod(pod))
    return pods


def statefulset_claims(obj: ManifestObject, pods: list[ExpandedPod]) -> dict[tuple[str, str], dict]:
    """The PersistentVolumeClaims a StatefulSet's controller creates for its pods, one per
    volumeClaimTemplate and pod (`<template>-<pod>`), with the template's spec; {} for other kinds."""
    if obj.kind != "StatefulSet" or obj.group != "apps":
        return {}
    templates = (obj.raw.get("spec") or {}).get("volumeClaimTemplates") or []
    claims = {}
    for pod in pods:
        for template in templates:
            name = _claim_name(template["metadata"]["name"], pod.manifest["metadata"]["name"])
            spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
            claims[(obj.namespace, name)] = {"metadata": {"name": name, "namespace": obj.namespace}, "spec": spec}
    return claims


def _claim_name(template: str, pod: str) -> str:
    """The claim a StatefulSet's controller makes for one pod from one volumeClaimTemplate."""
    return f"{template}-{pod}"


def _claim_names(obj: ManifestObject, spec: dict) -> list[str]:
    templates = spec.get("volumeClaimTemplates") or []
    if not isinstance(templates, list):
        raise obj.error("spec.volumeClaimTemplates", f"expected a list, got {show_value(templates)}")
    names = []
    for i, claim in enumerate(templates):
        meta = claim.get("metadata") if isinstance(claim, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not is_name(name):
            raise obj.error(f"spec.volumeClaimTemplates[{i}].metadata.name", problem_text(name, "a non-empty string"))
        names.append(name)
    return names


def _job_pod_count(obj: ManifestObject, spec: dict, prefix: str) -> int:
    if spec.get("suspend") is True:
        return 0
    parallelism = count_field(obj, spec, "parallelism", prefix, 1)
    completions = count_field(obj, spec, "completions", prefix, None)
    return parallelism if completions is None else min(parallelism, completions)


def _job_pods(
    obj: ManifestObject, template: _Template, job_name: str, count: int, group: str = ""
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
    return _replicas(obj, template, names, owner, labels, group)


def _expand_job(obj: ManifestObject) -> list[ExpandedPod]:
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    template = pod_template(obj, spec.get("template"), "spec.template")
    return _job_pods(obj, template, obj.name, _job_pod_count(obj, spec, "spec"))


def _expand_cronjob(obj: ManifestObject) -> list[ExpandedPod]:
    """One run's worth: the Job named `<cronjob>-<scheduled time in minutes>` and its pods."""
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    job_template = mapping_field(obj, spec.get("jobTemplate"), "spec.jobTemplate")
    job_spec = mapping_field(obj, job_template.get("spec"), "spec.jobTemplate.spec")
    template = pod_template(obj, job_spec.get("template"), "spec.jobTemplate.spec.template")
    count = 0 if spec.get("suspend") is True else _job_pod_count(obj, job_spec, "spec.jobTemplate.spec")
    minutes = 10**7 + _digest(f"CronJob/{obj.namespace}/{obj.name}") % (9 * 10**7)  # 8 digits, as today
    return _job_pods(obj, template, f"{obj.name}-{minutes}", count)


def _ray_worker_count(obj: ManifestObject, group: dict, prefix: str) -> int:
    """KubeRay's desired pods: replicas (default minReplicas, else 1) clamped to min/max, × numOfHosts."""
    if group.get("suspend") is True:
        return 0
    low = count_field(obj, group, "minReplicas", prefix, None)
    high = count_field(obj, group, "maxReplicas", prefix, None)
    replicas = count_field(obj, group, "replicas", prefix, None)
    if replicas is None:
        replicas = 1 if low is None else low
    if low is not None:
        replicas = max(replicas, low)
    if high is not None:
        replicas = min(replicas, high)
    return replicas * count_field(obj, group, "numOfHosts", prefix, 1)


def _ray_cluster_pods(obj: ManifestObject, spec: object, prefix: str, cluster: str) -> list[ExpandedPod]:
    """Head and worker pods of the RayCluster `cluster` described by `spec` (field path `prefix`)."""
    spec = mapping_field(obj, spec, prefix)
    head = mapping_field(obj, spec.get("headGroupSpec"), f"{prefix}.headGroupSpec")
    head_template = pod_template(obj, head.get("template"), f"{prefix}.headGroupSpec.template")
    workers = spec.get("workerGroupSpecs") or []
    if not isinstance(workers, list):
        raise obj.error(f"{prefix}.workerGroupSpecs", f"expected a list, got {show_value(workers)}")
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
        group = mapping_field(obj, group, field_)
        name = group.get("groupName")
        if not is_name(name):
            raise obj.error(f"{field_}.groupName", problem_text(name, "a non-empty string"))
        if name in seen:
            raise obj.error(f"{field_}.groupName", f"duplicate worker group {name!r}")
        seen.add(name)
        template = pod_template(obj, group.get("template"), f"{field_}.template")
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


def _ray_cluster_name(obj: ManifestObject) -> str:
    return f"{obj.name}-raycluster-{_token(f'{obj.kind}/{obj.namespace}/{obj.name}', 5)}"


def _expand_raycluster(obj: ManifestObject) -> list[ExpandedPod]:
    return _ray_cluster_pods(obj, obj.raw.get("spec"), "spec", obj.name)


def _expand_rayservice(obj: ManifestObject) -> list[ExpandedPod]:
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    config = spec.get("rayClusterConfig")
    return _ray_cluster_pods(obj, config, "spec.rayClusterConfig", _ray_cluster_name(obj))


def _expand_rayjob(obj: ManifestObject) -> list[ExpandedPod]:
    """The RayJob's own cluster (unless it runs on an existing one via clusterSelector) and,
    in K8sJobMode with an explicit submitterPodTemplate, the submitter Job's pod."""
    spec = mapping_field(obj, obj.raw.get("spec"), "spec")
    if spec.get("suspend") is True:
        return []
    pods = []
    if spec.get("rayClusterSpec") is not None or not spec.get("clusterSelector"):
        cluster_spec = spec.get("rayClusterSpec")
        pods += _ray_cluster_pods(obj, cluster_spec, "spec.rayClusterSpec", _ray_cluster_name(obj))
    submitter = spec.get("submitterPodTemplate")
    if submitter is not None and spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
        template = pod_template(obj, submitter, "spec.submitterPodTemplate")
        pods += _job_pods(obj, template, obj.name, 1, group="submitter")
    return pods


_Expander = Callable[[ManifestObject], list[ExpandedPod]]
EXPANDERS: dict[tuple[str, str], _Expander] = {
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


def is_daemonset(obj: ManifestObject) -> bool:
    return (obj.group, obj.kind) == ("apps", "DaemonSet")


def expand_object(obj: dict, source: str) -> list[ExpandedPod]:
    """The pods one object would create. `source` is "file#document" (or any label) for messages.

    DaemonSets and kinds that create no pods give an empty list.
    """
    checked = read_object(obj, Where.parse(source))
    expander = EXPANDERS.get((checked.group, checked.kind))
    return expander(checked) if expander else []


# ---------------------------------------------------------------------------------------------
# Files and documents
