"""The OCI provider against OKE's API shapes: the real `oci` SDK, pointed at a local server.

Given an offering, when the loop launches it, then an OKE node pool for exactly that offering
exists in the right availability domain with the right size, and the node it returns is the
one OKE created — or the launch fails with the typed failure and scope OCI's answer means.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("oci")

from autoscaler.config import config_from_mapping  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from pricing.types import Taint  # noqa: E402
from providers.base import (  # noqa: E402
    FailureKind,
    InsufficientCapacity,
    LaunchRequest,
    ProviderError,
    QuotaExceeded,
    Throttled,
)
from providers.oci import create_provider  # noqa: E402
from tests.providers.oke_server import OkeServer, OkeState  # noqa: E402

AD1, AD2, AD3 = "Uocm:US-ASHBURN-AD-1", "Uocm:US-ASHBURN-AD-2", "Uocm:US-ASHBURN-AD-3"
CATALOG = region_catalog("oci", "us-ashburn-1")
E5 = next(s for s in CATALOG.flex_shapes if s.name == "VM.Standard.E5.Flex")
GPU2 = next(o.instance_type for o in CATALOG.offerings if o.instance_type.name == "VM.GPU2.1")
LABELS = {
    "smart-autoscaler.io/node-type": "bin-select",
    "smart-autoscaler.io/created-by": "smart-autoscaler",
    "topology.kubernetes.io/zone": "us-ashburn-1",
    "node.kubernetes.io/instance-type": "VM.Standard.E5.Flex",
}


def settings(endpoint: str, **oci_options):
    options = {
        "compartmentId": "ocid1.compartment.oc1..workers",
        "clusterId": "ocid1.cluster.oc1.iad.prod",
        "subnetId": "ocid1.subnet.oc1.iad.workers",
        "imageId": "ocid1.image.oc1.iad.oke-x86",
        "imageIdGpu": "ocid1.image.oc1.iad.oke-gpu",
        "serviceEndpoint": endpoint,
        "authMethod": "none",
        "callTimeout": "5s",
        "launchTimeout": "10s",
        "priceListURL": "",
        **oci_options,
    }
    return config_from_mapping({"cloud": "oci", "region": "us-ashburn-1", "clusterName": "prod", "oci": options})


@pytest.fixture
def server():
    with OkeServer() as running:
        yield running


@pytest.fixture
def provider(server):
    return create_provider(config=settings(server.endpoint), poll_interval=0.01)


def flex_request(request_id: str, ocpus: int = 4, gb: int = 32, capacity: str = "on-demand", **kwargs) -> LaunchRequest:
    kwargs.setdefault("labels", LABELS)
    return LaunchRequest(request_id, E5.instance_type(ocpus, gb), capacity, ("us-ashburn-1",), **kwargs)


def pools(server):
    return [p for p in server.state.pools.values() if p["lifecycleState"] != "DELETED"]


# ---- launching


def test_flex_launch_makes_one_node_pool_sized_to_the_offering(server, provider):
    instance = provider.launch(flex_request("r1"))
    (pool,) = pools(server)
    assert pool["nodeShape"] == "VM.Standard.E5.Flex"
    assert pool["nodeShapeConfig"] == {"ocpus": 4.0, "memoryInGBs": 32.0}
    assert pool["nodeSourceDetails"]["imageId"] == "ocid1.image.oc1.iad.oke-x86"
    assert pool["kubernetesVersion"] == "v1.31.1"  # the cluster's, from GetCluster
    (placement,) = pool["nodeConfigDetails"]["placementConfigs"]
    assert (placement["availabilityDomain"], placement["subnetId"]) == (AD1, "ocid1.subnet.oc1.iad.workers")
    assert placement.get("preemptibleNodeConfig") is None
    assert pool["nodeConfigDetails"]["size"] == 1
    # our labels reach the kubelet; the ones the kubelet and OKE set themselves are left to them
    assert {kv["key"]: kv["value"] for kv in pool["initialNodeLabels"]} == {
        "smart-autoscaler.io/node-type": "bin-select",
        "smart-autoscaler.io/created-by": "smart-autoscaler",
    }  # (the loop's labels of a Flex node also carry its size: smart-autoscaler.io/flex-ocpus, -memory-gb)
    (node,) = server.state.live_nodes()
    assert instance.instance_id == node["id"] and instance.provider_id == f"oci://{node['id']}"
    assert (instance.instance_type, instance.capacity_type, instance.zone) == ("VM.Standard.E5.Flex", "on-demand", "US-ASHBURN-AD-1")
    assert instance.request_id == "r1"
    assert (instance.tags["smart-autoscaler.io/flex-ocpus"], instance.tags["smart-autoscaler.io/flex-memory-gb"]) == ("4", "32")


def test_the_same_offering_grows_its_pool_by_one_node_per_launch(server, provider):
    first, second = provider.launch(flex_request("r1")), provider.launch(flex_request("r2"))
    (pool,) = pools(server)
    assert pool["nodeConfigDetails"]["size"] == 2 and first.instance_id != second.instance_id
    other_size = provider.launch(flex_request("r3", ocpus=2, gb=16))
    assert len(pools(server)) == 2 and other_size.instance_id not in (first.instance_id, second.instance_id)


def test_preemptible_capacity_gets_its_own_pool_with_terminate_on_preemption(server, provider):
    provider.launch(flex_request("r1"))
    spot = provider.launch(flex_request("r2", capacity="spot"))
    assert len(pools(server)) == 2 and spot.capacity_type == "spot"
    preemptible = [p for p in pools(server) if p["nodeConfigDetails"]["placementConfigs"][0].get("preemptibleNodeConfig")]
    (pool,) = preemptible
    action = pool["nodeConfigDetails"]["placementConfigs"][0]["preemptibleNodeConfig"]["preemptionAction"]
    assert action == {"type": "TERMINATE", "isPreserveBootVolume": False}
    assert pool["freeformTags"]["smart-autoscaler-capacity-type"] == "spot"


def test_taints_go_to_the_kubelet_and_gpu_nodes_keep_okes_own_gpu_taint(server, provider):
    gpu_taint = Taint("nvidia.com/gpu", "present", "NoSchedule")
    request = LaunchRequest("g1", GPU2, "on-demand", ("us-ashburn-1",), labels=LABELS,
                            taints=(gpu_taint, Taint("dedicated", "ml", "NoSchedule")))
    provider.launch(request)
    (pool,) = pools(server)
    assert pool["nodeShape"] == "VM.GPU2.1" and pool.get("nodeShapeConfig") is None
    assert pool["nodeSourceDetails"]["imageId"] == "ocid1.image.oc1.iad.oke-gpu"
    script = base64.b64decode(pool["nodeMetadata"]["user_data"]).decode()
    assert "oke_init_script" in script
    assert '--kubelet-extra-args "--register-with-taints=dedicated=ml:NoSchedule"' in script
    assert "nvidia.com/gpu" not in script  # OKE taints its GPU nodes itself


def test_a_shape_without_a_configured_image_is_a_clear_error(server):
    provider = create_provider(config=settings(server.endpoint, imageIdGpu=""), poll_interval=0.01)
    with pytest.raises(ProviderError, match="oci.imageIdGpu is not set"):
        provider.launch(LaunchRequest("g1", GPU2, "on-demand", ("us-ashburn-1",), labels=LABELS))
    assert pools(server) == []


# ---- stock-outs and limits


def test_out_of_host_capacity_moves_to_the_next_availability_domain_in_the_same_launch(server, provider):
    server.state.out_of_capacity.add(("VM.Standard.E5.Flex", AD1))
    instance = provider.launch(flex_request("r1"))
    assert instance.zone == "US-ASHBURN-AD-2"
    (pool,) = pools(server)  # the AD-1 pool that could not get a host is gone again
    assert pool["nodeConfigDetails"]["placementConfigs"][0]["availabilityDomain"] == AD2


def test_out_of_host_capacity_in_every_ad_is_insufficient_capacity_for_the_shape_in_the_region(server, provider):
    for ad in (AD1, AD2, AD3):
        server.state.out_of_capacity.add(("VM.Standard.E5.Flex", ad))
    with pytest.raises(InsufficientCapacity) as raised:
        provider.launch(flex_request("r1"))
    (scope,) = raised.value.scopes
    assert scope.instance_types == frozenset({"VM.Standard.E5.Flex"})
    assert scope.zone is None  # every AD tried: the region-wide offering is out
    assert scope.capacity_type is None  # on-demand out: preemptible too
    assert scope.covers("VM.Standard.E5.Flex", "spot", "us-ashburn-1")
    assert not scope.covers("VM.Standard.E4.Flex", "on-demand", "us-ashburn-1")
    assert pools(server) == [] and server.state.live_nodes() == []
    assert "Out of host capacity" in str(raised.value)


def test_a_500_is_not_retried_by_the_sdk(server, provider):
    server.state.fail_next("CreateNodePool", 500, "InternalError", "Out of host capacity.", times=3)
    with pytest.raises(InsufficientCapacity):
        provider.launch(flex_request("r1"))
    # one CreateNodePool per availability domain, no hidden retries
    assert len(server.state.operations("CreateNodePool")) == 3


def test_a_per_ad_service_limit_tries_the_next_ad(server, provider):
    server.state.fail_next("CreateNodePool", 400, "LimitExceeded", "The following service limits were exceeded: standard-e5-core-count")
    instance = provider.launch(flex_request("r1"))
    assert instance.zone == "US-ASHBURN-AD-2"


def test_a_compartment_quota_stops_at_once_with_the_whole_generation_in_scope(server, provider):
    server.state.fail_next("CreateNodePool", 400, "QuotaExceeded", "Quota exceeded for standard-e5-core-count in compartment")
    with pytest.raises(QuotaExceeded) as raised:
        provider.launch(flex_request("r1"))
    (scope,) = raised.value.scopes
    assert scope.instance_types == frozenset({"VM.Standard.E5.Flex", "BM.Standard.E5.192"})
    assert scope.zone is None and scope.capacity_type is None
    assert len(server.state.operations("CreateNodePool")) == 1


def test_too_many_requests_is_throttled(server, provider):
    provider.launch(flex_request("r1"))
    server.state.fail_next("UpdateNodePool", 429, "TooManyRequests", "Too many requests for the user")
    with pytest.raises(Throttled) as raised:
        provider.launch(flex_request("r2"))
    assert raised.value.kind == FailureKind.THROTTLED and raised.value.scopes == ()


def test_a_call_that_hangs_ends_at_the_call_timeout(server):
    provider = create_provider(config=settings(server.endpoint, callTimeout="1s"), poll_interval=0.01)
    server.state.delays["GetCluster"] = 3.0
    started = time.monotonic()
    with pytest.raises(Exception):
        provider.launch(flex_request("r1"))
    assert time.monotonic() - started < 2.5


# ---- idempotency and concurrency


def test_the_same_launch_attempt_twice_yields_one_node(server, provider):
    first = provider.launch(flex_request("r1"))
    assert provider.launch(flex_request("r1")) == first
    # a restarted process: the pool remembers the attempt, nothing grows
    restarted = create_provider(config=settings(server.endpoint), poll_interval=0.01)
    again = restarted.launch(flex_request("r1"))
    assert again.instance_id == first.instance_id
    assert len(server.state.live_nodes()) == 1


def test_concurrent_launches_of_one_offering_each_get_their_own_node(server, provider):
    with ThreadPoolExecutor(8) as pool:
        instances = list(pool.map(lambda i: provider.launch(flex_request(f"r{i}")), range(8)))
    assert len({i.instance_id for i in instances}) == 8
    (node_pool,) = pools(server)
    assert node_pool["nodeConfigDetails"]["size"] == 8


def test_a_pool_changed_by_someone_else_is_read_again_before_growing(server):
    pauses: list[float] = []
    provider = create_provider(config=settings(server.endpoint), poll_interval=0.01, sleep=pauses.append)
    provider.launch(flex_request("r1"))
    server.state.fail_next("UpdateNodePool", 412, "PreconditionFailed", "etag mismatch")
    provider.launch(flex_request("r2"))
    (pool,) = pools(server)
    assert pool["nodeConfigDetails"]["size"] == 2
    assert len([p for p in pauses if p >= 0.5]) == 1  # one pause before the second try


def test_a_busy_pool_answering_409_is_retried_with_growing_pauses_until_it_grows(server):
    """OKE refuses a change to a pool whose work request still runs (409); a concurrent grow
    waits with back-off and lands, instead of three immediate tries and a lost launch."""
    pauses: list[float] = []
    provider = create_provider(config=settings(server.endpoint), poll_interval=0.01, sleep=pauses.append)
    provider.launch(flex_request("r1"))
    (pool,) = pools(server)
    server.state.busy[pool["id"]] = 4
    provider.launch(flex_request("r2"))
    assert pool["nodeConfigDetails"]["size"] == 2
    backoff = [p for p in pauses if p >= 0.5]
    assert len(backoff) == 4 and backoff == sorted(backoff) and backoff[-1] >= 4.0


def test_a_pool_busy_for_too_long_is_a_clear_failure(server):
    provider = create_provider(config=settings(server.endpoint), poll_interval=0.01, sleep=lambda s: None)
    provider.launch(flex_request("r1"))
    (pool,) = pools(server)
    server.state.busy[pool["id"]] = 100
    with pytest.raises(ProviderError, match="stayed busy"):
        provider.launch(flex_request("r2"))
    assert pool["nodeConfigDetails"]["size"] == 1


# ---- terminate and list


def test_terminate_deletes_the_named_node_and_an_idle_pool(server, provider):
    first, second = provider.launch(flex_request("r1")), provider.launch(flex_request("r2"))
    provider.terminate(first.instance_id)
    assert [n["id"] for n in server.state.live_nodes()] == [second.instance_id]
    assert pools(server)[0]["nodeConfigDetails"]["size"] == 1
    provider.terminate(second.instance_id)
    assert pools(server) == []
    provider.terminate(second.instance_id)  # already gone: quiet
    provider.terminate("ocid1.instance.oc1.iad.never")


def test_terminate_asks_oke_for_no_drain_of_its_own(server, provider):
    """The autoscaler drained the node already: OKE must not cordon and drain it again for the
    pool's default 60 minutes (DeleteNode overrideEvictionGraceDuration PT0M, forced)."""
    first, second = provider.launch(flex_request("r1")), provider.launch(flex_request("r2"))
    provider.terminate(first.instance_id)
    (deleted,) = server.state.deleted_nodes()
    assert deleted["id"] == first.instance_id
    assert deleted["deletion"] == {"evictionGraceDuration": "PT0M", "force": True}
    # and a size change OKE acts on by itself drains nothing either
    assert pools(server)[0]["nodeEvictionNodePoolSettings"] == {"evictionGraceDuration": "PT0M", "isForceDeleteAfterGraceDuration": True}


