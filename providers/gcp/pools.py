"""GKE node pools made for offerings: their deterministic names and their specification.

One pool per (machine type + attached GPUs, zone, spot or standard, GPU sharing, role,
labels, taints): every node of a pool is alike, so growing the pool's managed instance group
by one named instance gives exactly the node the planner chose. The name is derived from
all of that, so a restarted autoscaler finds the pools it made; `sa-` marks them.
Pure: the pool is built as the GKE API's NodePool fields (snake_case, as the SDK takes them).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from autoscaler.config import GcpConfig
from autoscaler.nodelabels import gke_accelerator_name
from pricing.types import SPOT, InstanceType, Taint

POOL_PREFIX = "sa-"
MAX_POOL_NAME = 40  # GKE's limit on node pool names
GKE_SHARING_STRATEGY = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_MAX_SHARED_CLIENTS = "cloud.google.com/gke-max-shared-clients-per-gpu"
# Labels GKE or the kubelet set on every node themselves (and GKE refuses as pool labels).
_SYSTEM_LABEL_PREFIXES = ("kubernetes.io/", "node.kubernetes.io/", "topology.kubernetes.io/", "beta.kubernetes.io/", "cloud.google.com/")
# GKE puts this taint on every GPU node pool itself.
_GKE_GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
_EFFECT_NAMES = {value: key for key, value in _EFFECTS.items()}
# Label values the planner puts on nodes, kept on the pool so a restart can read them back.
ROLE_LABEL = "smart-autoscaler.io/node-type"
CAPACITY_LABEL = "smart-autoscaler.io/capacity-type"
CREATED_BY_LABEL = "smart-autoscaler.io/created-by"
CREATED_BY_VALUE = "smart-autoscaler"


@dataclass(frozen=True)
class PoolSpec:
    """What every node of one pool is."""

    machine_type: str
    accelerator_type: str  # "" for none; the GCE accelerator name, e.g. nvidia-tesla-t4
    accelerator_count: int
    spot: bool
    zone: str
    role: str
    gpu_time_slices: int  # 1 = no sharing
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    disk_size_gb: int = 0  # 0: gcp.diskSizeGb; else sized to the planned pods (pricing/disk.py)

    @property
    def name(self) -> str:
        described = repr(self) if self.disk_size_gb else repr(replace(self, disk_size_gb=0)).replace(", disk_size_gb=0", "")
        digest = hashlib.sha256(described.encode()).hexdigest()[:8]
        readable = f"{POOL_PREFIX}{self.machine_type}{'-spot' if self.spot else ''}"
        readable = re.sub(r"[^a-z0-9-]", "-", readable.lower())[: MAX_POOL_NAME - len(digest) - 1].rstrip("-")
        return f"{readable}-{digest}"


def gke_accelerator(itype: InstanceType) -> tuple[str, int]:
    """The accelerator a pool of this type declares: attached GPUs (n1) or the GPUs an
    accelerator-optimized machine (a2, a3, g2) carries; GKE needs both declared."""
    if itype.accelerator is not None:
        return itype.accelerator.cloud_name, itype.accelerator.count
    if itype.gpu_count and (itype.gpu_manufacturer or "nvidia").lower() == "nvidia":
        return gke_accelerator_name(itype), itype.gpu_count
    return "", 0


def pool_spec(
    itype: InstanceType,
    capacity_type: str,
    zone: str,
    labels: Mapping[str, str],
    taints: tuple[Taint, ...],
    default_time_slices: int,
    disk_size_gb: int = 0,
) -> PoolSpec:
    accelerator, count = gke_accelerator(itype)
    slices = 1
    if count:
        asked = labels.get(GKE_MAX_SHARED_CLIENTS, "")
        slices = int(asked) if asked.isdigit() else default_time_slices
    return PoolSpec(
        machine_type=itype.machine_type or itype.name,
        accelerator_type=accelerator,
        accelerator_count=count,
        spot=capacity_type == SPOT,
        zone=zone,
        role=labels.get(ROLE_LABEL, ""),
        gpu_time_slices=max(1, slices),
        labels=tuple(sorted({**{k: v for k, v in labels.items() if not k.startswith(_SYSTEM_LABEL_PREFIXES)}, CREATED_BY_LABEL: CREATED_BY_VALUE}.items())),
        taints=tuple(t for t in taints if t != _GKE_GPU_TAINT),
        disk_size_gb=disk_size_gb,
    )


def node_pool_body(spec: PoolSpec, config: GcpConfig) -> dict[str, Any]:
    """The NodePool to create: no nodes yet, autoscaling off (the autoscaler sizes it)."""
    node_config: dict[str, Any] = {
        "machine_type": spec.machine_type,
        "disk_size_gb": max(spec.disk_size_gb, config.disk_size_gb),
        "disk_type": config.disk_type,
        "image_type": config.image_type,
        "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "labels": dict(spec.labels),
        "taints": [{"key": t.key, "value": t.value, "effect": _EFFECTS.get(t.effect, "NO_SCHEDULE")} for t in spec.taints],
        "spot": spec.spot,
        "tags": list(config.network_tags),
    }
    if config.service_account:
        node_config["service_account"] = config.service_account
    if spec.accelerator_count:
        accelerator: dict[str, Any] = {
            "accelerator_count": spec.accelerator_count,
            "accelerator_type": spec.accelerator_type,
            "gpu_driver_installation_config": {"gpu_driver_version": config.gpu_driver_version},
        }
        if spec.gpu_time_slices > 1:
            accelerator["gpu_sharing_config"] = {
                "gpu_sharing_strategy": "TIME_SHARING",
                "max_shared_clients_per_gpu": spec.gpu_time_slices,
            }
        node_config["accelerators"] = [accelerator]
    body: dict[str, Any] = {
        "name": spec.name,
        "config": node_config,
        "initial_node_count": 0,
        "locations": [spec.zone],
        "autoscaling": {"enabled": False},
        "management": {"auto_repair": True, "auto_upgrade": True},
    }
    if config.pod_range:
        body["network_config"] = {"pod_range": config.pod_range}
    return body


@dataclass(frozen=True)
class PoolInfo:
    """A pool the autoscaler made, as GKE lists it."""

    name: str
    zone: str
    instance_type: str  # the catalog's name: machine type, plus attached GPUs for n1
    capacity_type: str
    role: str
    status: str
    instance_group_urls: tuple[str, ...]


def pool_info(pool: Any) -> PoolInfo | None:
    """Read a listed NodePool (SDK object); None when the autoscaler did not make it."""
    name = pool.name
    if not name.startswith(POOL_PREFIX):
        return None
    config = pool.config
    labels = dict(config.labels)
    if labels.get(CREATED_BY_LABEL) != CREATED_BY_VALUE:
        return None  # a pool of the same prefix that someone else made
    machine = config.machine_type
    instance_type = machine
    accelerators = list(config.accelerators)
    if accelerators and machine.startswith("n1-"):
        first = accelerators[0]
        instance_type = f"{machine}+{first.accelerator_count}x{first.accelerator_type}"
    urls = tuple(pool.instance_group_urls)
    locations = list(pool.locations)
    zone = locations[0] if locations else (mig_zone(urls[0]) if urls else "")
    status = pool.status.name if hasattr(pool.status, "name") else str(pool.status)
    capacity = labels.get(CAPACITY_LABEL) or (SPOT if config.spot or config.preemptible else "on-demand")
    return PoolInfo(name, zone, instance_type, capacity, labels.get(ROLE_LABEL, ""), status, urls)


def mig_zone(url: str) -> str:
    """.../projects/p/zones/us-central1-a/instanceGroupManagers/gke-... -> us-central1-a"""
    match = re.search(r"/zones/([^/]+)/instanceGroup", url)
    return match.group(1) if match else ""


def mig_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def instance_name(pool_name: str, request_id: str) -> str:
    """The instance (and node) name for one launch attempt: the same attempt, the same name."""
    return f"{pool_name}-{hashlib.sha256(request_id.encode()).hexdigest()[:8]}"


def effect_name(effect: str) -> str:
    return _EFFECT_NAMES.get(effect, effect)
