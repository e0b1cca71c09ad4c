"""AKS provider, launch and terminate: agent pools per offering, nodes added by the pool's
count (the launches of one loop in one change), the launch key making a retried launch find
its machine, terminate deleting exactly one machine, idle pools removed. Against the AKS
REST API's published contract on a local server (tests/providers/fake_azure.py), through the
real Azure SDK."""

from __future__ import annotations

import pytest

from pricing.catalog import AKS_SPOT_TAINT, GPU_TAINT
from providers.azure import names
from providers.base import LaunchRequest
from tests.providers.azure_fixtures import clock, fake_azure, make_provider, provider, size  # noqa: F401
from concurrent.futures import ThreadPoolExecutor

from tests.providers.fake_azure import NODE_RESOURCE_GROUP, SUBSCRIPTION, start_fake_azure

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


def pool_puts(fake):
    return [(path.rsplit("/", 1)[1], body) for method, path, body in fake.requests if method == "PUT" and "/agentPools/" in path]


def created_pools(fake):
    return dict(pool_puts(fake)[:1]) if pool_puts(fake) else {}


def launch_together(provider, ids, **kwargs):
    """Launches from as many threads at once, as the loop's launch executor calls them."""
    with ThreadPoolExecutor(len(ids)) as threads:
        return list(threads.map(lambda key: provider.launch(request(key, **kwargs)), ids))


def test_a_spot_launch_creates_a_spot_pool_with_one_node(fake_azure, provider):
    """Given no pool for Standard_D4s_v5 Spot, when one node is launched, then a Spot pool is
    created with count 1 (autoscaling off, eviction Delete, max price -1, the launch's own
    labels; AKS adds the spot taint itself) and the launch answers with its machine."""
    instance = provider.launch(request("a1", capacity="spot"))

    (pool, body), = created_pools(fake_azure).items()
    assert names.POOL_NAME.match(pool) and len(pool) <= 12 and pool.startswith("sas")
    props = body["properties"]
    assert (props["vmSize"], props["count"], props["enableAutoScaling"], props["mode"]) == ("Standard_D4s_v5", 1, False, "User")
    assert (props["scaleSetPriority"], props["scaleSetEvictionPolicy"], props["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert props["nodeLabels"] == {
        "karpenter.sh/capacity-type": "spot",
        "node.elotl.co/created-by": "luna",
        "smart-autoscaler.io/created-by": "smart-autoscaler",
        ROLE: "bin-select",  # the kubelet registers with it: a pool per offering and role
    }
    assert props["nodeTaints"] == [] and props["osDiskSizeGB"] == 128 and "availabilityZones" not in props
    vmss = fake_azure.vmss_of(pool)
    (machine,) = fake_azure.machines(pool)
    assert instance.instance_id == f"{pool}/{machine['name']}" == f"{pool}/{vmss}000000"
    assert instance.provider_id == (
        f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP.lower()}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{vmss}/virtualMachines/0"
    )
    assert (instance.instance_type, instance.capacity_type, instance.zone, instance.state) == ("Standard_D4s_v5", "spot", "eastus", "running")
    assert fake_azure.writes_to_node_resource_group() == []


def test_pool_tags_are_tags_azure_accepts_and_name_this_cluster(fake_azure, provider):
    """Azure refuses tag names with / (InvalidTagNameCharacters): the pool's keys use _, and the
    ownership tag carries this cluster's name (clusterName: prod-east)."""
    provider.launch(request("t1"))

    (body,) = created_pools(fake_azure).values()
    tags = body["properties"]["tags"]
    assert names.tag_problems(tags) == []
    assert tags["smart-autoscaler.io_cluster"] == "prod-east"
    assert tags["smart-autoscaler.io_managed-by"] == "smart-autoscaler"
    assert not [key for key in tags if "/" in key]


def test_a_tag_name_azure_refuses_fails_the_launch_with_azures_code():
    from providers.azure.names import azure_tag_key, tag_problems

    assert azure_tag_key("smart-autoscaler.io/cluster") == "smart-autoscaler.io_cluster"
    assert tag_problems({"a/b": "x"}) and tag_problems({"k": "v" * 257}) and tag_problems({f"k{i}": "" for i in range(51)})
    assert tag_problems({"k" * 512: "v" * 256}) == []


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


def test_ten_launches_of_one_offering_at_once_are_one_count_change_with_a_machine_each(fake_azure, provider):
    """Ten launches of Standard_D4s_v5 on demand from ten threads (one loop's batch): one PUT
    creates the pool with count 10, and every launch has its own machine and request id."""
    instances = launch_together(provider, [f"c{i}" for i in range(10)])

    puts = pool_puts(fake_azure)
    assert [body["properties"]["count"] for _, body in puts] == [10]
    assert len({i.instance_id for i in instances}) == 10
    assert {i.request_id for i in instances} == {f"c{i}" for i in range(10)}
    assert {(i.instance_id, i.request_id) for i in provider.list_instances()} == {(i.instance_id, i.request_id) for i in instances}


