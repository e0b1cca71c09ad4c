"""The local OKE server as the OCI tenancy of the e2e tier, and what its workers would do.

`oke_machines(state)` reads the server's node pools the way OKE's kubelets and cloud
controller would register their nodes, for the shared registrar (tests/e2e/registrar.py):
the Node name is the private IP, providerID the bare instance OCID (OKE's default: OKE's
managed-node bootstrap passes no `oci://` scheme -- oracle/cluster-api-provider-oci's OKE
machine pools and the Cluster Autoscaler's OCI code, which trims an optional `oci://`, both
expect the bare form), the labels are the pool's
initial node labels plus OKE's own (instance type = the shape, zone = the availability domain,
region, fault domain, pool name), the taints those the pool's cloud-init hands the kubelet
(`--register-with-taints`) plus OKE's `nvidia.com/gpu` on GPU shapes; allocatable is the
shape's size after OKE's reservation (pricing.allocatable), a GPU counting `time_slices` times
(the NVIDIA device plugin's time-slicing replicas).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pricing.allocatable import node_resources
from pricing.catalog import raw_catalog
from tests.e2e.registrar import Machine
from tests.providers.oke_server import OkeState

_TAINTS = re.compile(r"--register-with-taints=([^\"\s]+)")


def _shape_size(pool: dict[str, Any]) -> tuple[int, int, int, str, str]:
    """(vcpu, memory MiB, gpus, arch, gpu model) of the pool's shape and shape config."""
    data = raw_catalog("oci")
    flex = next((f for f in data["flex_shapes"] if f["name"] == pool["nodeShape"]), None)
    if flex is not None:
        config = pool["nodeShapeConfig"]
        return int(config["ocpus"]) * flex["vcpu_per_ocpu"], int(config["memoryInGBs"]) * 1024, 0, flex["arch"], ""
    spec = next(s for s in data["instance_types"] if s["name"] == pool["nodeShape"])
    return spec["vcpu"], spec["memory_mib"], spec.get("gpu_count", 0), spec.get("arch", "amd64"), spec.get("gpu_model") or ""


def _taints(pool: dict[str, Any], gpus: int) -> tuple[dict[str, str], ...]:
    script = base64.b64decode((pool.get("nodeMetadata") or {}).get("user_data", "") or b"").decode()
    match = _TAINTS.search(script)
    taints = []
    for text in match.group(1).split(",") if match else []:
        key_value, _, effect = text.partition(":")
        key, _, value = key_value.partition("=")
        taints.append({"key": key, "value": value, "effect": effect})
    if gpus:
        taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
    return tuple(taints)


def oke_machines(state: OkeState, region: str = "us-ashburn-1", time_slices: int = 1) -> list[Machine]:
    with state.lock:
        pools = [dict(p, nodes=[dict(n) for n in p["nodes"]]) for p in state.pools.values()]
    machines = []
    for pool in pools:
        vcpu, memory_mib, gpus, arch, gpu_model = _shape_size(pool)
        _, allocatable, _ = node_resources("oci", vcpu, memory_mib, gpus, 110, 0.0)
        for node in pool["nodes"]:
            if not node.get("id") or node["lifecycleState"] not in ("CREATING", "ACTIVE", "UPDATING"):
                continue
            labels = {kv["key"]: kv["value"] for kv in pool.get("initialNodeLabels", [])}
            labels.update({
                "kubernetes.io/hostname": node["privateIp"],
                "node.kubernetes.io/instance-type": pool["nodeShape"],
                "topology.kubernetes.io/zone": node["availabilityDomain"].split(":", 1)[-1],
                "topology.kubernetes.io/region": region,
                "oci.oraclecloud.com/fault-domain": node["faultDomain"],
                "name": pool["name"],
                **({"nvidia.com/gpu.product": gpu_model} if gpu_model else {}),
            })
            machines.append(Machine(
                name=node["privateIp"],  # OKE names nodes by their private IP
                provider_id=node["id"],
                labels=labels,
                cpu=f"{allocatable.cpu}m",
                memory=str(allocatable.memory),
                gpus=gpus * time_slices,
                taints=_taints(pool, gpus),
                arch=arch,
            ))
    return machines
