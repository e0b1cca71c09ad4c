"""AKS provider, launch and terminate: agent pools per offering, one node per launch through
the pool's scale set, the launch key making a retried launch find its instance, terminate
deleting exactly one instance, idle pools removed. Against the ARM API's documented shapes
on a local server (tests/providers/fake_azure.py), through the real Azure SDKs."""

from __future__ import annotations

import pytest

from pricing.catalog import AKS_SPOT_TAINT, GPU_TAINT
from providers.azure import names
from providers.base import LaunchRequest
from tests.providers.azure_fixtures import clock, fake_azure, make_provider, provider, size  # noqa: F401
from tests.providers.fake_azure import NODE_RESOURCE_GROUP, SUBSCRIPTION

ROLE = "smart-autoscaler.io/node-type"


def request(request_id: str, vm_size: str = "Standard_D4s_v5", capacity: str = "on-demand", zone: str = "eastus", **extra):
    labels = {
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": vm_size,
        "smart-autoscaler.io/created-by": "smart-autoscaler",
        "karpenter.sh/capacity-type": capacity,
        ROLE: "bin-select",
        "node.elotl.co/created-by": "luna",
    }
    if capacity == "spot":
        labels["kubernetes.azure.com/scalesetpriority"] = "spot"
    taints = (AKS_SPOT_TAINT,) if capacity == "spot" else ()
    return LaunchRequest(
        request_id=request_id,
        instance_type=size(vm_size),
        capacity_type=capacity,
        zones=(zone,),
        labels=labels,
        taints=extra.pop("taints", taints),
        tags={ROLE: "bin-select", "smart-autoscaler.io/request-id": request_id},
        **extra,
    )


def created_pools(fake):
    return {path.rsplit("/", 1)[1]: body for method, path, body in fake.requests if method == "PUT" and "/agentPools/" in path}


def test_a_spot_launch_creates_a_spot_pool_and_adds_one_node(fake_azure, provider):
    """Given no pool for Standard_D4s_v5 Spot, when one node is launched, then a Spot pool is
    created (autoscaling off, eviction Delete, max price -1, the launch's own labels; AKS adds
    the spot taint itself) and its scale set grows from 0 to 1."""
    instance = provider.launch(request("a1", capacity="spot"))

    (pool, body), = created_pools(fake_azure).items()
    assert names.POOL_NAME.match(pool) and len(pool) <= 12 and pool.startswith("sas")
    props = body["properties"]
    assert (props["vmSize"], props["count"], props["enableAutoScaling"], props["mode"]) == ("Standard_D4s_v5", 0, False, "User")
    assert (props["scaleSetPriority"], props["scaleSetEvictionPolicy"], props["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert props["nodeLabels"] == {
        "karpenter.sh/capacity-type": "spot",
        "node.elotl.co/created-by": "luna",
        "smart-autoscaler.io/created-by": "smart-autoscaler",
        ROLE: "bin-select",  # the kubelet registers with it: a pool per offering and role
    }
    assert props["nodeTaints"] == [] and props["osDiskSizeGB"] == 128 and "availabilityZones" not in props
    vmss = fake_azure.vmss_of(pool)
    assert fake_azure.scale_sets[vmss]["sku"]["capacity"] == 1
    assert instance.instance_id == f"{vmss}/0"
    assert instance.provider_id == (
        f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP.lower()}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/0"
    )
    assert (instance.instance_type, instance.capacity_type, instance.zone, instance.state) == ("Standard_D4s_v5", "spot", "eastus", "running")


