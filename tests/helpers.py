"""Builders for test pods and workloads, written as Kubernetes would hold them."""

from __future__ import annotations

from typing import Any

from autoscaler.config import Config, config_from_mapping
from autoscaler.model import Pod
from autoscaler.planner import Plan, plan
from autoscaler.podspec import pod_from_manifest
from pricing.catalog import CatalogSettings, region_catalog

MANAGED = {"smart-autoscaler.io/managed": "true"}


def container(cpu: str | None = None, memory: str | None = None, gpu: int = 0, **extra: Any) -> dict[str, Any]:
    requests: dict[str, Any] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    resources: dict[str, Any] = {"requests": requests}
    if gpu:
        resources["limits"] = {"nvidia.com/gpu": str(gpu)}
    return {"name": extra.pop("name", "main"), "image": "busybox", "resources": resources, **extra}


def pod_manifest(
    name: str,
    cpu: str | None = "500m",
    memory: str | None = "512Mi",
    gpu: int = 0,
    *,
    namespace: str = "default",
    owner: str | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    unschedulable: str | None = "0/3 nodes are available: 3 Insufficient cpu.",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {**MANAGED, **(labels or {})},
        "annotations": annotations or {},
        "uid": f"uid-{namespace}-{name}",
    }
    if owner:
        kind, _, owner_name = owner.partition("/")
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": kind, "name": owner_name, "uid": f"uid-{owner}", "controller": True}
        ]
    status: dict[str, Any] = {"phase": "Pending"}
    if unschedulable is not None:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [container(cpu, memory, gpu)], **(spec or {})},
        "status": status,
    }


def make_pod(name: str, cpu: str | None = "500m", memory: str | None = "512Mi", gpu: int = 0, **kwargs: Any) -> Pod:
    return pod_from_manifest(pod_manifest(name, cpu, memory, gpu, **kwargs))


def replicas(prefix: str, count: int, cpu: str = "500m", memory: str = "512Mi", gpu: int = 0, **kwargs: Any) -> list[Pod]:
    kwargs.setdefault("owner", f"ReplicaSet/{prefix}")
    return [make_pod(f"{prefix}-{i}", cpu, memory, gpu, **kwargs) for i in range(count)]


def config(**options: Any) -> Config:
    return config_from_mapping(options)


def catalog(cloud: str = "aws", region: str = "us-east-1", cfg: Config | None = None):
    cfg = cfg or Config()
    return region_catalog(
        cloud, region, CatalogSettings(cfg.spot_price_ratio_estimate, cfg.vm_memory_overhead_percent, cfg.max_pods_per_node)
    )


def plan_for(pods: list[Pod], cloud: str = "aws", region: str = "us-east-1", cfg: Config | None = None, **kwargs: Any) -> Plan:
    cfg = cfg or Config()
    return plan(pods, catalog(cloud, region, cfg), cfg, **kwargs)


def launched(result: Plan) -> list[tuple[str, str, int]]:
    """[(instance type, capacity type, pods on it)] of every new node, in plan order."""
    return [(n.instance_type, n.capacity_type, len(n.pods)) for n in result.new_nodes]


def types_count(result: Plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in result.new_nodes:
        counts[node.instance_type] = counts.get(node.instance_type, 0) + 1
    return counts