def test_a_failed_launch_removes_that_named_node_not_a_healthy_one(server, provider):
    healthy = provider.launch(flex_request("r1"))
    server.state.failing_instances.add(("VM.Standard.E5.Flex", AD1))
    with pytest.raises(ProviderError, match="failed to start"):
        provider.launch(flex_request("r2"))
    (deleted,) = server.state.deleted_nodes()
    assert deleted["id"] != healthy.instance_id and deleted["nodeError"]["code"] == "InternalError"
    assert [n["id"] for n in server.state.live_nodes()] == [healthy.instance_id]
    assert pools(server)[0]["nodeConfigDetails"]["size"] == 1


def test_list_instances_reads_every_page_and_only_this_clusters_pools(server, provider):
    launched = {provider.launch(flex_request(f"r{i}", ocpus=i + 1, gb=8)).instance_id for i in range(3)}
    foreign = dict(next(iter(server.state.pools.values())), id="ocid1.nodepool.oc1.iad.foreign", name="theirs",
                   freeformTags={"smart-autoscaler-cluster": "staging"}, nodes=[])
    server.state.pools[foreign["id"]] = foreign
    listed = provider.list_instances()
    assert {i.instance_id for i in listed} == launched
    assert len(server.state.operations("ListNodePools")) >= 1
    assert all(i.provider_id.startswith("oci://ocid1.instance.") and i.state == "running" for i in listed)