def test_an_on_demand_gpu_pool_is_regular_with_the_driver_a_bigger_disk_and_the_gpu_taint(fake_azure, provider):
    provider.launch(request("g1", vm_size="Standard_NC4as_T4_v3", zone="eastus-2", taints=(GPU_TAINT,)))

    (pool, body), = created_pools(fake_azure).items()
    props = body["properties"]
    assert pool.startswith("sar")
    assert props["scaleSetPriority"] == "Regular" and "spotMaxPrice" not in props
    assert props["gpuProfile"] == {"driver": "Install"}
    assert props["osDiskSizeGB"] == 256
    assert props["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert props["availabilityZones"] == ["2"]


def test_pool_names_are_deterministic_and_differ_per_offering_and_role():
    from providers.azure.names import Offering, pool_name

    keys = [
        (Offering(s, c, z), role)
        for s in ("Standard_D4s_v5", "Standard_E4as_v5")
        for c in ("spot", "on-demand")
        for z in ("eastus", "eastus-1")
        for role in ("bin-pack", "bin-select")
    ]
    pools = [pool_name(o, role) for o, role in keys]
    assert len(set(pools)) == len(keys)
    assert pools == [pool_name(o, role) for o, role in keys]
    assert all(names.POOL_NAME.match(p) for p in pools)


def test_the_same_launch_key_twice_gives_one_instance(fake_azure, provider):
    first = provider.launch(request("same-key"))
    again = provider.launch(request("same-key"))

    assert again.instance_id == first.instance_id
    vmss = first.instance_id.split("/")[0]
    assert fake_azure.scale_sets[vmss]["sku"]["capacity"] == 1 and len(fake_azure.vms[vmss]) == 1


def test_a_launch_cut_off_after_the_scale_out_claims_its_instance_on_retry(fake_azure, provider):
    """Given a scale-out that went through but whose instance was never recorded (the process
    died), when the same launch attempt is retried, then it gets that instance: no second one."""
    provider.launch(request("other"))
    vmss = next(iter(fake_azure.scale_sets))
    orphan = fake_azure.add_vm(vmss)
    fake_azure.scale_sets[vmss]["sku"]["capacity"] = 2
    fake_azure.scale_sets[vmss]["tags"][names.launch_tag("cut-off")] = "pending|bin-pack"

    retried = provider.launch(request("cut-off"))

    assert retried.instance_id == f"{vmss}/{orphan['instanceId']}"
    assert retried.tags[ROLE] == "bin-pack"
    assert len(fake_azure.vms[vmss]) == 2


def test_launch_keys_stay_within_azures_tag_limit(fake_azure, provider):
    """Azure allows 50 tags on a scale set: with 40 older launches recorded, a new launch keeps
    the 30 newest launch keys (its own among them) and AKS's own tags."""
    provider.launch(request("first"))
    vmss = next(iter(fake_azure.scale_sets))
    for index in range(40):
        vm = fake_azure.add_vm(vmss)
        fake_azure.scale_sets[vmss]["tags"][names.launch_tag(f"old-{index}")] = f"{vm['instanceId']}|bin-pack"
    fake_azure.scale_sets[vmss]["sku"]["capacity"] = 41

    newest = provider.launch(request("newest"))

    tags = fake_azure.scale_sets[vmss]["tags"]
    launches = [k for k in tags if k.startswith(names.LAUNCH_TAG_PREFIX)]
    assert len(launches) == 30 and len(tags) <= 50
    assert tags[names.launch_tag("newest")] == f"{newest.instance_id.split('/')[1]}|bin-select"
    assert "aks-managed-poolName" in tags


def test_a_second_launch_of_the_offering_reuses_its_pool(fake_azure, provider):
    one = provider.launch(request("n1"))
    two = provider.launch(request("n2"))

    assert len(created_pools(fake_azure)) == 1
    assert one.instance_id != two.instance_id
    assert {i.request_id for i in provider.list_instances()} == {"n1", "n2"}


def test_terminate_deletes_exactly_that_instance(fake_azure, provider):
    keep = provider.launch(request("keep"))
    drop = provider.launch(request("drop"))
    vmss, number = drop.instance_id.split("/")

    provider.terminate(drop.instance_id)
    provider.terminate(drop.instance_id)  # already gone: quiet

    assert fake_azure.calls("POST", rf"{vmss}/delete$") == [{"instanceIds": [number]}]
    assert [i.instance_id for i in provider.list_instances()] == [keep.instance_id]


def test_only_this_clusters_pools_are_listed(fake_azure, provider):
    fake_azure.add_pool("nodepool1", {"vmSize": "Standard_D2s_v5", "mode": "System"})
    fake_azure.add_vm(fake_azure.vmss_of("nodepool1"))
    fake_azure.add_pool("sarforeign1", {"vmSize": "Standard_D2s_v5", "tags": {
        "smart-autoscaler.io/managed-by": "smart-autoscaler", "smart-autoscaler.io/cluster": "another-cluster"}})
    fake_azure.add_vm(fake_azure.vmss_of("sarforeign1"))
    mine = provider.launch(request("mine"))

    assert [i.instance_id for i in provider.list_instances()] == [mine.instance_id]


def test_an_empty_pool_is_deleted_after_the_idle_time_and_not_before(fake_azure, clock):
    provider = make_provider(fake_azure, clock, poolIdleTime="10m")
    instance = provider.launch(request("idle"))
    pool = next(iter(fake_azure.pools))
    provider.terminate(instance.instance_id)

    provider.list_instances()
    clock.advance(9 * 60)
    provider.list_instances()
    provider.pools.flush()
    assert pool in fake_azure.pools

    clock.advance(2 * 60)
    provider.list_instances()
    provider.pools.flush()  # the reaper has run
    assert pool not in fake_azure.pools
    provider.close()


def test_a_pool_with_a_node_is_never_deleted(fake_azure, clock):
    provider = make_provider(fake_azure, clock, poolIdleTime="1m")
    provider.launch(request("busy"))
    clock.advance(3600)
    provider.list_instances()
    provider.pools.flush()
    assert len(fake_azure.pools) == 1
    provider.close()


def test_missing_settings_are_named():
    from autoscaler.config import config_from_mapping
    from providers.azure import create_provider

    with pytest.raises(ValueError, match="azure.resourceGroup"):
        create_provider(config=config_from_mapping({"cloud": "azure", "azure": {"subscriptionId": "s"}}))


def test_a_loopback_resource_manager_endpoint_needs_no_credential(fake_azure, clock):
    """`azure.resourceManagerEndpoint: http://127.0.0.1:PORT` (the e2e tier's server): plain
    HTTP is allowed there only, with a placeholder token."""
    from providers.azure import create_provider
    from tests.providers.azure_fixtures import azure_config

    config = azure_config(resourceManagerEndpoint=fake_azure.base_url, pollInterval="10ms")
    provider = create_provider(config=config, clock=clock)
    instance = provider.launch(request("loopback"))
    assert [i.instance_id for i in provider.list_instances()] == [instance.instance_id]
    provider.close()


def test_without_the_azure_sdk_the_message_says_what_to_install(monkeypatch):
    import builtins

    from providers.azure import create_provider
    from tests.providers.azure_fixtures import azure_config

    real_import = builtins.__import__

    def no_azure(name, *args, **kwargs):
        if name.startswith("azure.mgmt"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_azure)
    with pytest.raises(ValueError, match=r"pip install 'smart-autoscaler\[azure\]'"):
        create_provider(config=azure_config())


def test_concurrent_launches_of_one_offering_get_one_pool_and_a_node_each(fake_azure, provider):
    """Eight launches of the same offering from eight threads (the loop's launch executor):
    one pool is created, its scale set grows to 8, and every launch has its own instance."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        instances = list(pool.map(lambda i: provider.launch(request(f"c{i}")), range(8)))

    assert len(created_pools(fake_azure)) == 1
    assert len({i.instance_id for i in instances}) == 8
    (vmss,) = fake_azure.scale_sets
    assert fake_azure.scale_sets[vmss]["sku"]["capacity"] == 8 and len(fake_azure.vms[vmss]) == 8
    assert {i.request_id for i in provider.list_instances()} == {f"c{i}" for i in range(8)}