def test_launches_for_a_pool_that_exists_raise_its_count_and_keep_its_settings(fake_azure, provider):
    provider.launch(request("n1"))
    more = launch_together(provider, ["n2", "n3", "n4"])

    (pool, first), (_, second) = pool_puts(fake_azure)
    assert second["properties"]["count"] == 4
    kept = {k: v for k, v in second["properties"].items() if k not in ("count", "tags")}
    assert kept == {k: v for k, v in first["properties"].items() if k not in ("count", "tags")}
    assert len({i.instance_id for i in more}) == 3
    assert len(fake_azure.machines(pool)) == 4


def test_different_pools_scale_at_the_same_time(clock):
    """With each AKS operation taking 1 s, launches for two offerings answer in about 1 s, not 2."""
    import time

    fake, server = start_fake_azure(lro_seconds=1.0)
    provider = make_provider(fake, clock)
    started = time.monotonic()
    with ThreadPoolExecutor(2) as threads:
        list(threads.map(lambda args: provider.launch(request(args[0], vm_size=args[1])),
                         [("p1", "Standard_D4s_v5"), ("p2", "Standard_E4as_v5")]))
    elapsed = time.monotonic() - started
    provider.close()
    server.shutdown()
    assert len(fake.pools) == 2 and elapsed < 1.9


def test_the_same_launch_key_twice_gives_one_machine(fake_azure, provider):
    first = provider.launch(request("same-key"))
    again = provider.launch(request("same-key"))

    assert again.instance_id == first.instance_id
    (pool,) = fake_azure.pools
    assert fake_azure.pools[pool]["properties"]["count"] == 1 and len(fake_azure.machines(pool)) == 1


def test_a_launch_retried_by_a_new_process_finds_the_machine_its_count_change_made(fake_azure, clock):
    """Given a process that raised the pool's count and died before it saw its machines, when a
    new process retries the same launches, then each gets the machine made for it: no second
    count change, the same machines, and the listing names their request ids."""
    first = make_provider(fake_azure, clock)
    made = launch_together(first, ["r1", "r2", "r3"])
    first.close()

    second = make_provider(fake_azure, clock)
    again = launch_together(second, ["r2", "r3", "r1"])
    listed = {i.instance_id: i.request_id for i in make_provider(fake_azure, clock).list_instances()}

    assert [body["properties"]["count"] for _, body in pool_puts(fake_azure)] == [3]
    assert {i.request_id: i.instance_id for i in again} == {i.request_id: i.instance_id for i in made}
    assert listed == {i.instance_id: i.request_id for i in made}
    second.close()


def test_a_launch_whose_machine_is_gone_is_answered_as_gone_not_made_again(fake_azure, provider):
    made = provider.launch(request("spent"))
    provider.terminate(made.instance_id)
    again = provider.launch(request("spent"))

    assert again.state == "terminated" and not again.alive
    assert [body["properties"]["count"] for _, body in pool_puts(fake_azure)] == [1]


def test_the_launch_ledger_stays_within_azures_tag_limits(fake_azure, provider):
    """Sixty launches in six batches: the pool keeps only the newest four batches' keys, each
    value within 256 characters."""
    for batch in range(6):
        launch_together(provider, [f"b{batch}-{i}" for i in range(10)])

    (pool,) = fake_azure.pools
    tags = fake_azure.pools[pool]["properties"]["tags"]
    ledger = {k: v for k, v in tags.items() if k.startswith("sa-launches-")}
    assert len(ledger) == 4 and all(len(v) <= 256 for v in ledger.values())
    assert names.tag_problems(fake_azure.scale_sets[fake_azure.vmss_of(pool)]["tags"]) == []


def test_terminate_deletes_exactly_that_machine_through_aks(fake_azure, provider):
    keep = provider.launch(request("keep"))
    drop = provider.launch(request("drop"))
    pool, machine = drop.instance_id.split("/")

    provider.terminate(drop.instance_id)
    provider.terminate(drop.instance_id)  # already gone: quiet

    assert fake_azure.calls("POST", rf"agentPools/{pool}/deleteMachines$") == [{"machineNames": [machine]}]
    assert [i.instance_id for i in provider.list_instances()] == [keep.instance_id]
    assert fake_azure.pools[pool]["properties"]["count"] == 1
    assert fake_azure.writes_to_node_resource_group() == []


def test_a_cluster_update_leaves_the_nodes_in_place(fake_azure, provider):
    """AKS reconciles each scale set to its pool's count on a cluster update: the provider's
    nodes are the pool's count, so they stay."""
    made = launch_together(provider, ["u1", "u2", "u3"])
    fake_azure.reconcile()
    assert {i.instance_id for i in provider.list_instances()} == {i.instance_id for i in made}


