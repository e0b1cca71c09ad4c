"""Azure labels a node outside any availability zone with its fault domain
(`topology.kubernetes.io/zone: "0"`), while the catalog offers Azure sizes region-wide. A
node the autoscaler just launched there is still the room of the pods it was launched for."""

from __future__ import annotations

from autoscaler.cluster import ClusterView, KubeNode
from autoscaler.config import config_from_mapping
from autoscaler.planner import plan
from autoscaler.snapshot import PriceIndex, planner_nodes
from pricing.catalog import region_catalog
from tests.helpers import make_pod

T0 = 1_800_000_000.0


def aks_node(zone: str) -> KubeNode:
    catalog = region_catalog("azure", "eastus")
    itype = next(o.instance_type for o in catalog.offerings if o.instance_type.name == "Standard_B4als_v2")
    return KubeNode(
        name="aks-sar0e00d779f-98183483000001",
        labels={
            "smart-autoscaler.io/created-by": "smart-autoscaler",
            "smart-autoscaler.io/node-type": "bin-select",
            "smart-autoscaler.io/capacity-type": "on-demand",
            "node.kubernetes.io/instance-type": "Standard_B4als_v2",
            "topology.kubernetes.io/region": "eastus",
            "topology.kubernetes.io/zone": zone,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        },
        allocatable=itype.allocatable,
        capacity=itype.capacity,
        provider_id="azure:///subscriptions/s/resourceGroups/mc_rg_aks_eastus/providers/Microsoft.Compute/"
        "virtualMachineScaleSets/aks-sar0e00d779f-98183483-vmss/virtualMachines/1",
        ready=True,
        created=T0,
    )


def new_nodes_for_a_pending_pod(zone: str) -> tuple:
    catalog = region_catalog("azure", "eastus")
    config = config_from_mapping({"cloud": "azure", "region": "eastus"})
    pod = make_pod("web", "2", "4Gi")
    view = ClusterView(pods=(pod,), nodes=(aks_node(zone),))
    nodes = planner_nodes(view, (), PriceIndex.of(catalog), now=T0 + 1, startup_grace=600)
    return plan([pod], catalog, config, nodes=nodes).new_nodes


def test_a_just_registered_unzoned_aks_node_takes_its_pod_instead_of_a_second_launch():
    assert new_nodes_for_a_pending_pod("0") == ()
