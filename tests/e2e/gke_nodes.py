"""What GKE's kubelets would register for the fake GKE/Compute Engine server's instances.

`gke_machines(fake, region)` reads the fake's running MIG instances as their kubelets would
register them (tests/e2e/registrar.py turns them into kwok Nodes): the Node is named after the
instance, providerID is `gce://<project>/<zone>/<name>`, the labels are the pool's plus GKE's
own (`cloud.google.com/gke-nodepool`, machine family, spot, accelerator and, for time-shared
GPUs, the sharing strategy and clients per GPU), the instance-type label is the machine type,
and a GPU pool's nodes carry GKE's `nvidia.com/gpu=present:NoSchedule` taint. A time-shared GPU
is advertised as physical GPUs x max shared clients `nvidia.com/gpu`.
"""

from __future__ import annotations

from pricing.catalog import region_catalog
from tests.e2e.registrar import Machine
from tests.gcp_fake import FakeGcp, FakeInstance

_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def gke_machines(fake: FakeGcp, region: str) -> list[Machine]:
    types = {o.instance_type.name: o.instance_type for o in region_catalog("gcp", region).offerings}
    return [_machine(fake.project, region, i, types) for i in fake.instances() if i.instance_status == "RUNNING"]


def _machine(project: str, region: str, instance: FakeInstance, types: dict) -> Machine:
    labels = {
        **instance.labels,
        "kubernetes.io/hostname": instance.name,
        "node.kubernetes.io/instance-type": instance.machine_type,
        "topology.kubernetes.io/zone": instance.zone,
        "topology.kubernetes.io/region": region,
        "cloud.google.com/gke-nodepool": instance.pool,
        "cloud.google.com/machine-family": instance.machine_type.split("-")[0],
    }
    if instance.spot:
        labels["cloud.google.com/gke-spot"] = "true"
    taints = [{"key": t["key"], "value": t.get("value", ""), "effect": _EFFECTS.get(t.get("effect"), "NoSchedule")} for t in instance.taints]
    catalog_name, gpus = instance.machine_type, 0
    for accelerator in instance.accelerators:
        count = int(accelerator.get("acceleratorCount", 0))
        if instance.machine_type.startswith("n1-"):
            catalog_name = f"{instance.machine_type}+{count}x{accelerator['acceleratorType']}"
        labels["cloud.google.com/gke-accelerator"] = accelerator["acceleratorType"]
        sharing = accelerator.get("gpuSharingConfig") or {}
        shared = int(sharing.get("maxSharedClientsPerGpu", 1))
        if sharing.get("gpuSharingStrategy") == "TIME_SHARING" and shared > 1:
            labels["cloud.google.com/gke-gpu-sharing-strategy"] = "time-sharing"
            labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = str(shared)
        gpus += count * shared
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    itype = types[catalog_name]
    allocatable = itype.allocatable
    return Machine(
        name=instance.name,
        provider_id=f"gce://{project}/{instance.zone}/{instance.name}",
        labels=labels,
        cpu=f"{allocatable.cpu}m",
        memory=str(allocatable.memory),
        pods=allocatable.pods or itype.max_pods,
        gpus=gpus,
        taints=tuple(taints),
        arch=itype.arch,
    )
