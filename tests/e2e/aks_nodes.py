"""Plays AKS's part for the e2e tier: every scale-set instance of the local ARM server
(tests/providers/fake_azure.py) that finished provisioning becomes a kwok Node, as the
kubelet and AKS's cloud-node-manager would register it: named after the instance's computer
name, `spec.providerID` azure:///subscriptions/.../virtualMachineScaleSets/<vmss>/virtualMachines/<n>,
AKS's agent-pool labels, the pool's node labels and taints, Spot nodes labelled and tainted
`kubernetes.azure.com/scalesetpriority=spot:NoSchedule`, and the size's allocatable from the
catalog. An instance deleted from its scale set takes its Node with it (the cloud node
lifecycle controller's job).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pricing.catalog import region_catalog
from providers.azure.names import provider_id
from tests.controlplane import kwok_node_manifest
from tests.providers.fake_azure import NODE_RESOURCE_GROUP, REGION, SUBSCRIPTION, FakeAzure

SPOT_TAINT = {"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}


def aks_node(fake: FakeAzure, vmss: dict[str, Any], vm: dict[str, Any]) -> dict[str, Any]:
    pool_name = vmss["tags"]["aks-managed-poolName"]
    pool = fake.pools[pool_name]["properties"]
    size = pool["vmSize"]
    itype = next(o.instance_type for o in region_catalog("azure", REGION).offerings if o.instance_type.name == size)
    spot = pool.get("scaleSetPriority") == "Spot"
    zones = pool.get("availabilityZones") or []
    labels = {
        **(pool.get("nodeLabels") or {}),
        "agentpool": pool_name,
        "kubernetes.azure.com/agentpool": pool_name,
        "kubernetes.azure.com/cluster": NODE_RESOURCE_GROUP,
        "kubernetes.azure.com/mode": "user",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/os-sku": pool.get("osSKU", "Ubuntu"),
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": f"{REGION}-{zones[0]}" if zones else "0",  # unzoned: its fault domain
    }
    taints = [{"key": k, "value": v.split(":")[0], "effect": v.split(":")[1]}
              for k, v in (t.split("=", 1) for t in pool.get("nodeTaints") or [])]
    if spot:
        labels["kubernetes.azure.com/scalesetpriority"] = "spot"
        taints.append(SPOT_TAINT)
    allocatable = itype.allocatable
    return kwok_node_manifest(
        vm["properties"]["osProfile"]["computerName"],
        f"{allocatable.cpu}m",
        str(allocatable.memory),
        allocatable.pods,
        labels,
        provider_id(SUBSCRIPTION, NODE_RESOURCE_GROUP, vmss["name"], vm["instanceId"]),
        allocatable.gpu,
        instance_type=size,
        taints=taints,
    )


class AksNodeRegistrar:
    def __init__(self, fake: FakeAzure, core_v1: Any, interval: float = 0.2) -> None:
        self.fake = fake
        self.core = core_v1
        self.interval = interval
        self.registered: dict[str, str] = {}  # node name -> provider id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aks-node-registrar", daemon=True)

    def __enter__(self) -> "AksNodeRegistrar":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):
                self.sync()

    def sync(self) -> None:
        with self.fake.lock:
            wanted = {
                node["metadata"]["name"]: node
                for vmss in self.fake.scale_sets.values()
                if vmss["tags"].get("aks-managed-poolName") in self.fake.pools
                for vm in self.fake.vms.get(vmss["name"], {}).values()
                if vm["properties"]["provisioningState"] == "Succeeded"
                for node in [aks_node(self.fake, vmss, vm)]
            }
        for name, node in wanted.items():
            if name not in self.registered:
                self.core.create_node(node)
                self.registered[name] = node["spec"]["providerID"]
        for name in [n for n in self.registered if n not in wanted]:
            with contextlib.suppress(Exception):
                self.core.delete_node(name)
            del self.registered[name]
