"""Allocatable = capacity − the cloud's kubelet/system reservation − the hard eviction threshold.

Each managed Kubernetes service documents what its node images reserve; the planner must
use the same arithmetic, or it launches nodes that the pod then does not fit on.

- EKS (amazon-eks-ami bootstrap, "kube-reserved" in its kubelet config):
  CPU 6% of the first core, 1% of the second, 0.5% of cores 3–4, 0.25% of every core
  above 4; memory 255 MiB + 11 MiB × max pods; eviction `memory.available<100Mi`.
  Max pods comes from the ENI limits (Karpenter's published per-type figure is kept in the
  catalog); 110 when unknown. On top of the reservation, the kernel and firmware take part
  of the nominal memory before the kubelet sees it: Karpenter's `vmMemoryOverheadPercent`
  default of 7.5% is used as the estimate for that (setting `vmMemoryOverheadPercent`).
- GKE ("Node allocatable" in the GKE docs): CPU as EKS; memory 255 MiB on machines below
  1 GiB, else 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next
  112 and 2% above 128 GiB; eviction 100 MiB; 110 pods.
- AKS ("Node resource reservations", AKS 1.29+): CPU by core count 1→60m, 2→100m, 4→140m,
  8→180m, 16→260m, 32→420m, 64→740m (interpolated per core between the listed points and
  +10m per core above 64); memory min(20 MB × max pods + 50 MB, 25% of memory); eviction
  100 MiB; max pods 110 here (the AKS default for kubenet and Azure CNI overlay is 250 on
  new clusters; set `maxPodsPerNode` to match your cluster).
- OKE: the OKE node images use the same regressive kube-reserved schedule as GKE for CPU and
  memory and a 100 MiB eviction threshold; 110 pods. OCI does not publish the schedule in the
  sources we ship, so treat it as an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.resources import Resources
from pricing.disk import largest_usable_bytes, largest_volume_bytes

MIB = 2**20
GIB = 2**30
MB = 10**6
EVICTION_THRESHOLD = 100 * MIB
DEFAULT_MAX_PODS = 110
# Ephemeral storage is not in the catalogs: a new node's root volume is sized to its pods
# (pricing/disk.py), so a type offers the largest usable volume of its cloud until planned.


@dataclass(frozen=True, slots=True)
class Reservation:
    cpu_millis: int
    memory_bytes: int
    note: str


def tiered_cpu_reservation(vcpu: int) -> int:
    """6% of core 1, 1% of core 2, 0.5% of cores 3–4, 0.25% above 4, in millicores (rounded down)."""
    tenths = 0  # tenths of a millicore, to stay exact
    for core in range(1, vcpu + 1):
        tenths += 600 if core == 1 else 100 if core == 2 else 50 if core <= 4 else 25
    return tenths // 10


def tiered_memory_reservation(memory: int) -> int:
    """GKE's regressive memory reservation in bytes."""
    if memory < GIB:
        return 255 * MIB
    reserved = 0.0
    for ceiling, rate in ((4, 0.25), (8, 0.20), (16, 0.10), (128, 0.06)):
        floor_bytes = {4: 0, 8: 4, 16: 8, 128: 16}[ceiling] * GIB
        reserved += max(0, min(memory, ceiling * GIB) - floor_bytes) * rate
    reserved += max(0, memory - 128 * GIB) * 0.02
    return int(reserved)


_AKS_CPU_POINTS = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))


def aks_cpu_reservation(vcpu: int) -> int:
    if vcpu <= 1:
        return 60
    for (low_cores, low_m), (high_cores, high_m) in zip(_AKS_CPU_POINTS, _AKS_CPU_POINTS[1:]):
        if vcpu <= high_cores:
            step = (high_m - low_m) / (high_cores - low_cores)
            return int(low_m + step * (vcpu - low_cores))
    return 740 + 10 * (vcpu - 64)


def reservation_for(cloud: str, vcpu: int, memory: int, max_pods: int) -> Reservation:
    if cloud == "aws":
        return Reservation(
            tiered_cpu_reservation(vcpu),
            (255 + 11 * max_pods) * MIB,
            f"EKS: cpu tiers, memory 255Mi + 11Mi x {max_pods} pods, eviction 100Mi",
        )
    if cloud == "azure":
        return Reservation(
            aks_cpu_reservation(vcpu),
            min(20 * MB * max_pods + 50 * MB, memory // 4),
            f"AKS 1.29+: cpu table, memory min(20MB x {max_pods} pods + 50MB, 25%), eviction 100Mi",
        )
    if cloud in ("gcp", "oci"):
        label = "GKE" if cloud == "gcp" else "OKE (GKE schedule, estimate)"
        return Reservation(
            tiered_cpu_reservation(vcpu),
            tiered_memory_reservation(memory),
            f"{label}: cpu tiers, regressive memory tiers, eviction 100Mi",
        )
    raise ValueError(f"unknown cloud {cloud!r}")


def node_resources(
    cloud: str,
    vcpu: int,
    memory_mib: int,
    gpus: int,
    max_pods: int,
    vm_memory_overhead: float,
) -> tuple[Resources, Resources, str]:
    """(capacity, allocatable, note) of a node of this shape on this cloud."""
    nominal = memory_mib * MIB
    memory = int(nominal * (1.0 - vm_memory_overhead))
    capacity = Resources(
        cpu=vcpu * 1000,
        memory=memory,
        gpu=gpus,
        pods=max_pods,
        ephemeral=largest_volume_bytes(cloud, gpus > 0),
    )
    reserved = reservation_for(cloud, vcpu, nominal, max_pods)
    allocatable = Resources(
        cpu=max(0, capacity.cpu - reserved.cpu_millis),
        memory=max(0, memory - reserved.memory_bytes - EVICTION_THRESHOLD),
        gpu=gpus,
        pods=max_pods,
        ephemeral=largest_usable_bytes(cloud, gpus > 0),
    )
    return capacity, allocatable, reserved.note
