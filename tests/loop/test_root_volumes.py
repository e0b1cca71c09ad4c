"""A node's disk follows its pods: the planner and the provider size the root volume in one
place (pricing/disk.py), so what the node offers is what the pods were planned against."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autoscaler.config import config_from_mapping
from autoscaler.sim.scenario import Scenario, Simulation
from pricing.disk import GIB, root_volume_gib, usable_bytes
from autoscaler.podspec import pod_from_manifest
from tests.helpers import pod_manifest

ANN = "smart-autoscaler.io/"


def test_a_root_volume_is_the_clouds_default_until_the_pods_need_more():
    assert root_volume_gib("aws", gpu=False, ephemeral_need=0) == 20  # the EKS AL2023 AMI's root volume
    assert root_volume_gib("aws", gpu=True, ephemeral_need=0) == 100
    assert root_volume_gib("aws", gpu=False, ephemeral_need=18 * GIB) == 20  # 90% of 20 GiB holds 18 GiB
    assert root_volume_gib("aws", gpu=False, ephemeral_need=150 * GIB) == 256  # 150 / 0.9 = 167 -> 256
    assert root_volume_gib("aws", gpu=False, ephemeral_need=50_000 * GIB) == 16_384  # EBS's largest volume
    assert root_volume_gib("gcp", gpu=False, ephemeral_need=0, floor_gib=200) == 200  # gcp.diskSizeGb is a floor
    assert root_volume_gib("oci", gpu=False, ephemeral_need=400 * GIB) == 512


def _pod(name: str, ephemeral: str):
    manifest = pod_manifest(name, "1", "2Gi", owner=f"ReplicaSet/{name}")
    manifest["spec"]["containers"][0]["resources"]["requests"]["ephemeral-storage"] = ephemeral
    return pod_from_manifest(manifest)


def test_a_pod_asking_for_150gi_of_ephemeral_storage_gets_a_node_with_a_256gib_root_volume():
    config = config_from_mapping({})
    sim = Simulation(Scenario("disk", "aws", "us-east-1", 3600.0, 10.0, config, 60.0, [], Path(".")), track_cheapest=False)
    pod = _pod("scratch", "150Gi")
    sim.cluster.add_pod(replace(pod, unschedulable=False, unschedulable_message="", created=sim.clock.now()))
    sim.run_for(120)
    (launch,) = sim.provider._launches.values()
    assert launch.request.root_volume_gib == 256
    (node,) = sim.cluster.nodes.values()
    assert node.allocatable.ephemeral == usable_bytes(256) >= 150 * GIB
    assert sim.cluster.pods[pod.key].node_name == node.name


def test_a_cloud_whose_provider_does_not_size_disks_is_planned_with_its_default_disk():
    """AKS nodes get azure.osDiskSizeGB as configured (128 GiB): the planner never counts on more,
    so a pod asking for more is told it fits nowhere instead of a node launched in vain."""
    from pricing.disk import largest_usable_bytes

    assert largest_usable_bytes("azure") == usable_bytes(128) and largest_usable_bytes("azure", gpu=True) == usable_bytes(256)
    assert root_volume_gib("azure", gpu=False, ephemeral_need=500 * GIB) == 128
    assert largest_usable_bytes("aws") == usable_bytes(16_384)