def test_availability_domains_come_from_the_identity_api_unless_configured(server, provider):
    provider.launch(flex_request("r0"))
    assert len(server.state.operations("ListAvailabilityDomains")) == 1
    configured = create_provider(config=settings(server.endpoint, availabilityDomains=[AD3]), poll_interval=0.01)
    assert configured.launch(flex_request("r1")).zone == "US-ASHBURN-AD-3"
    assert len(server.state.operations("ListAvailabilityDomains")) == 1


def test_a_launch_for_one_named_ad_backs_off_only_that_ad(server, provider):
    server.state.out_of_capacity.add(("VM.Standard.E5.Flex", AD2))
    request = LaunchRequest("r1", E5.instance_type(4, 32), "on-demand", ("US-ASHBURN-AD-2",), labels=LABELS)
    with pytest.raises(InsufficientCapacity) as raised:
        provider.launch(request)
    (scope,) = raised.value.scopes
    assert scope.zone == "US-ASHBURN-AD-2"


# ---- the error mapping, code by code


KNOWN = {"VM.Standard.E4.Flex", "BM.Standard.E4.128", "VM.Standard.E5.Flex"}
E4_GENERATION = frozenset({"VM.Standard.E4.Flex", "BM.Standard.E4.128"})


@pytest.mark.parametrize(
    ("status", "code", "message", "capacity", "kind", "scope"),
    [
        # (instance types, capacity type, zone) of the one scope; None = every value
        (500, "InternalError", "Out of host capacity.", "on-demand", InsufficientCapacity,
         (frozenset({"VM.Standard.E4.Flex"}), None, "US-ASHBURN-AD-2")),  # on-demand out: preemptible too
        (500, "InternalError", "Out of host capacity.", "spot", InsufficientCapacity,
         (frozenset({"VM.Standard.E4.Flex"}), "spot", "US-ASHBURN-AD-2")),  # preemptible out: only preemptible
        (400, "LimitExceeded", "The following service limits were exceeded: standard-e4-core-count", "on-demand",
         QuotaExceeded, (E4_GENERATION, None, "US-ASHBURN-AD-2")),  # core limits: one generation, per AD
        (400, "QuotaExceeded", "Quota exceeded for standard-e4-core-count", "spot", QuotaExceeded,
         (E4_GENERATION, None, None)),  # compartment quotas: one generation, the region
        (429, "TooManyRequests", "Too many requests for the user", "on-demand", Throttled, None),
        (401, "NotAuthenticated", "The required information to complete authentication was not provided", "on-demand",
         ProviderError, None),
        (400, "InvalidParameter", "Invalid shape config", "on-demand", ProviderError, None),
    ],
)
def test_each_oci_error_code_maps_to_its_kind_and_scope(status, code, message, capacity, kind, scope):
    from providers.oci.errors import failure

    err = failure(status, code, message, "VM.Standard.E4.Flex", capacity, AD2, KNOWN)
    assert type(err) is kind and err.code == code and message in str(err)
    if scope is None:
        assert err.scopes == ()
    else:
        (got,) = err.scopes
        assert (got.instance_types, got.capacity_type, got.zone) == scope and got.label


