"""The labels a node launched for an offering will carry.

The same map serves two purposes: the planner matches pods' node selectors and required
node affinity against it, and the daemon applies it to the new Node. Well-known
Kubernetes labels come first, then each cloud's own conventions, then `nodeLabels` from
the configuration (Luna users add `node.elotl.co/created-by: luna` there).
"""

from __future__ import annotations

from typing import Mapping

from pricing.flex import flex_size
from pricing.types import SPOT, InstanceType

CREATED_BY = "smart-autoscaler.io/created-by"
CREATED_BY_VALUE = "smart-autoscaler"
ROLE = "smart-autoscaler.io/node-type"
CAPACITY_TYPE = "smart-autoscaler.io/capacity-type"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
REGION = "topology.kubernetes.io/region"
ARCH = "kubernetes.io/arch"
KARPENTER_CAPACITY_TYPE = "karpenter.sh/capacity-type"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_ACCELERATOR_COUNT = "cloud.google.com/gke-accelerator-count"
CAPACITY_LABEL_KEYS = frozenset(
    {
        CAPACITY_TYPE,
        KARPENTER_CAPACITY_TYPE,
        "eks.amazonaws.com/capacityType",
        "cloud.google.com/gke-spot",
        "cloud.google.com/gke-provisioning",
        "kubernetes.azure.com/scalesetpriority",
    }
)
_GKE_ACCELERATORS = {
    "L4": "nvidia-l4",
    "A100": "nvidia-tesla-a100",
    "H100": "nvidia-h100-80gb",
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
}


def gke_accelerator_name(itype: InstanceType) -> str:
    if itype.accelerator:
        return itype.accelerator.cloud_name
    if itype.gpu_model == "A100" and (itype.gpu_memory_mib or 0) > 40960:
        return "nvidia-a100-80gb"
    return _GKE_ACCELERATORS.get(itype.gpu_model or "", (itype.gpu_model or "").lower())


def catalog_type_name(labels: Mapping[str, str], gpus: int = 0) -> str:
    """The catalog's name of a node's type, from its labels and its allocatable GPUs. A GKE n1
    node with attached GPUs is labelled with its machine type and accelerator; the catalog
    names it machine+<count>x<accelerator> (time-shared GPUs count once per physical GPU)."""
    name = labels.get(INSTANCE_TYPE, "")
    accelerator = labels.get(GKE_ACCELERATOR, "")
    if not accelerator or not name.startswith("n1-") or "+" in name:
        return name
    count = labels.get(GKE_ACCELERATOR_COUNT, "")
    if not count.isdigit():
        shared = labels.get("cloud.google.com/gke-max-shared-clients-per-gpu", "1")
        count = str(max(1, gpus // (int(shared) if shared.isdigit() and int(shared) > 0 else 1)))
    return f"{name}+{count}x{accelerator}"


def node_labels(
    cloud: str,
    region: str,
    itype: InstanceType,
    capacity_type: str,
    zone: str,
    role: str,
    extra: Mapping[str, str] = {},
    gpu_time_slices: int | None = None,
) -> dict[str, str]:
    spot = capacity_type == SPOT
    labels = {
        ARCH: itype.arch,
        "kubernetes.io/os": "linux",
        INSTANCE_TYPE: itype.name,
        REGION: region,
        ZONE: zone,
        CREATED_BY: CREATED_BY_VALUE,
        CAPACITY_TYPE: capacity_type,
        KARPENTER_CAPACITY_TYPE: capacity_type,
    }
    if role:
        labels[ROLE] = role
    if cloud == "aws":
        labels["eks.amazonaws.com/capacityType"] = "SPOT" if spot else "ON_DEMAND"
        labels["karpenter.k8s.aws/instance-family"] = itype.family
        if itype.gpu_count:
            labels["karpenter.k8s.aws/instance-gpu-name"] = (itype.gpu_model or "").lower()
            labels["karpenter.k8s.aws/instance-gpu-count"] = str(itype.gpu_count)
    elif cloud == "gcp":
        # GKE's kubelet labels the machine type; attached GPUs show in the accelerator labels
        # (and "n1-standard-4+1xnvidia-tesla-t4" is no valid label value).
        labels[INSTANCE_TYPE] = itype.machine_type or itype.name
        labels["cloud.google.com/machine-family"] = itype.family
        # GKE labels Spot VM nodes gke-spot=true and gke-provisioning=spot (GKE "Spot VMs"
        # docs), standard VMs gke-provisioning=standard: either selector picks spot offerings.
        labels["cloud.google.com/gke-provisioning"] = "spot" if spot else "standard"
        if spot:
            labels["cloud.google.com/gke-spot"] = "true"
        if itype.gpu_count:
            labels[GKE_ACCELERATOR] = gke_accelerator_name(itype)
            labels[GKE_ACCELERATOR_COUNT] = str(itype.gpu_count)
            if gpu_time_slices and gpu_time_slices > 1:
                labels["cloud.google.com/gke-gpu-sharing-strategy"] = "time-sharing"
                labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = str(gpu_time_slices)
    elif cloud == "azure":
        labels["node.kubernetes.io/instance-family"] = itype.family
        if spot:
            labels["kubernetes.azure.com/scalesetpriority"] = "spot"
    elif cloud == "oci":
        labels["oci.oraclecloud.com/shape"] = itype.machine_type or itype.name
    labels.update(flex_size(itype))  # a flexible shape's size: its price and room depend on it
    labels.update(extra)
    return labels
