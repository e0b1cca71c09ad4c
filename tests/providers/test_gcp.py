"""The GCP provider at the SDKs' REST transport, against a local server answering as GKE,
Compute Engine and the Cloud Billing Catalog do (tests/providers/gcp_fake.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("google.cloud.compute_v1")
pytest.importorskip("google.cloud.container_v1")

from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.nodelabels import node_labels  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from pricing.types import ON_DEMAND, SPOT  # noqa: E402
from providers.base import (  # noqa: E402
    FailureKind,
    InsufficientCapacity,
    LaunchRequest,
    LaunchTimeout,
    ProviderError,
    QuotaExceeded,
    Throttled,
)
from providers.gcp import create_provider  # noqa: E402
from tests.providers.gcp_fake import FakeGcp, Stockout, quota_error, sku  # noqa: E402

REGION = "us-central1"
A, B = "us-central1-a", "us-central1-b"
T4_TYPE = "n1-standard-4+1xnvidia-tesla-t4"


@pytest.fixture
def gcp():
    fake = FakeGcp(project="proj", location=REGION, cluster="c1")
    for machine in ("n1-standard-4", "n1-standard-8", "n2-standard-4", "g2-standard-4", "e2-standard-4"):
        fake.zones[machine] = [A, B]
    fake.accelerator_zones["nvidia-tesla-t4"] = [A, B]
    fake.endpoint = fake.start()
    yield fake
    fake.stop()


def make_provider(fake: FakeGcp, **options):
    values = {
        "cloud": "gcp",
        "region": REGION,
        "clusterName": "c1",
        "scaleUpTimeout": options.pop("scaleUpTimeout", "30s"),
        "gcp": {"project": "proj", "apiEndpoint": fake.endpoint, "pollInterval": "0.01", "callTimeout": "5s", **options},
    }
    return create_provider(config=config_from_mapping(values), start_prices=False)


def itype(name: str):
    return next(o.instance_type for o in region_catalog("gcp", REGION).offerings if o.instance_type.name == name)


def request(name: str, capacity: str = ON_DEMAND, key: str = "req-1", zones=(REGION,), role: str = "bin-select", slices: int | None = None):
    t = itype(name)
    labels = node_labels("gcp", REGION, t, capacity, "", role, {}, slices)
    taints = tuple(o.taints for o in region_catalog("gcp", REGION).offerings if o.instance_type.name == name)[0]
    return LaunchRequest(request_id=key, instance_type=t, capacity_type=capacity, zones=tuple(zones), labels=labels, taints=taints)


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


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"])
@pytest.mark.parametrize("where", ["lastAttempt", "operation"])
def test_a_stocked_out_zone_is_skipped_and_its_retrying_instance_cancelled(gcp, code, where):
    gcp.stockouts.append(Stockout("n1-standard-8", zone=A, code=code, where=where))
    provider = make_provider(gcp)

    instance = provider.launch(request("n1-standard-8"))

    assert instance.zone == B
    assert [(vm.zone, vm.current_action) for vm in gcp.instances()] == [(B, "NONE")]


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"])
def test_stock_out_in_every_zone_is_insufficient_capacity_for_that_offering_per_zone(gcp, code):
    gcp.stockouts.append(Stockout("n1-standard-8", spot=True, code=code))
    provider = make_provider(gcp)

    with pytest.raises(InsufficientCapacity) as failure:
        provider.launch(request("n1-standard-8", capacity=SPOT))

    assert failure.value.kind == FailureKind.INSUFFICIENT_CAPACITY and failure.value.code == code
    scopes = failure.value.scopes
    assert [(s.instance_types, s.capacity_type, s.zone) for s in scopes] == [
        (frozenset({"n1-standard-8"}), SPOT, A),
        (frozenset({"n1-standard-8"}), SPOT, B),
        (frozenset({"n1-standard-8"}), SPOT, REGION),  # the regional offering the request named
    ]
    assert scopes[0].covers("n1-standard-8", SPOT, A) and not scopes[0].covers("n1-standard-8", ON_DEMAND, A)
    assert gcp.instances() == []  # nothing left retrying


def test_gpu_quota_backs_off_every_type_with_that_gpu_in_the_region(gcp):
    gcp.quota_errors.append(("n1-standard-4", quota_error("NVIDIA_T4_GPUS")))
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(T4_TYPE))

    [scope] = failure.value.scopes
    assert scope.zone is None and scope.capacity_type is None
    assert T4_TYPE in scope.instance_types and "n1-standard-8+2xnvidia-tesla-t4" in scope.instance_types
    assert "g2-standard-4" not in scope.instance_types and "n1-standard-4" not in scope.instance_types
    assert "NVIDIA_T4_GPUS" in scope.label
    assert gcp.instances() == []


@pytest.mark.parametrize(
    "metric, covered, not_covered, capacity",
    [
        ("PREEMPTIBLE_NVIDIA_T4_GPUS", T4_TYPE, "g2-standard-4", SPOT),
        ("N2_CPUS", "n2-standard-8", "n1-standard-8", None),
        ("CPUS", "e2-standard-8", "n2-standard-8", None),
    ],
)
def test_a_quota_covers_what_its_metric_counts(gcp, metric, covered, not_covered, capacity):
    machine = {"N2_CPUS": "n2-standard-4"}.get(metric, "n1-standard-4")
    name = {"N2_CPUS": "n2-standard-4", "CPUS": "n1-standard-4"}.get(metric, T4_TYPE)
    gcp.quota_errors.append((machine, quota_error(metric)))
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(name, capacity=capacity or ON_DEMAND))

    [scope] = failure.value.scopes
    assert scope.capacity_type == capacity and scope.zone is None
    assert covered in scope.instance_types and not_covered not in scope.instance_types


def test_rate_limited_api_is_throttled(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 1

    with pytest.raises(Throttled) as failure:
        provider.launch(request("n1-standard-4"))

    assert failure.value.kind == FailureKind.THROTTLED and failure.value.code == "rateLimitExceeded"


def test_an_instance_stuck_creating_past_scale_up_timeout_is_a_timeout_and_is_cancelled(gcp):
    gcp.stuck_creating.add("n1-standard-4")
    provider = make_provider(gcp, scaleUpTimeout="0.3s")

    with pytest.raises(LaunchTimeout) as failure:
        provider.launch(request("n1-standard-4", zones=(A,)))

    assert failure.value.kind == FailureKind.LAUNCH_TIMEOUT and failure.value.zone == A
    assert gcp.instances() == []


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


def test_live_prices_per_region_and_zones_per_machine_type(gcp):
    gcp.zones["n1-standard-4"] = [B]
    gcp.skus = [
        sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION, "us-east1"], 0.04),
        sku("N1 Predefined Instance Ram running in Americas", "OnDemand", [REGION, "us-east1"], 0.005, "GiBy.h"),
        sku("Spot Preemptible N1 Predefined Instance Core running in Americas", "Preemptible", [REGION], 0.01),
        sku("Spot Preemptible N1 Predefined Instance Ram running in Americas", "Preemptible", [REGION], 0.001, "GiBy.h"),
        sku("N1 Predefined Instance Core running in Belgium", "OnDemand", ["europe-west1"], 0.9),
        sku("Commitment v1: Cpu in Americas for 1 Year", "Commit1Yr", [REGION], 0.001),
        sku("Nvidia Tesla T4 GPU running in Americas", "OnDemand", [REGION], 0.30),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    offerings = [o for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name in ("n1-standard-4", T4_TYPE)]

    by_key = {(o.instance_type.name, o.capacity_type, o.zone): o for o in offerings}
    assert set(by_key) == {("n1-standard-4", c, B) for c in (ON_DEMAND, SPOT)} | {(T4_TYPE, c, B) for c in (ON_DEMAND, SPOT)}
    assert by_key[("n1-standard-4", ON_DEMAND, B)].price == pytest.approx(4 * 0.04 + 15 * 0.005)
    assert by_key[("n1-standard-4", SPOT, B)].price == pytest.approx(4 * 0.01 + 15 * 0.001)
    assert by_key[("n1-standard-4", ON_DEMAND, B)].price_estimated is False
    assert by_key[(T4_TYPE, ON_DEMAND, B)].price == pytest.approx(4 * 0.04 + 15 * 0.005 + 0.30)
    assert by_key[(T4_TYPE, SPOT, B)].price == 0.15  # no spot T4 SKU: the embedded figure stays


def test_a_failed_price_refresh_keeps_the_embedded_catalog(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 10

    assert provider.prices.refresh() is False
    assert provider.live_catalog(provider.embedded) is provider.embedded
    assert provider.price_ages() == {"gcp-zones": -1.0, "gcp-billing": -1.0}


def test_live_figures_are_built_once_until_they_change_and_their_age_is_told(gcp):
    gcp.skus = [
        sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION], 0.04),
        sku("N1 Predefined Instance Ram running in Americas", "OnDemand", [REGION], 0.005, "GiBy.h"),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    first = provider.live_catalog(provider.embedded)
    assert provider.live_catalog(provider.embedded) is first  # the loop re-indexes prices only on change
    assert all(0 <= age < 60 for age in provider.price_ages().values())
    spot = next(o for o in first.offerings if o.instance_type.name == "n1-standard-4" and o.capacity_type == SPOT)
    embedded = next(o for o in provider.embedded.offerings if o.instance_type.name == "n1-standard-4" and o.capacity_type == SPOT)
    assert spot.price == embedded.price  # the embedded preemptible figure: the catalog listed no spot SKU
    provider.prices.refresh()
    assert provider.live_catalog(provider.embedded) is not first


def test_concurrent_launches_for_a_new_offering_create_its_pool_once(gcp):
    from concurrent.futures import ThreadPoolExecutor

    provider = make_provider(gcp)
    with ThreadPoolExecutor(max_workers=6) as pool:
        instances = list(pool.map(lambda n: provider.launch(request("n1-standard-4", key=f"k{n}")), range(6)))

    assert len({i.instance_id for i in instances}) == 6 and len(gcp.instances()) == 6
    assert gcp.count(r"POST .*/nodePools$") == 1 and len(gcp.pools) == 1


def test_a_pool_gke_cannot_create_is_a_typed_failure_naming_gkes_reason(gcp):
    gcp.pool_create_error = (
        "Insufficient regional quota to satisfy request: resource \"NVIDIA_T4_GPUS\": request requires '1.0' and is short '1.0'."
    )
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(T4_TYPE))

    assert "NVIDIA_T4_GPUS" in str(failure.value)
    assert T4_TYPE in failure.value.scopes[0].instance_types and "n1-standard-4" not in failure.value.scopes[0].instance_types


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


def test_gke_busy_with_another_operation_is_throttled_not_a_broken_offering(gcp):
    gcp.pool_create_error = "Operation operation-123 is currently upgrading cluster c1. Please wait and try again once it is done."
    provider = make_provider(gcp)

    with pytest.raises(Throttled):
        provider.launch(request("n1-standard-4"))


def test_pools_someone_else_made_are_not_listed_or_touched(gcp):
    gcp.pools["sa-team-pool"] = {
        "name": "sa-team-pool", "status": "RUNNING", "locations": [A], "config": {"machineType": "n1-standard-4", "labels": {"team": "ml"}},
        "instanceGroupUrls": [f"https://www.googleapis.com/compute/v1/projects/proj/zones/{A}/instanceGroupManagers/gke-c1-sa-team-pool-grp"],
    }
    gcp.migs["gke-c1-sa-team-pool-grp"] = {"zone": A, "pool": "sa-team-pool", "instances": {}}
    provider = make_provider(gcp, poolIdleTime="0s")

    assert provider.list_instances() == []
    assert "sa-team-pool" in gcp.pools  # empty, but not ours to delete


def test_listing_while_throttled_is_a_throttled_failure(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 1

    with pytest.raises(Throttled):
        provider.list_instances()


def test_a_machine_type_the_embedded_catalog_lacks_is_offered_when_compute_engine_lists_it_and_billing_prices_it(gcp):
    gcp.zones["a3-highgpu-8g"] = [B]
    gcp.machine_specs["a3-highgpu-8g"] = {
        "guestCpus": 208, "memoryMb": 1872 * 1024, "isSharedCpu": False,
        "accelerators": [{"guestAcceleratorType": "nvidia-h100-80gb", "guestAcceleratorCount": 8}],
    }
    gcp.skus = [
        sku("A3 Instance Core running in Americas", "OnDemand", [REGION], 0.0291),
        sku("A3 Instance Ram running in Americas", "OnDemand", [REGION], 0.0025, "GiBy.h"),
        sku("Nvidia H100 80GB GPU running in Americas", "OnDemand", [REGION], 9.80),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    a3 = [o for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name == "a3-highgpu-8g"]

    assert {(o.capacity_type, o.zone) for o in a3} == {(ON_DEMAND, B), (SPOT, B)}
    on_demand = next(o for o in a3 if o.capacity_type == ON_DEMAND)
    assert on_demand.price == pytest.approx(208 * 0.0291 + 1872 * 0.0025 + 8 * 9.80)
    assert (on_demand.instance_type.gpu_count, on_demand.instance_type.gpu_model) == (8, "H100")
    assert on_demand.taints and on_demand.taints[0].key == "nvidia.com/gpu"


def test_only_zones_the_cluster_uses_get_pools(gcp):
    gcp.cluster_locations = [B, "us-central1-c"]
    provider = make_provider(gcp)

    assert provider.launch(request("n1-standard-4")).zone == B
    gcp.cluster_locations = ["us-central1-c"]
    with pytest.raises(Exception, match="no zone of us-central1 that the cluster"):
        make_provider(gcp).launch(request("n1-standard-4", key="other"))


def test_an_api_that_never_answers_is_a_failure_of_that_call_not_a_hang():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        fake = FakeGcp()
        fake.endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        provider = make_provider(fake, callTimeout="0.3s")
        with pytest.raises(ProviderError, match="timed out"):
            provider.list_instances()
    finally:
        silent.close()