# ---- building it


def test_missing_required_options_are_named():
    with pytest.raises(ValueError, match="oci.compartmentId, oci.clusterId, oci.subnetId"):
        create_provider(config=config_from_mapping({"cloud": "oci", "region": "us-ashburn-1"}))


def test_unsigned_test_mode_refuses_a_real_endpoint():
    with pytest.raises(ValueError, match="loopback"):
        create_provider(config=settings("https://containerengine.us-ashburn-1.oci.oraclecloud.com"))


def test_registry_builds_the_oci_provider(server):
    from providers.registry import create_provider as registry

    provider = registry("oci", config=settings(server.endpoint))
    assert provider.name == "oci"


def test_a_pool_left_empty_is_removed_when_instances_are_listed(server, provider):
    provider.launch(flex_request("r1"))
    (pool,) = pools(server)
    for node in pool["nodes"]:
        node["lifecycleState"] = "DELETED"  # e.g. removed by hand, or a crash before the clean-up
    pool["nodeConfigDetails"]["size"] = 0
    assert provider.list_instances() == []
    assert pools(server) == []


def test_live_prices_reach_the_providers_catalog(server):
    provider = create_provider(config=settings(server.endpoint), start_prices=False)
    assert provider.live_catalog(CATALOG) is CATALOG and provider.price_ages() == {"oci-price-list": -1.0}
    document = {"items": [{"partNumber": "B95909", "currencyCodeLocalizations": [
        {"currencyCode": "USD", "prices": [{"model": "PAY_AS_YOU_GO", "value": 2.5}]}]}]}
    provider.prices.fetch = lambda url, timeout: __import__("json").dumps(document).encode()
    provider.prices.url = "https://price-list.invalid"
    assert provider.prices.refresh()
    live = provider.live_catalog(CATALOG)
    assert next(o.price for o in live.offerings if o.instance_type.name == "VM.GPU.A10.1" and o.capacity_type == "on-demand") == 2.5


