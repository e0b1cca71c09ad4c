"""Launch, terminate and list through GKE node pools made per offering and their MIGs."""

from __future__ import annotations

import pytest

from pricing.types import ON_DEMAND, SPOT
from tests.providers.gcp.conftest import A, B, REGION, T4_TYPE, itype, make_provider, request
from autoscaler.config import config_from_mapping


def test_launch_makes_one_pool_for_the_offering_and_one_named_instance_in_its_mig(gcp):
    provider = make_provider(gcp, diskSizeGb=200, imageType="UBUNTU_CONTAINERD", serviceAccount="nodes@proj.iam.gserviceaccount.com")

    instance = provider.launch(request("n1-standard-4"))

    assert len(gcp.pools) == 1
    pool = next(iter(gcp.pools.values()))
    assert pool["name"].startswith("sa-n1-standard-4-") and len(pool["name"]) <= 40
    assert pool["autoscaling"].get("enabled", False) is False
    assert pool.get("initialNodeCount", 0) == 0 and pool["locations"] == [A]
    config = pool["config"]
    assert (config["machineType"], config["diskSizeGb"], config["imageType"]) == ("n1-standard-4", 200, "UBUNTU_CONTAINERD")
    assert config["serviceAccount"] == "nodes@proj.iam.gserviceaccount.com"
    assert config["labels"]["smart-autoscaler.io/node-type"] == "bin-select"
    assert config["labels"]["smart-autoscaler.io/created-by"] == "smart-autoscaler"
    assert not any(k.startswith(("kubernetes.io/", "topology.kubernetes.io/", "cloud.google.com/")) for k in config["labels"])
    [vm] = gcp.instances()
    assert vm.name == instance.instance_id and vm.name.startswith(pool["name"] + "-")
    assert instance.provider_id == f"gce://proj/{A}/{vm.name}"
    assert (instance.instance_type, instance.capacity_type, instance.zone, instance.state) == ("n1-standard-4", ON_DEMAND, A, "running")


def test_the_same_launch_attempt_twice_gives_one_instance_and_a_new_attempt_a_second(gcp):
    provider = make_provider(gcp)
    first = provider.launch(request("n1-standard-4", key="attempt-1"))
    again = provider.launch(request("n1-standard-4", key="attempt-1"))
    other = provider.launch(request("n1-standard-4", key="attempt-2"))

    assert again.instance_id == first.instance_id
    assert other.instance_id != first.instance_id
    assert len(gcp.instances()) == 2 and len(gcp.pools) == 1


def test_time_shared_gpu_pool_carries_the_sharing_config_and_driver_installation(gcp):
    provider = make_provider(gcp, gpuDriverVersion="LATEST")

    provider.launch(request(T4_TYPE, capacity=SPOT, slices=2))

    [pool] = gcp.pools.values()
    [accelerator] = pool["config"]["accelerators"]
    assert (accelerator["acceleratorType"], int(accelerator["acceleratorCount"])) == ("nvidia-tesla-t4", 1)
    assert accelerator["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": "2"}
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert pool["config"]["spot"] is True
    assert pool["config"].get("taints", []) == []  # GKE taints GPU pools itself


def test_pools_differ_per_offering_and_gpu_sharing(gcp):
    provider = make_provider(gcp)
    provider.launch(request(T4_TYPE, key="k1"))
    provider.launch(request(T4_TYPE, key="k2", slices=2))
    provider.launch(request(T4_TYPE, key="k3", capacity=SPOT))
    provider.launch(request(T4_TYPE, key="k4"))

    assert len(gcp.pools) == 3
    assert len(gcp.instances()) == 4


def test_terminate_removes_that_named_instance_and_is_quiet_when_gone(gcp):
    provider = make_provider(gcp)
    keep = provider.launch(request("n1-standard-4", key="keep"))
    drop = provider.launch(request("n1-standard-4", key="drop"))

    provider.terminate(drop.instance_id)
    provider.terminate(drop.instance_id)

    assert [vm.name for vm in gcp.instances()] == [keep.instance_id]
    assert gcp.deleted == [drop.instance_id]


def test_a_restarted_provider_lists_what_the_last_one_launched(gcp):
    make_provider(gcp).launch(request(T4_TYPE, capacity=SPOT, role="bin-pack"))

    [listed] = make_provider(gcp).list_instances()

    assert (listed.instance_type, listed.capacity_type, listed.zone, listed.state) == (T4_TYPE, SPOT, A, "running")
    assert listed.tags["smart-autoscaler.io/node-type"] == "bin-pack"
    assert listed.provider_id == f"gce://proj/{A}/{listed.instance_id}"


def test_a_pool_left_empty_past_its_idle_time_is_deleted(gcp):
    provider = make_provider(gcp, poolIdleTime="0s")
    instance = provider.launch(request("n1-standard-4"))
    provider.list_instances()
    assert len(gcp.pools) == 1  # not empty

    provider.terminate(instance.instance_id)
    assert provider.list_instances() == []

    assert gcp.pools == {}


def test_a_pool_empty_for_less_than_its_idle_time_stays(gcp):
    provider = make_provider(gcp, poolIdleTime="10m")
    provider.terminate(provider.launch(request("n1-standard-4")).instance_id)
    provider.list_instances()
    provider.list_instances()
    assert len(gcp.pools) == 1


