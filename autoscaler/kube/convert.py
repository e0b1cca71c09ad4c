"""API JSON (dicts, camelCase) to the small frozen records the daemon keeps.

Pods go through `autoscaler.podspec.pod_from_manifest`; nodes, DaemonSets and PDBs come here.

Only what the records hold is kept, so 50,000 pods stay cheap; full API objects never are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from autoscaler.cluster import DaemonSetInfo, KubeNode, PdbInfo
from autoscaler.model import AMD_GPU, NVIDIA_GPU
from autoscaler.podspec import DEFAULT_PREFIXES, PodSpecError, node_affinity, pod_requests, tolerations_of
from autoscaler.podspec import parse_timestamp
from autoscaler.podresources import is_device
from autoscaler.podterms import host_ports
from autoscaler.validate.problems import describe
from autoscaler.validate.workloads import workload_problems
from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.resources import Resources
from pricing.devices import NEURON
from pricing.types import Taint

log = logging.getLogger(__name__)


def object_key(obj: Mapping[str, Any]) -> str:
    """'namespace/name' ('/name' for cluster-scoped objects)."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(metadata, Mapping):  # never from an API server; an object that cannot be read at all
        return "/"
    return f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}"


def _amount(values: Mapping[str, Any], name: str, parse: Callable[[object], int], where: str) -> int:
    if name not in values:
        return 0
    try:
        return parse(values[name])
    except QuantityError as err:
        log.warning("%s: %s ignored (counted as 0): %s", where, name, err)
        return 0


def resources_from_api(values: Mapping[str, Any] | None, where: str) -> Resources:
    """A node's capacity or allocatable map; gpu counts the accelerators a pod's gpu dimension
    can ask for: nvidia.com/gpu, amd.com/gpu and aws.amazon.com/neuron."""
    values = values or {}
    return Resources(
        cpu=_amount(values, "cpu", parse_cpu_millis, where),
        memory=_amount(values, "memory", parse_count, where),
        gpu=sum(_amount(values, name, parse_count, where) for name in (NVIDIA_GPU, AMD_GPU, NEURON)),
        pods=_amount(values, "pods", parse_count, where),
        ephemeral=_amount(values, "ephemeral-storage", parse_count, where),
    )


def devices_from_api(values: Mapping[str, Any] | None, where: str) -> dict[str, int]:
    """The extended resources of a node's allocatable map (what its device plugins advertise)."""
    return {
        str(name): count
        for name in values or {}
        if is_device(str(name)) and (count := _amount(values, name, parse_count, where)) > 0
    }


def taints_from_api(items: Iterable[Mapping[str, Any]] | None) -> tuple[Taint, ...]:
    return tuple(
        Taint(str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or "")) for t in items or ()
    )


def taint_to_api(taint: Taint) -> dict[str, str]:
    body = {"key": taint.key, "effect": taint.effect}
    if taint.value:
        body["value"] = taint.value
    return body


def _ready(status: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def node_from_api(obj: Mapping[str, Any], prefixes: Iterable[str] = DEFAULT_PREFIXES) -> KubeNode:
    """A core/v1 Node; of its annotations only those under `prefixes` are kept."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    name = str(metadata.get("name") or "")
    prefixes = tuple(prefixes)
    return KubeNode(
        name=name,
        uid=str(metadata.get("uid") or ""),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items() if k.startswith(prefixes)},
        taints=taints_from_api(spec.get("taints")),
        allocatable=resources_from_api(status.get("allocatable"), f"node {name}: status.allocatable"),
        capacity=resources_from_api(status.get("capacity"), f"node {name}: status.capacity"),
        provider_id=str(spec.get("providerID") or ""),
        unschedulable=bool(spec.get("unschedulable")),
        ready=_ready(status),
        created=parse_timestamp(metadata.get("creationTimestamp")),
        resource_version=str(metadata.get("resourceVersion") or ""),
        devices=devices_from_api(status.get("allocatable"), f"node {name}: status.allocatable"),
    )


def daemonset_from_api(obj: Mapping[str, Any]) -> DaemonSetInfo:
    """An apps/v1 DaemonSet: what its pod asks of every node; PodSpecError when a field is not valid."""
    problems = workload_problems("apps", "DaemonSet", obj)
    if problems:
        raise PodSpecError(f"DaemonSet {object_key(obj).lstrip('/')}: {describe(problems)}")
    metadata = obj.get("metadata") or {}
    namespace, name = str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    requests, gpu_resource = pod_requests(spec, f"{namespace}/{name} (DaemonSet template)")
    try:
        ports = host_ports(spec)
    except (AttributeError, TypeError, ValueError) as err:
        raise PodSpecError(f"DaemonSet {namespace}/{name}: host ports cannot be read ({err})") from None
    return DaemonSetInfo(namespace, name, requests, node_affinity(spec), tolerations_of(spec, gpu_resource), ports)


def pdb_from_api(obj: Mapping[str, Any]) -> PdbInfo:
    """A policy/v1 PodDisruptionBudget."""
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    selector = spec.get("selector")
    selector_map = selector or {}
    return PdbInfo(
        namespace=str(metadata.get("namespace") or "default"),
        name=str(metadata.get("name") or ""),
        match_labels={str(k): str(v) for k, v in (selector_map.get("matchLabels") or {}).items()},
        match_expressions=tuple(
            (str(e.get("key") or ""), str(e.get("operator") or ""), tuple(str(v) for v in e.get("values") or ()))
            for e in selector_map.get("matchExpressions") or ()
        ),
        disruptions_allowed=int((obj.get("status") or {}).get("disruptionsAllowed") or 0),
        has_selector=selector is not None,
    )