def test_a_node_added_to_the_scale_set_behind_aks_back_is_removed_by_a_cluster_update(fake_azure, provider):
    """What the fake holds AKS to: a scale set grown directly (the old design) loses the node
    at the next cluster update."""
    provider.launch(request("w1"))
    (pool,) = fake_azure.pools
    fake_azure.add_vm(fake_azure.vmss_of(pool))
    assert len(fake_azure.machines(pool)) == 2
    fake_azure.reconcile()
    assert len(fake_azure.machines(pool)) == 1


def test_only_this_clusters_pools_are_listed(fake_azure, provider):
    fake_azure.add_pool("nodepool1", {"vmSize": "Standard_D2s_v5", "mode": "System", "count": 1})
    fake_azure.add_pool("sarforeign1", {"vmSize": "Standard_D2s_v5", "count": 1, "tags": {
        "smart-autoscaler.io_managed-by": "smart-autoscaler", "smart-autoscaler.io_cluster": "another-cluster"}})
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


def test_pools_made_with_the_charts_default_configuration_pass_azures_tag_validation(fake_azure, clock):
    """The chart's `config:` (values.yaml) with only the AKS cluster named: a Spot pool and an
    on-demand GPU pool are created, each accepted by the fake's ARM tag validation, and AKS's
    copy of the tags on the scale set holds within Azure's limits too."""
    from pathlib import Path

    import yaml

    from autoscaler.config import config_from_mapping
    from providers.azure import create_provider
    from tests.providers.azure_fixtures import FakeCredential
    from tests.providers.fake_azure import CLUSTER, RESOURCE_GROUP

    values = yaml.safe_load((Path(__file__).resolve().parents[2] / "helm/smart-autoscaler/values.yaml").read_text())["config"]
    config = config_from_mapping({**values, "cloud": "azure", "region": "eastus", "azure": {
        "subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "clusterName": CLUSTER}})
    provider = create_provider(config=config, clock=clock, credential=FakeCredential(), base_url=fake_azure.base_url,
                               polling_interval=0, allow_http=True)
    provider.launch(request("chart-spot", capacity="spot"))
    provider.launch(request("chart-gpu", vm_size="Standard_NC4as_T4_v3", taints=(GPU_TAINT,)))
    provider.close()

    assert len(fake_azure.pools) == 2
    for pool in fake_azure.pools.values():
        assert pool["properties"]["tags"]["smart-autoscaler.io_cluster"] == values["clusterName"]
        assert names.tag_problems(fake_azure.scale_sets[fake_azure.vmss_of(pool["name"])]["tags"]) == []


def test_the_fake_refuses_a_tag_name_with_a_slash_as_azure_does(fake_azure, provider, monkeypatch):
    """The old pool tags (`smart-autoscaler.io/cluster`) would not pass: ARM's
    InvalidTagNameCharacters comes back as a failed launch naming Azure's code."""
    import providers.azure.provider as module
    from providers.base import ProviderError

    real = module.pool_body

    def with_a_slash(*args, **kwargs):
        body = real(*args, **kwargs)
        body["properties"]["tags"]["smart-autoscaler.io/cluster"] = "prod-east"
        return body

    monkeypatch.setattr(module, "pool_body", with_a_slash)
    with pytest.raises(ProviderError) as caught:
        provider.launch(request("slash"))
    assert caught.value.code == "InvalidTagNameCharacters" and fake_azure.pools == {}


def test_a_launch_the_loop_gave_up_on_holds_nothing_and_its_retry_gets_its_machine(clock):
    """AKS operations take 1.5 s; the loop gives up on a launch after 0.3 s (cloudCallTimeout).
    Meanwhile another offering's launch goes through; the retry with the same key joins the
    count change still running and gets its machine: one count change, one machine."""
    from autoscaler.clock import SystemClock
    from autoscaler.loop.calls import ThreadedCalls

    fake, server = start_fake_azure(lro_seconds=1.5)
    provider = make_provider(fake, clock)
    calls = ThreadedCalls(SystemClock(), 10, timeout=0.3)
    try:
        calls.submit("launch", "slow", lambda: provider.launch(request("slow")))
        outcome = calls.wait("launch", "slow", 0.6)
        assert outcome is not None and outcome.timed_out
        other = provider.launch(request("other", vm_size="Standard_E4as_v5"))
        again = provider.launch(request("slow"))
    finally:
        calls.shutdown(0)
        provider.close()
        server.shutdown()

    slow_pool = again.instance_id.split("/")[0]
    assert [body["properties"]["count"] for name, body in pool_puts(fake) if name == slow_pool] == [1]
    assert len(fake.machines(slow_pool)) == 1 and again.request_id == "slow"
    assert other.instance_id.split("/")[0] != slow_pool
