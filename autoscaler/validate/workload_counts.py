"""How many pods a workload object creates, and which kinds the preview expands (no pydantic:
`preview` counts every object before anything is validated in depth)."""

from __future__ import annotations

from typing import Any, Mapping

EXPANDED_KINDS = (
    "CronJob", "DaemonSet", "Deployment", "Job", "Pod", "RayCluster", "RayJob", "RayService", "ReplicaSet",
    "ReplicationController", "StatefulSet",
)


def _job_pods(spec: Mapping[str, Any]) -> int:
    if spec.get("suspend") is True:
        return 0
    parallelism = spec.get("parallelism")
    parallelism = 1 if parallelism is None else parallelism
    completions = spec.get("completions")
    return parallelism if completions is None else min(parallelism, completions)


def _ray_pods(cluster: Mapping[str, Any] | None) -> int:
    if not cluster or cluster.get("suspend") is True:
        return 0
    total = 1
    for group in cluster.get("workerGroupSpecs") or ():
        if group.get("suspend") is True:
            continue
        counts = [group.get(k) for k in ("replicas", "minReplicas", "maxReplicas")]
        replicas = max([c for c in counts if c is not None] or [1])
        total += replicas * (group.get("numOfHosts") or 1)
    return total


def pod_count(group: str, kind: str, obj: Mapping[str, Any]) -> int:
    """At most how many pods a valid workload object creates (checked before expanding it)."""
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "ReplicaSet", "ReplicationController", "StatefulSet"):
        replicas = spec.get("replicas")
        return 1 if replicas is None else replicas
    if kind == "Job":
        return _job_pods(spec)
    if kind == "CronJob":
        return 0 if spec.get("suspend") is True else _job_pods(spec["jobTemplate"]["spec"])
    if kind == "RayCluster":
        return _ray_pods(spec)
    if kind == "RayService":
        return _ray_pods(spec.get("rayClusterConfig"))
    if kind == "RayJob":
        return _ray_pods(spec.get("rayClusterSpec")) + 1
    return 1
