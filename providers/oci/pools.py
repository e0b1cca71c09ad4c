"""What an autoscaler-made OKE node pool is: one per offering (shape and size, capacity type,
availability domain, node labels and taints), named deterministically, and the Container
Engine request bodies that make it.

Taints go to the kubelet through OKE's documented custom cloud-init (the node's `user_data`
runs OKE's init script with `--kubelet-extra-args "--register-with-taints=..."`); labels are the
pool's initial node labels. OKE taints NVIDIA GPU nodes `nvidia.com/gpu` itself, so that taint
is not passed twice. Well-known labels the kubelet and OKE set themselves (zone, region,
instance type, arch, os) are left to them.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from pricing.types import ON_DEMAND, Taint

# Freeform tag keys (OCI tag keys take no periods)
TAG_CLUSTER = "smart-autoscaler-cluster"
TAG_ROLE = "smart-autoscaler-node-type"
TAG_CAPACITY = "smart-autoscaler-capacity-type"
TAG_SHAPE_CONFIG = "smart-autoscaler-shape-config"
LEDGER_PREFIX = "smart-autoscaler-request-"  # + request id: a launch attempt that grew the pool
LEDGER_KEEP = 20  # newest launch attempts remembered on a pool

_KUBELET_SET_LABELS = frozenset(
    {
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/arch",
        "kubernetes.io/os",
    }
)
_OKE_GPU_TAINT_KEY = "nvidia.com/gpu"


@dataclass(frozen=True)
class PoolSpec:
    """One offering as a node pool."""

    cluster_name: str
    shape: str
    ocpus: int  # 0: a fixed shape
    memory_gb: int
    capacity_type: str
    availability_domain: str
    subnet_id: str
    image_id: str
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    role: str = ""
    boot_volume_gb: int = 0  # 0: oci.bootVolumeSizeGB or OKE's default; else sized to the planned pods


    @property
    def name(self) -> str:
        """`sa-<cluster>-<shape>-<hash>`: the same offering always finds the same pool."""
        digest = hashlib.sha256(repr((self.cluster_name, self.shape, self.ocpus, self.memory_gb, self.capacity_type,
                                      self.availability_domain, self.subnet_id, self.image_id, self.labels,
                                      self.taints) + ((self.boot_volume_gb,) if self.boot_volume_gb else ())).encode()).hexdigest()[:10]
        short_shape = self.shape.lower().replace(".", "-")
        return f"sa-{self.cluster_name[:20]}-{short_shape}-{digest}"

    @property
    def preemptible(self) -> bool:
        return self.capacity_type != ON_DEMAND


def pool_labels(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((key, value) for key, value in labels.items() if key not in _KUBELET_SET_LABELS))


def pool_taints(taints: tuple[Taint, ...], gpu: bool) -> tuple[Taint, ...]:
    return tuple(t for t in taints if not (gpu and t.key == _OKE_GPU_TAINT_KEY))


def cloud_init(taints: tuple[Taint, ...]) -> str:
    """OKE's custom cloud-init: fetch and run the OKE init script, with the pool's taints."""
    extra = ""
    if taints:
        extra = ' --kubelet-extra-args "--register-with-taints=' + ",".join(t.describe() for t in taints) + '"'
    return (
        "#!/bin/bash\n"
        "curl --fail -H \"Authorization: Bearer Oracle\" -L0 "
        "http://169.254.169.254/opc/v2/instance/metadata/oke_init_script | base64 --decode >/var/run/oke-init.sh\n"
        f"bash /var/run/oke-init.sh{extra}\n"
    )


def create_details(
    models: Any,
    spec: PoolSpec,
    *,
    compartment_id: str,
    cluster_id: str,
    kubernetes_version: str,
    size: int,
    freeform_tags: dict[str, str],
    pod_subnet_id: str = "",
    nsg_ids: tuple[str, ...] = (),
    boot_volume_size_gb: int | None = None,
    ssh_public_key: str = "",
) -> Any:
    """CreateNodePoolDetails for `spec` (`models` is oci.container_engine.models)."""
    placement = models.NodePoolPlacementConfigDetails(
        availability_domain=spec.availability_domain,
        subnet_id=spec.subnet_id,
        preemptible_node_config=(
            models.PreemptibleNodeConfigDetails(
                preemption_action=models.TerminatePreemptionAction(type="TERMINATE", is_preserve_boot_volume=False)
            )
            if spec.preemptible
            else None
        ),
    )
    network = (
        models.OciVcnIpNativeNodePoolPodNetworkOptionDetails(cni_type="OCI_VCN_IP_NATIVE", pod_subnet_ids=[pod_subnet_id])
        if pod_subnet_id
        else None
    )
    node_config = models.CreateNodePoolNodeConfigDetails(
        size=size,
        placement_configs=[placement],
        nsg_ids=list(nsg_ids) or None,
        freeform_tags=dict(freeform_tags),
        node_pool_pod_network_option_details=network,
    )
    user_data = base64.b64encode(cloud_init(spec.taints).encode()).decode()
    return models.CreateNodePoolDetails(
        compartment_id=compartment_id,
        cluster_id=cluster_id,
        name=spec.name,
        kubernetes_version=kubernetes_version,
        node_shape=spec.shape,
        node_shape_config=(
            models.CreateNodeShapeConfigDetails(ocpus=float(spec.ocpus), memory_in_gbs=float(spec.memory_gb))
            if spec.ocpus
            else None
        ),
        node_source_details=models.NodeSourceViaImageDetails(
            source_type="IMAGE", image_id=spec.image_id,
            boot_volume_size_in_gbs=max(spec.boot_volume_gb, boot_volume_size_gb or 0) or None,
        ),
        initial_node_labels=[models.KeyValue(key=key, value=value) for key, value in spec.labels],
        node_metadata={"user_data": user_data},
        ssh_public_key=ssh_public_key or None,
        node_config_details=node_config,
        freeform_tags=dict(freeform_tags),
        # the autoscaler drains nodes itself; a size change OKE acts on adds no drain of its own
        node_eviction_node_pool_settings=models.NodeEvictionNodePoolSettings(
            eviction_grace_duration="PT0M", is_force_delete_after_grace_duration=True
        ),
    )


def ledger_key(request_id: str) -> str:
    return f"{LEDGER_PREFIX}{request_id[:40]}"


def with_ledger_entry(tags: Mapping[str, str], request_id: str, stamp: float) -> dict[str, str]:
    """The pool's tags with this launch attempt recorded, keeping the newest LEDGER_KEEP."""
    entries = sorted(
        ((key, value) for key, value in tags.items() if key.startswith(LEDGER_PREFIX)), key=lambda item: item[1]
    )
    kept = dict(entries[-(LEDGER_KEEP - 1):]) if LEDGER_KEEP > 1 else {}
    others = {key: value for key, value in tags.items() if not key.startswith(LEDGER_PREFIX)}
    return {**others, **kept, ledger_key(request_id): f"{stamp:017.3f}"}
