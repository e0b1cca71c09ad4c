"""The Node a kubelet would register for a simulated instance (a real API server, kwok as kubelet).

Used by the simulated cloud's registrars: the daemon's (`run --provider simulated` against a
real API server) and the scenario runner's (the in-memory cluster).
"""

from __future__ import annotations

import re
from typing import Any

from pricing.disk import usable_bytes
from pricing.types import InstanceType
from autoscaler.resources import Resources
from providers.base import Instance, LaunchRequest

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# The simulated cloud tells its kubelet which further devices the node's plugins advertise
# ("aws.amazon.com/neuron=1,..."), in the request it registers from (never an instance tag).
ADVERTISED_DEVICES = "sim.smart-autoscaler.io/advertised-devices"
_NODE_INFO_FIELDS = (
    "architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID",
)


def node_name_for(instance: Instance) -> str:
    """A DNS-1123 node name for an instance, e.g. sim-i-00000001."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"sim-{instance.instance_id}".lower())
    return name[:63].strip("-") or "sim"


def node_manifest(instance: Instance, request: LaunchRequest, node_name: str) -> dict:
    """A core/v1 Node (plain dict) as the instance's kubelet would register it; kwok keeps it Ready."""
    itype = request.instance_type
    capacity = _node_resources(itype, itype.capacity)
    allocatable = _node_resources(itype, itype.allocatable) if itype.allocatable != Resources() else dict(capacity)
    for item in filter(None, request.tags.get(ADVERTISED_DEVICES, "").split(",")):
        name, _, count = item.partition("=")
        capacity[name] = allocatable[name] = count
    if request.root_volume_gib:  # the disk the launch asked for, as its kubelet reports it
        capacity["ephemeral-storage"] = str(request.root_volume_gib * 2**30)
        allocatable["ephemeral-storage"] = str(usable_bytes(request.root_volume_gib))
    labels = {
        **request.labels,
        "kubernetes.io/hostname": node_name,
        "node.kubernetes.io/instance-type": itype.name,
        "topology.kubernetes.io/zone": instance.zone,
        "kubernetes.io/arch": itype.arch,
        "kubernetes.io/os": "linux",
    }
    spec: dict[str, Any] = {"providerID": instance.provider_id}
    if request.taints:
        spec["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in request.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": labels,
            "annotations": {
                KWOK_ANNOTATION: "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                # kwok emulates this kubelet's resource metrics there, for metrics-server
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{node_name}/metrics/resource",
            },
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            # every nodeInfo field is required by the client's model; kwok fills the empty ones
            "nodeInfo": {**{f: "" for f in _NODE_INFO_FIELDS}, "architecture": itype.arch, "operatingSystem": "linux"},
        },
    }


def _node_resources(itype: InstanceType, amounts: Resources) -> dict[str, str]:
    """Kubernetes quantity strings; an instance type without figures gets its listed size."""
    if amounts == Resources():
        amounts = Resources(itype.vcpu * 1000, itype.memory_mib * 2**20, itype.gpu_count, itype.max_pods)
    result = {"cpu": f"{amounts.cpu}m", "memory": str(amounts.memory), "pods": str(amounts.pods)}
    gpus = amounts.gpu or itype.gpu_count
    if gpus > 0:
        result[itype.gpu_resource or "nvidia.com/gpu"] = str(gpus)
    if amounts.ephemeral > 0:
        result["ephemeral-storage"] = str(amounts.ephemeral)
    return result
