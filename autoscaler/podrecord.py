"""The daemon's record of a Pod from the API, readable or not (issue 19: nothing invisible is removed).

A pod whose spec the planner cannot read (a request of `cpu: 1e30`, accepted by the API
server) is planned as if absent while it waits for a node: it gets an `InvalidPodSpec`
Warning and no node. Once it is bound to a node, leaving it out would make its node look
emptier than it is -- scale-down would remove the node with the pod on it, and the pod would
be lost without an eviction. So a bound, unfinished pod is always kept: its identity, owner,
labels and node are read from its metadata, and its requests count as `UNKNOWN_REQUESTS`, more
than any node holds, so nothing is planned into room it may use, it never "fits elsewhere",
and scale-down keeps its node (with an Event saying why). A drain started for another reason
(TTL cycling, an operator's drain) evicts it through the Eviction API like any other pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable

from autoscaler.model import Pod, PodShape
from autoscaler.podspec import DEFAULT_PREFIXES, PodSpecError, _owner, pod_from_manifest
from autoscaler.resources import Resources

# Requests no node can hold: the room such a pod uses is not known.
UNKNOWN_REQUESTS = Resources(cpu=10**15, memory=2**62, gpu=10**6, pods=1, ephemeral=2**62)
_FINISHED = ("Succeeded", "Failed")


def read_pod(obj: Mapping[str, Any], prefixes: Iterable[str] = DEFAULT_PREFIXES) -> Pod:
    """The planner's Pod; for a bound pod whose spec cannot be read, an unreadable record;
    PodSpecError for a pod not bound yet whose spec cannot be read (planned as if absent)."""
    try:
        return pod_from_manifest(obj, prefixes)
    except PodSpecError as err:
        record = unreadable_pod(obj, str(err))
        if record is None:
            raise
        return record


def unreadable_pod(obj: Mapping[str, Any], reason: str) -> Pod | None:
    """What is known of a bound, unfinished pod from its metadata alone; None when it is not bound."""
    metadata = _mapping(obj.get("metadata"))
    spec, status = _mapping(obj.get("spec")), _mapping(obj.get("status"))
    node = spec.get("nodeName")
    phase = str(status.get("phase") or "Pending")
    name = metadata.get("name")
    if not isinstance(node, str) or not node or phase in _FINISHED or not isinstance(name, str) or not name:
        return None
    namespace = str(metadata.get("namespace") or "default")
    owner, owner_kind = _owner(metadata, namespace)  # metadata the API server has validated
    labels = metadata.get("labels")
    return Pod(
        namespace=namespace,
        name=name,
        shape=PodShape.of(UNKNOWN_REQUESTS),
        uid=str(metadata.get("uid") or ""),
        owner=owner,
        owner_kind=owner_kind,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {},
        phase=phase,
        node_name=node,
        daemonset=owner_kind == "DaemonSet",
        unreadable=reason or "its spec cannot be read",
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