def test_an_offering_whose_idle_pool_was_removed_gets_a_new_pool_on_the_next_need(server, provider):
    first = provider.launch(flex_request("r1"))
    provider.terminate(first.instance_id)
    assert pools(server) == []
    again = provider.launch(flex_request("r2"))
    (pool,) = pools(server)
    assert again.instance_id != first.instance_id and pool["nodeConfigDetails"]["size"] == 1


def test_oci_options_nested_or_dotted_and_bad_values_named():
    from autoscaler.config import ConfigError

    nested = config_from_mapping({"oci": {"availabilityDomains": [AD1, AD2], "launchTimeout": "5m", "bootVolumeSizeGB": 200}})
    dotted = config_from_mapping({"oci.availabilityDomains": f"{AD1},{AD2}", "oci.launchTimeout": 300, "oci.bootVolumeSizeGB": "200"})
    assert nested.oci == dotted.oci
    assert (nested.oci.availability_domains, nested.oci.launch_timeout, nested.oci.boot_volume_size_gb) == ((AD1, AD2), 300.0, 200)
    assert nested.oci.auth_method == "instance_principal" and nested.oci.call_timeout == 30.0
    with pytest.raises(ConfigError, match="oci.authMethod: invalid value 'password': expected one of 'instance_principal'"):
        config_from_mapping({"oci": {"authMethod": "password"}})
    with pytest.raises(ConfigError, match="oci.bootVolumeSizeGB: invalid value 10: must be at least 50"):
        config_from_mapping({"oci.bootVolumeSizeGB": 10})
    with pytest.raises(ConfigError, match=r"unknown configuration key 'oci.imageID' \(did you mean oci.imageId\?\)"):
        config_from_mapping({"oci.imageID": "x"})


