"""Agent pools the autoscaler makes: one per offering, AKS's own autoscaling off.

A pool is created with the count its first launches need; nodes are added by raising its
`count` and removed by deleting exactly the named machines (providers/azure/scaler.py). Spot pools carry Spot
priority, eviction policy Delete and max price -1 (pay up to the on-demand price, never
evicted for price); AKS itself gives their nodes the label and the taint
`kubernetes.azure.com/scalesetpriority=spot:NoSchedule`.
"""

from __future__ import annotations

from typing import Any, Mapping

from autoscaler.config import AzureConfig
from autoscaler.nodelabels import ROLE
from pricing.types import InstanceType, Taint
from providers.azure.names import (
    MANAGED_BY_VALUE,
    TAG_MANAGED_BY,
    TAG_POOL_CAPACITY,
    TAG_POOL_CLUSTER,
    TAG_POOL_ROLE,
    TAG_VM_SIZE,
    TAG_ZONE,
    Offering,
)

AKS_SPOT_TAINT_KEY = "kubernetes.azure.com/scalesetpriority"
# Label namespaces the kubelet or AKS set themselves; AKS refuses or ignores them as pool labels.
_RESERVED_LABEL_SUFFIXES = ("kubernetes.io", "k8s.io", "kubernetes.azure.com")


def pool_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The launch's node labels a pool can carry: not labels Kubernetes or AKS own (the
    kubelet and AKS set those; the loop adds any missing one when the node registers)."""
    kept = {}
    for key, value in labels.items():
        prefix = key.split("/", 1)[0] if "/" in key else ""
        if any(prefix == s or prefix.endswith("." + s) for s in _RESERVED_LABEL_SUFFIXES):
            continue
        kept[key] = value
    return dict(sorted(kept.items()))


def pool_taints(taints: tuple[Taint, ...]) -> list[str]:
    return sorted({t.describe() for t in taints if t.key != AKS_SPOT_TAINT_KEY})


def pool_body(
    offering: Offering,
    itype: InstanceType,
    region: str,
    labels: Mapping[str, str],
    taints: tuple[Taint, ...],
    cluster_tag: str,
    settings: AzureConfig,
    count: int = 0,
) -> dict[str, Any]:
    """The AgentPool resource (REST shape) for an offering's pool (AKS REST API, Agent Pools -
    Create Or Update, example AgentPoolsCreate_Spot / AgentPoolsCreate_Update)."""
    properties: dict[str, Any] = {
        "count": count,
        "vmSize": offering.vm_size,
        "mode": "User",
        "osType": "Linux",
        "osSKU": settings.os_sku,
        "type": "VirtualMachineScaleSets",
        "enableAutoScaling": False,
        "scaleDownMode": "Delete",
        "osDiskSizeGB": settings.gpu_os_disk_size_gb if itype.gpu_count else settings.os_disk_size_gb,
        "nodeLabels": pool_labels(labels),
        "nodeTaints": pool_taints(taints),
        "tags": {
            TAG_POOL_CLUSTER: cluster_tag,
            TAG_MANAGED_BY: MANAGED_BY_VALUE,
            TAG_POOL_CAPACITY: offering.capacity_type,
            TAG_VM_SIZE: offering.vm_size,
            TAG_ZONE: offering.zone,
            TAG_POOL_ROLE: labels.get(ROLE, ""),
        },
    }
    zone = offering.availability_zone(region)
    if zone:
        properties["availabilityZones"] = [zone]
    if offering.spot:
        properties.update(scaleSetPriority="Spot", scaleSetEvictionPolicy="Delete", spotMaxPrice=-1)
    else:
        properties["scaleSetPriority"] = "Regular"
    if itype.gpu_count and (itype.gpu_manufacturer or "nvidia").lower() == "nvidia":
        properties["gpuProfile"] = {"driver": settings.gpu_driver}
    if settings.vnet_subnet_id:
        properties["vnetSubnetID"] = settings.vnet_subnet_id
    if settings.max_pods:
        properties["maxPods"] = settings.max_pods
    return {"properties": properties}


def pool_offering(pool: Mapping[str, Any]) -> Offering | None:
    """The offering a pool the autoscaler made serves, from its tags; None for other pools."""
    properties = pool.get("properties") or {}
    tags = properties.get("tags") or pool.get("tags") or {}
    if tags.get(TAG_MANAGED_BY) != MANAGED_BY_VALUE:
        return None
    capacity = tags.get(TAG_POOL_CAPACITY) or ("spot" if properties.get("scaleSetPriority") == "Spot" else "on-demand")
    return Offering(tags.get(TAG_VM_SIZE) or properties.get("vmSize", ""), capacity, tags.get(TAG_ZONE, ""))


def pool_role(pool: Mapping[str, Any]) -> str:
    return pool_tags(pool).get(TAG_POOL_ROLE, "")


def pool_cluster(pool: Mapping[str, Any]) -> str:
    return pool_tags(pool).get(TAG_POOL_CLUSTER, "")


def pool_tags(pool: Mapping[str, Any]) -> dict[str, str]:
    return dict((pool.get("properties") or {}).get("tags") or {})


def pool_count(pool: Mapping[str, Any]) -> int:
    return int((pool.get("properties") or {}).get("count") or 0)


def pool_state(pool: Mapping[str, Any] | None) -> str:
    return str(((pool or {}).get("properties") or {}).get("provisioningState", "")).lower()


# AgentPool properties the service sets and a client does not send back (readOnly in the
# AKS REST API's AgentPoolProperties, Microsoft.ContainerService stable 2025-07-01).
_READ_ONLY = ("provisioningState", "currentOrchestratorVersion", "nodeImageVersion", "eTag")


def changed_pool(pool: Mapping[str, Any], count: int, tags: Mapping[str, str]) -> dict[str, Any]:
    """The PUT body that changes only the pool's count and tags: the pool as read, less the
    read-only properties (what `az aks nodepool scale` sends)."""
    properties = {k: v for k, v in (pool.get("properties") or {}).items() if k not in _READ_ONLY}
    properties["count"] = count
    properties["tags"] = dict(tags)
    return {"properties": properties}