def test_concurrent_launches_for_a_new_offering_create_its_pool_once(gcp):
    from concurrent.futures import ThreadPoolExecutor

    provider = make_provider(gcp)
    with ThreadPoolExecutor(max_workers=6) as pool:
        instances = list(pool.map(lambda n: provider.launch(request("n1-standard-4", key=f"k{n}")), range(6)))

    assert len({i.instance_id for i in instances}) == 6 and len(gcp.instances()) == 6
    assert gcp.count(r"POST .*/nodePools$") == 1 and len(gcp.pools) == 1


def test_pool_names_are_deterministic_per_offering_and_fit_gke():
    from providers.gcp.pools import pool_spec

    def name(capacity: str, zone: str, slices: int | None = None, role: str = "bin-select") -> str:
        r = request(T4_TYPE, capacity=capacity, role=role, slices=slices)
        return pool_spec(r.instance_type, capacity, zone, r.labels, r.taints, 1).name

    assert name(ON_DEMAND, A) == name(ON_DEMAND, A)  # a restart finds the pool again
    names = {name(ON_DEMAND, A), name(SPOT, A), name(ON_DEMAND, B), name(ON_DEMAND, A, 2), name(ON_DEMAND, A, role="bin-pack")}
    assert len(names) == 5
    assert all(len(n) <= 40 and n.startswith("sa-n1-standard-4") for n in names)
    long = pool_spec(itype("n2d-highmem-96"), ON_DEMAND, A, {}, (), 1).name
    assert len(long) <= 40


def test_registry_builds_the_gcp_provider_and_names_a_missing_project(gcp):
    from providers.registry import create_provider as by_name

    config = config_from_mapping({"cloud": "gcp", "region": REGION, "clusterName": "c1", "gcp": {"project": "proj", "apiEndpoint": gcp.endpoint}})
    assert by_name("gcp", config=config, clock=None).name == "gcp"
    no_project = config_from_mapping({"cloud": "gcp", "region": REGION, "gcp": {"apiEndpoint": gcp.endpoint}})
    with pytest.raises(ValueError, match="gcp.project"):
        by_name("gcp", config=no_project, clock=None)


def test_gcp_options_are_validated_with_their_names():
    from autoscaler.config import ConfigError

    config = config_from_mapping({"gcp": {"diskSizeGb": 200, "networkTags": "gke-nodes,web", "poolIdleTime": "5m"}})
    assert (config.gcp.disk_size_gb, config.gcp.network_tags, config.gcp.pool_idle_time) == (200, ("gke-nodes", "web"), 300.0)
    with pytest.raises(ConfigError, match="gcp.gpuDriverVersion"):
        config_from_mapping({"gcp.gpuDriverVersion": "NEWEST"})
    with pytest.raises(ConfigError, match="gcp.diskSizeGb"):
        config_from_mapping({"gcp": {"diskSizeGb": 5}})


def test_pools_someone_else_made_are_not_listed_or_touched(gcp):
    gcp.pools["sa-team-pool"] = {
        "name": "sa-team-pool", "status": "RUNNING", "locations": [A], "config": {"machineType": "n1-standard-4", "labels": {"team": "ml"}},
        "instanceGroupUrls": [f"https://www.googleapis.com/compute/v1/projects/proj/zones/{A}/instanceGroupManagers/gke-c1-sa-team-pool-grp"],
    }
    gcp.migs["gke-c1-sa-team-pool-grp"] = {"zone": A, "pool": "sa-team-pool", "instances": {}}
    provider = make_provider(gcp, poolIdleTime="0s")

    assert provider.list_instances() == []
    assert "sa-team-pool" in gcp.pools  # empty, but not ours to delete


def test_only_zones_the_cluster_uses_get_pools(gcp):
    gcp.cluster_locations = [B, "us-central1-c"]
    provider = make_provider(gcp)

    assert provider.launch(request("n1-standard-4")).zone == B
    gcp.cluster_locations = ["us-central1-c"]
    with pytest.raises(Exception, match="no zone of us-central1 that the cluster"):
        make_provider(gcp).launch(request("n1-standard-4", key="other"))


def test_an_instance_gke_named_itself_in_our_pool_is_deleted_through_its_mig(gcp):
    """A surge upgrade or an auto-repair gives the pool an instance GKE named after the MIG;
    scale-down removes it from that MIG like any other node of the pool."""
    provider = make_provider(gcp)
    ours = provider.launch(request("n1-standard-4"))
    (pool,) = gcp.pools.values()
    surge = gcp.add_gke_instance(pool["name"])
    assert not surge.name.startswith(pool["name"])
    listed = {i.instance_id: i for i in provider.list_instances()}
    assert set(listed) == {ours.instance_id, surge.name}
    assert listed[surge.name].provider_id == f"gce://proj/{A}/{surge.name}"

    provider.terminate(surge.name)

    assert gcp.deleted == [surge.name]
    assert [vm.name for vm in gcp.instances()] == [ours.instance_id]


def test_a_restarted_provider_deletes_a_gke_named_instance_it_has_not_listed_yet(gcp):
    make_provider(gcp).launch(request("n1-standard-4"))
    (pool,) = gcp.pools.values()
    surge = gcp.add_gke_instance(pool["name"])
    make_provider(gcp).terminate(surge.name)
    assert gcp.deleted == [surge.name]