def test_a_restarted_attempt_whose_node_has_no_instance_yet_waits_for_it_without_growing(server, provider):
    provider.launch(flex_request("r1"))
    (pool,) = pools(server)
    with server.state.lock:  # as if r2 grew the pool and the process died before its node had an instance
        pool["freeformTags"]["smart-autoscaler-request-r2"] = "00000000000001.000"
        pool["nodeConfigDetails"]["size"] = 2
        pool["nodes"].append(dict(pool["nodes"][0], id=None, name="oke-late", lifecycleState="CREATING"))
    threading.Timer(0.3, lambda: pool["nodes"][-1].update(id="ocid1.instance.oc1.iad.late")).start()
    restarted = create_provider(config=settings(server.endpoint), poll_interval=0.05)
    assert restarted.launch(flex_request("r2")).instance_id == "ocid1.instance.oc1.iad.late"
    assert pool["nodeConfigDetails"]["size"] == 2


def test_the_price_refresher_starts_with_the_first_live_catalog_call_and_stops_on_close(server):
    provider = create_provider(config=settings(server.endpoint, priceListURL="http://127.0.0.1:9/prices"))
    assert provider.prices._thread is None  # built only to check the configuration: no thread
    assert provider.live_catalog(CATALOG) is CATALOG  # nothing fetched yet: the embedded prices
    assert provider.prices._thread is not None
    provider.close()
    provider.prices._thread.join(timeout=5)
    assert not provider.prices._thread.is_alive()


