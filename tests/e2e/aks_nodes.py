"""What AKS's kubelets would register for the scale-set instances of the local Azure Resource
Manager (tests/providers/fake_azure.py), as Machines for the shared registrar
(tests/e2e/registrar.py): named after the instance's computer name, `spec.providerID`
azure:///subscriptions/.../virtualMachineScaleSets/<vmss>/virtualMachines/<n>, AKS's
agent-pool labels and the pool's node labels and taints, Spot nodes labelled and tainted
`kubernetes.azure.com/scalesetpriority=spot:NoSchedule` (AKS adds both), an unzoned node's
zone label its fault domain ("0"), and the size's allocatable from the catalog. Only
instances that finished provisioning (an AKS scale-out ends after the node has bootstrapped):
the fake's operations end by time, so they are advanced first.
"""

from __future__ import annotations

from typing import Any

from pricing.catalog import region_catalog
from providers.azure.names import provider_id
from tests.e2e.registrar import Machine
from tests.providers.fake_azure import NODE_RESOURCE_GROUP, REGION, SUBSCRIPTION, FakeAzure

SPOT_TAINT = {"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}


def aks_machine(fake: FakeAzure, vmss: dict[str, Any], vm: dict[str, Any]) -> Machine:
    pool_name = vmss["tags"]["aks-managed-poolName"]
    pool = fake.pools[pool_name]["properties"]
    size = pool["vmSize"]
    itype = next(o.instance_type for o in region_catalog("azure", REGION).offerings if o.instance_type.name == size)
    zones = pool.get("availabilityZones") or []
    labels = {
        **(pool.get("nodeLabels") or {}),
        "kubernetes.io/hostname": vm["properties"]["osProfile"]["computerName"],
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": itype.arch,
        "node.kubernetes.io/instance-type": size,
        "agentpool": pool_name,
        "kubernetes.azure.com/agentpool": pool_name,
        "kubernetes.azure.com/cluster": NODE_RESOURCE_GROUP,
        "kubernetes.azure.com/mode": "user",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/os-sku": pool.get("osSKU", "Ubuntu"),
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": f"{REGION}-{zones[0]}" if zones else "0",
    }
    taints = [
        {"key": key, "value": value.split(":")[0], "effect": value.split(":")[1]}
        for key, value in (taint.split("=", 1) for taint in pool.get("nodeTaints") or [])
    ]
    if pool.get("scaleSetPriority") == "Spot":
        labels["kubernetes.azure.com/scalesetpriority"] = "spot"
        taints.append(SPOT_TAINT)
    allocatable = itype.allocatable
    return Machine(
        name=vm["properties"]["osProfile"]["computerName"],
        provider_id=provider_id(SUBSCRIPTION, NODE_RESOURCE_GROUP, vmss["name"], vm["instanceId"]),
        labels=labels,
        cpu=f"{allocatable.cpu}m",
        memory=str(allocatable.memory),
        pods=allocatable.pods,
        gpus=allocatable.gpu,
        taints=tuple(taints),
        arch=itype.arch,
    )


def aks_machines(fake: FakeAzure) -> list[Machine]:
    with fake.lock:
        fake.advance()
        return [
            aks_machine(fake, vmss, vm)
            for vmss in fake.scale_sets.values()
            if vmss["tags"].get("aks-managed-poolName") in fake.pools
            for vm in fake.vms.get(vmss["name"], {}).values()
            if vm["properties"]["provisioningState"] == "Succeeded"
        ]
