"""Root volumes: the one place the planner and the providers size a node's disk from.

A new node's root volume is sized to the ephemeral storage its planned pods (and the
DaemonSets) ask for: the cloud's default size (or the operator's configured size, a floor)
when that holds them, else the next power of two GiB that does (few distinct sizes, so few
launch templates and node pools), never above the largest root volume the cloud allows. The
kubelet keeps 10% of the volume free (`nodefs.available`), so a volume of N GiB offers 0.9 N
to pods. Until a node is planned, its type offers the largest usable volume: the ephemeral
dimension is what the disk is sized to, not a limit of the type.

Sources: EKS AL2023 AMIs have a 20 GiB root volume (GPU AMIs need room for drivers and
images: 100 GiB, as Karpenter's GPU examples use); EBS gp3 volumes go to 16 TiB. GKE's
NodeConfig.diskSizeGb defaults to 100 GB, at most 65,536 GB. OCI boot volumes default to
46.6 GB (50 GB in OKE's console), from 50 GB to 32 TB. Azure managed OS disks go to 4,095 GiB;
AKS's default OS disk is 128 GiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

GIB = 2**30
USABLE_NUMERATOR, USABLE_DENOMINATOR = 9, 10  # the kubelet's nodefs.available eviction threshold is 10%


@dataclass(frozen=True, slots=True)
class DiskLimits:
    default_gib: int
    gpu_default_gib: int
    max_gib: int
    sized: bool = True  # the cloud's provider launches the volume this module sizes


LIMITS = {
    "aws": DiskLimits(20, 100, 16_384),
    "gcp": DiskLimits(100, 100, 65_536),
    "oci": DiskLimits(50, 50, 32_768),
    # The AKS provider launches azure.osDiskSizeGB / gpuOSDiskSizeGB as configured: until it
    # sizes disks to the pods, the planner counts on the default size, never more.
    "azure": DiskLimits(128, 256, 4_095, sized=False),
}


def usable_bytes(volume_gib: int) -> int:
    """Ephemeral storage a root volume of this size offers to pods."""
    return volume_gib * GIB * USABLE_NUMERATOR // USABLE_DENOMINATOR


def largest_volume_bytes(cloud: str, gpu: bool = False) -> int:
    limits = LIMITS.get(cloud)
    if limits is None:
        return 100 * GIB
    if not limits.sized:
        return (limits.gpu_default_gib if gpu else limits.default_gib) * GIB
    return limits.max_gib * GIB


def largest_usable_bytes(cloud: str, gpu: bool = False) -> int:
    """What a node of this cloud can offer to pods at most (the planner's view of a new node)."""
    return largest_volume_bytes(cloud, gpu) * USABLE_NUMERATOR // USABLE_DENOMINATOR


def configured_floor_gib(config: Any, gpu: bool) -> int | None:
    """The operator's own root volume size for this cloud, if configured (a floor, never a cap)."""
    cloud = config.cloud
    if cloud == "gcp":
        return config.gcp.disk_size_gb
    if cloud == "oci":
        return config.oci.boot_volume_size_gb
    if cloud == "azure":
        return config.azure.gpu_os_disk_size_gb if gpu else config.azure.os_disk_size_gb
    return None


def root_volume_gib(cloud: str, gpu: bool, ephemeral_need: int, floor_gib: int | None = None) -> int:
    """The root volume (GiB) for a new node whose pods ask for `ephemeral_need` bytes."""
    limits = LIMITS.get(cloud, DiskLimits(100, 100, 100))
    base = floor_gib or (limits.gpu_default_gib if gpu else limits.default_gib)
    if usable_bytes(base) >= ephemeral_need or not limits.sized:
        return min(base, limits.max_gib)
    needed = math.ceil(ephemeral_need * USABLE_DENOMINATOR / USABLE_NUMERATOR / GIB)
    return min(max(base, 2 ** math.ceil(math.log2(needed))), limits.max_gib)
