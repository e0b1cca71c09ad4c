"""Nodes are matched to their instances whatever form of providerID the cloud's nodes carry.

OKE registers its nodes with the bare instance OCID by default (the Cluster Autoscaler's OCI
code trims an optional `oci://` for that reason); a provider answers `oci://<ocid>`. Either
way the node is the instance: it registers, is scaled down, and its instance is terminated.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.scenario import Scenario, Simulation
from providers.base import provider_id_key
from tests.helpers import replicas


def test_provider_id_forms_of_one_instance_share_one_key():
    ocid = "ocid1.instance.oc1.iad.anuwcljt"
    assert provider_id_key(f"oci://{ocid}") == provider_id_key(ocid) == ocid
    assert provider_id_key("aws:///us-east-1a/i-0abc") == "/us-east-1a/i-0abc"
    assert provider_id_key("oci://ocid1.instance.oc1.iad.a") != provider_id_key("oci://ocid1.instance.oc1.iad.b")


def test_a_node_registered_without_the_scheme_is_matched_scaled_down_and_terminated():
    config = config_from_mapping({"scaleDown.nodeUnneededDuration": "5m"})
    sim = Simulation(Scenario("bare-ids", "aws", "us-east-1", 3600.0, 10.0, config, 60.0, [], Path(".")), track_cheapest=False)
    boot = sim._boot

    def boot_with_bare_provider_id(instance, request):  # the node says "/zone/i-..." without "sim://"
        boot(replace(instance, provider_id=instance.provider_id.partition("://")[2]), request)

    sim.provider.on_boot = boot_with_bare_provider_id
    for pod in replicas("web", 3, "1", "1Gi"):
        sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))
    sim.run_for(120)
    assert len(sim.cluster.nodes) == 1 and len(sim.provider.launched) == 1  # registered: no second launch
    (node,) = sim.cluster.nodes.values()
    assert "://" not in node.provider_id
    sim.run_for(600)
    assert len(sim.provider.launched) == 1  # never timed out as "never registered" and replaced
    sim.cluster.remove_workload("ReplicaSet/default/web")
    sim.run_for(320)
    assert sim.cluster.nodes == {} and sim.provider.list_instances() == []
