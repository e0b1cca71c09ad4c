"""What a GKE node of a fake MIG instance looks like once its kubelet registers.

GKE names the Node after the instance, sets `providerID gce://<project>/<zone>/<name>`, the
pool's labels and taints, its own labels (`cloud.google.com/gke-nodepool`, machine family,
spot, accelerator and, for time-shared GPUs, the sharing strategy and clients per GPU) and the
`nvidia.com/gpu=present:NoSchedule` taint on GPU pools. A time-shared GPU is advertised as
that many `nvidia.com/gpu` (physical GPUs x max shared clients). kwok keeps the Node Ready.
"""

from __future__ import annotations

from typing import Any

from pricing.types import InstanceType
from tests.controlplane import kwok_node_manifest
from tests.providers.gcp_fake import FakeInstance

_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def gke_node_manifest(instance: FakeInstance, project: str, region: str, itype: InstanceType) -> dict[str, Any]:
    labels = {
        **instance.labels,
        "cloud.google.com/gke-nodepool": instance.pool,
        "cloud.google.com/machine-family": instance.machine_type.split("-")[0],
        "topology.kubernetes.io/region": region,
    }
    taints = [{"key": t["key"], "value": t.get("value", ""), "effect": _EFFECTS.get(t.get("effect"), "NoSchedule")} for t in instance.taints]
    if instance.spot:
        labels["cloud.google.com/gke-spot"] = "true"
    gpus = 0
    for accelerator in instance.accelerators:
        count = int(accelerator.get("acceleratorCount", 0))
        labels["cloud.google.com/gke-accelerator"] = accelerator["acceleratorType"]
        labels["cloud.google.com/gke-accelerator-count"] = str(count)
        sharing = accelerator.get("gpuSharingConfig") or {}
        shared = int(sharing.get("maxSharedClientsPerGpu", 1))
        if sharing.get("gpuSharingStrategy") == "TIME_SHARING" and shared > 1:
            labels["cloud.google.com/gke-gpu-sharing-strategy"] = "time-sharing"
            labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = str(shared)
        gpus += count * shared
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    allocatable = itype.allocatable
    return kwok_node_manifest(
        instance.name,
        f"{allocatable.cpu}m",
        str(allocatable.memory),
        allocatable.pods or itype.max_pods,
        labels,
        f"gce://{project}/{instance.zone}/{instance.name}",
        gpus,
        zone=instance.zone,
        instance_type=instance.machine_type,
        arch=itype.arch,
        taints=taints or None,
    )
