"""Zones on every cloud: GKE, AKS and OKE regions have zones, and the plan spreads over them.

The zone names are the `topology.kubernetes.io/zone` values each cloud's nodes carry:
- GKE: the Compute Engine zone, `us-central1-a` (regions and their zones from Compute Engine's
  "Regions and zones" page; us-central1 has a, b, c and f).
- AKS: `<region>-<zone number>`, `eastus-1` (kubernetes-sigs/cloud-provider-azure, makeZone);
  the zones a region has from Azure Resource Manager's Locations list
  (`availabilityZoneMappings`, as recorded in Azure/karpenter-provider-azure pkg/fake).
- OKE: the availability domain's name without the tenancy prefix, `US-ASHBURN-AD-1`
  (oracle/oci-cloud-controller-manager, mapAvailabilityDomainToFailureDomain); Ashburn has
  three availability domains, Tokyo one (OCI "Regions and Availability Domains").
"""

from __future__ import annotations

import pytest

from autoscaler.nodelabels import ZONE, node_labels
from pricing.catalog import region_zones
from pricing.types import SPOT
from tests.helpers import catalog, plan_for, replicas

APP = {"app": "web"}
ZONE_ANTI_AFFINITY = {
    "affinity": {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": APP}, "topologyKey": ZONE}
            ]
        }
    }
}
ZONE_SPREAD = {
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": APP}}
    ]
}
THREE_ZONES = [
    ("gcp", "us-central1", {"us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"}),
    ("azure", "eastus", {"eastus-1", "eastus-2", "eastus-3"}),
    ("oci", "us-ashburn-1", {"US-ASHBURN-AD-1", "US-ASHBURN-AD-2", "US-ASHBURN-AD-3"}),
]


def zones_of(result) -> list[str]:
    return sorted(zone for node in result.new_nodes for zone in node.option.zones for _ in node.pods)


@pytest.mark.parametrize(("cloud", "region", "zones"), THREE_ZONES)
def test_each_region_knows_the_zones_its_nodes_are_labelled_with(cloud, region, zones):
    assert set(region_zones(cloud, region)) == zones
    assert {offering.zone for offering in catalog(cloud, region).offerings} == zones


@pytest.mark.parametrize(("cloud", "region", "zones"), THREE_ZONES)
@pytest.mark.parametrize("cpu", ["500m", "4"])  # bin-pack and bin-select pods
def test_three_replicas_with_zone_anti_affinity_get_three_nodes_in_three_zones(cloud, region, zones, cpu):
    pods = replicas("web", 3, cpu=cpu, memory="1Gi", labels=APP, spec=ZONE_ANTI_AFFINITY)
    result = plan_for(pods, cloud, region)
    assert result.unplaceable == ()
    placed = zones_of(result)
    assert len(placed) == 3 and len(set(placed)) == 3 and set(placed) <= zones


@pytest.mark.parametrize(("cloud", "region", "zones"), THREE_ZONES)
def test_six_replicas_with_a_zone_spread_have_a_skew_of_at_most_one(cloud, region, zones):
    pods = replicas("web", 6, cpu="2", memory="4Gi", labels=APP, spec=ZONE_SPREAD)
    result = plan_for(pods, cloud, region)
    assert result.unplaceable == ()
    counts = [zones_of(result).count(zone) for zone in zones]
    assert sum(counts) == 6 and max(counts) - min(counts) <= 1


def test_a_one_ad_oci_region_places_one_replica_with_zone_anti_affinity_and_says_why_not_the_others():
    pods = replicas("web", 3, cpu="4", memory="1Gi", labels=APP, spec=ZONE_ANTI_AFFINITY)
    result = plan_for(pods, "oci", "ap-tokyo-1")
    assert zones_of(result) == ["AP-TOKYO-1-AD-1"]
    assert len(result.unplaceable) == 2


def test_an_azure_region_without_availability_zones_is_offered_region_wide():
    assert region_zones("azure", "westus") == ()
    assert {offering.zone for offering in catalog("azure", "westus").offerings} == {"westus"}


def test_a_planned_node_is_labelled_with_the_zone_it_was_planned_in():
    pods = replicas("web", 3, cpu="4", memory="1Gi", labels=APP, spec=ZONE_ANTI_AFFINITY)
    result = plan_for(pods, "azure", "eastus")
    for node in result.new_nodes:
        (zone,) = node.option.zones
        labels = node_labels("azure", "eastus", node.option.instance_type, node.capacity_type, zone, node.mode)
        assert labels[ZONE] == zone


@pytest.mark.parametrize(
    "selector", [{"cloud.google.com/gke-provisioning": "spot"}, {"cloud.google.com/gke-spot": "true"}]
)
def test_gke_spot_node_selectors_get_a_spot_node(selector):
    pods = replicas("batch", 2, cpu="2", memory="4Gi", spec={"nodeSelector": selector})
    result = plan_for(pods, "gcp", "us-central1")
    assert result.unplaceable == ()
    assert {node.capacity_type for node in result.new_nodes} == {SPOT}


def test_gke_standard_provisioning_selector_gets_an_on_demand_node():
    pods = replicas("api", 2, cpu="2", memory="4Gi", spec={"nodeSelector": {"cloud.google.com/gke-provisioning": "standard"}})
    result = plan_for(pods, "gcp", "us-central1")
    assert result.unplaceable == () and {node.capacity_type for node in result.new_nodes} == {"on-demand"}


def test_a_pod_pinned_to_one_gke_zone_gets_a_node_there():
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-central1-f"]}]}]
            }
        }
    }
    result = plan_for(replicas("web", 2, cpu="2", memory="2Gi", spec={"affinity": affinity}), "gcp", "us-central1")
    assert result.unplaceable == () and set(zones_of(result)) == {"us-central1-f"}