def test_missing_api_key_credentials_are_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("OCI_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    config = settings("https://containerengine.us-ashburn-1.oci.oraclecloud.com", authMethod="api_key")
    with pytest.raises(ValueError, match=r"oci.authMethod api_key: no credentials: .* \(is profile DEFAULT in ~/.oci/config complete\?\)"):
        create_provider(config=config)


# ---- the planned availability domain


def test_a_launch_planned_for_one_ad_creates_its_node_there_even_when_the_first_ad_has_room(server, provider):
    request = LaunchRequest("z1", E5.instance_type(4, 32), "on-demand", ("US-ASHBURN-AD-3",), labels=LABELS)
    instance = provider.launch(request)
    assert instance.zone == "US-ASHBURN-AD-3"
    (pool,) = pools(server)
    placements = pool["nodeConfigDetails"]["placementConfigs"]
    assert [p["availabilityDomain"] for p in placements] == [AD3]


def test_a_launch_planned_for_an_ad_the_cluster_does_not_use_is_refused_not_moved(server):
    # the plan spread pods over ADs; a node in another AD would break the spread it was made for
    only_ad1 = create_provider(config=settings(server.endpoint, availabilityDomains=[AD1]), poll_interval=0.01)
    request = LaunchRequest("z2", E5.instance_type(4, 32), "on-demand", ("US-ASHBURN-AD-2",), labels=LABELS)
    with pytest.raises(ProviderError) as raised:
        only_ad1.launch(request)
    assert "US-ASHBURN-AD-2" in str(raised.value) and "US-ASHBURN-AD-1" in str(raised.value)
    assert pools(server) == []


# ---- the fake follows OCI's published contract


def _raw(server, method: str, path: str, body=None):
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.endpoint + path, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


GOOD_POOL = {
    "compartmentId": "ocid1.compartment.oc1..workers", "clusterId": "ocid1.cluster.oc1.iad.prod", "name": "p",
    "nodeShape": "VM.Standard.E5.Flex",
    "nodeConfigDetails": {"size": 0, "placementConfigs": [{"availabilityDomain": AD1, "subnetId": "ocid1.subnet.oc1.iad.w"}]},
}


@pytest.mark.parametrize(
    "change, complaint",
    [
        ({"nodeShapeName": "VM.Standard.E5.Flex"}, "unknown field 'nodeShapeName'"),  # a wrong field name
        ({"nodeConfigDetails": {"size": "1", "placementConfigs": []}}, "size: expected int"),  # a wrong type
        ({"freeformTags": {"smart-autoscaler.io/cluster": "prod"}}, "without periods"),  # a tag OCI refuses
        ({"initialNodeLabels": [{"key": "bad key!", "value": "x"}]}, "not a valid Kubernetes label key"),
        ({"nodeSourceDetails": {"sourceType": "IMAGE", "imageId": 7}}, "imageId: expected str"),
    ],
)
def test_the_oke_fake_refuses_what_the_oke_api_refuses(server, change, complaint):
    status, error = _raw(server, "POST", "/20180222/nodePools", {**GOOD_POOL, **change})
    assert status == 400 and error["code"] == "InvalidParameter" and complaint in error["message"]
    assert _raw(server, "POST", "/20180222/nodePools", GOOD_POOL)[0] == 202


def test_the_oke_fake_refuses_a_bad_delete_node_query(server):
    status, error = _raw(server, "DELETE", "/20180222/nodePools/p/node/n?overrideEvictionGraceDuration=PT90M")
    assert status == 400 and "PT0M..PT60M" in error["message"]
    status, error = _raw(server, "DELETE", "/20180222/nodePools/p/node/n?decrement=true")
    assert status == 400 and "unknown query parameter 'decrement'" in error["message"]
