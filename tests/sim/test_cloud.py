"""The simulated cloud (autoscaler.sim.cloud) and the provider registry."""

from __future__ import annotations

import json

import pytest

from autoscaler.clock import SimClock
from autoscaler.resources import Resources
from pricing.types import InstanceType, Taint
from providers.base import (
    TAG_CLUSTER,
    TAG_REQUEST,
    Instance,
    InsufficientCapacity,
    LaunchRequest,
    QuotaExceeded,
)
from providers.registry import create_provider
from autoscaler.sim.cloud import SimulatedProvider, node_manifest, node_name_for

GI = 2**30
M5 = InstanceType(
    "m5.xlarge", "m5", vcpu=4, memory_mib=16384, max_pods=58,
    capacity=Resources(4000, 16 * GI, 0, 58, 100 * GI),
    allocatable=Resources(3920, 15 * GI, 0, 58, 90 * GI),
)
G5 = InstanceType(
    "g5.xlarge", "g5", vcpu=4, memory_mib=16384, gpu_count=1, gpu_model="A10G", gpu_manufacturer="NVIDIA",
    capacity=Resources(4000, 16 * GI, 1, 58, 100 * GI),
    allocatable=Resources(3920, 15 * GI, 1, 58, 90 * GI),
)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def request(rid: str = "req-1", itype: InstanceType = M5, capacity: str = "on-demand", zones=ZONES, **kw):
    return LaunchRequest(rid, itype, capacity, zones, **kw)


class Recorder:
    def __init__(self) -> None:
        self.booted: list[tuple[Instance, LaunchRequest]] = []
        self.terminated: list[Instance] = []

    def boot(self, instance: Instance, req: LaunchRequest) -> None:
        self.booted.append((instance, req))

    def terminate(self, instance: Instance) -> None:
        self.terminated.append(instance)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(1_700_000_000.0)


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def cloud(clock, seen) -> SimulatedProvider:
    return SimulatedProvider(clock, "prod", on_boot=seen.boot, on_terminate=seen.terminate)


# ---- launch and boot


def test_launch_returns_a_pending_tagged_instance_in_the_first_zone(cloud, clock):
    instance = cloud.launch(request(tags={"team": "ml"}))
    assert instance.state == "pending"
    assert instance.zone == "us-east-1a"
    assert instance.provider_id == f"sim:///us-east-1a/{instance.instance_id}"
    assert (instance.instance_type, instance.capacity_type) == ("m5.xlarge", "on-demand")
    assert instance.launched_at == clock.now()
    assert instance.tags == {"team": "ml", TAG_REQUEST: "req-1", TAG_CLUSTER: "prod"}
    assert cloud.launch_calls == 1 and cloud.launched == [instance]


def test_instance_runs_after_60_seconds_and_on_boot_is_called_once(cloud, clock, seen):
    instance = cloud.launch(request())
    # given 59 s have passed, it is still booting
    clock.advance(59)
    cloud.tick()
    assert seen.booted == [] and cloud.list_instances()[0].state == "pending"
    # when the 60th second passes
    clock.advance(1)
    cloud.tick()
    cloud.tick()
    # then it is running and on_boot ran exactly once, with the request
    booted = [(i.instance_id, i.state, r.request_id) for i, r in seen.booted]
    assert booted == [(instance.instance_id, "running", "req-1")]
    assert cloud.list_instances()[0].state == "running"


def test_list_instances_boots_due_instances_too(cloud, clock, seen):
    cloud.launch(request())
    clock.advance(60)
    assert [i.state for i in cloud.list_instances()] == ["running"]
    assert len(seen.booted) == 1


def test_on_boot_failure_is_retried_on_the_next_tick(clock):
    attempts = []

    def flaky_boot(instance, req):
        attempts.append(instance.instance_id)
        if len(attempts) == 1:
            raise ConnectionError("API server unreachable")

    cloud = SimulatedProvider(clock, "prod", on_boot=flaky_boot)
    instance = cloud.launch(request())
    clock.advance(60)
    cloud.tick()
    assert cloud.instance(instance.instance_id).state == "pending"
    cloud.tick()
    assert cloud.instance(instance.instance_id).state == "running" and len(attempts) == 2


def test_same_request_id_gives_the_same_instance_and_launches_nothing_more(cloud):
    first = cloud.launch(request("req-7"))
    again = cloud.launch(request("req-7"))
    assert again == first
    assert cloud.launch_calls == 2 and len(cloud.launched) == 1 and len(cloud.list_instances()) == 1


def test_different_request_ids_give_different_instances(cloud):
    a, b = cloud.launch(request("req-1")), cloud.launch(request("req-2"))
    assert a.instance_id != b.instance_id


# ---- faults


def test_stockout_in_zone_a_falls_to_zone_b(cloud):
    cloud.inject_stockout("m5.xlarge", "on-demand", zone="us-east-1a")
    assert cloud.launch(request()).zone == "us-east-1b"


def test_stockout_of_spot_leaves_on_demand_alone(cloud):
    cloud.inject_stockout("m5.xlarge", "spot")
    assert cloud.launch(request(capacity="on-demand")).zone == "us-east-1a"


def test_every_zone_stocked_out_raises_insufficient_capacity(cloud):
    cloud.inject_stockout("m5.xlarge")  # every zone
    with pytest.raises(InsufficientCapacity) as failure:
        cloud.launch(request())
    assert failure.value.code == "InsufficientInstanceCapacity"
    assert failure.value.zone == ""  # every zone of the request
    assert cloud.launched == [] and cloud.list_instances() == []


def test_stockout_in_the_only_zone_names_that_zone(cloud):
    cloud.inject_stockout("m5.xlarge", zone="us-east-1c")
    with pytest.raises(InsufficientCapacity) as failure:
        cloud.launch(request(zones=("us-east-1c",)))
    assert failure.value.zone == "us-east-1c"


def test_stockout_ends_at_until(cloud, clock):
    cloud.inject_stockout("m5.xlarge", until=clock.now() + 300)
    clock.advance(299)
    with pytest.raises(InsufficientCapacity):
        cloud.launch(request("req-1"))
    clock.advance(1)
    assert cloud.launch(request("req-2")).zone == "us-east-1a"


def test_quota_on_a_family_fails_every_type_of_it(cloud):
    cloud.inject_quota("g5", "on-demand")
    with pytest.raises(QuotaExceeded) as failure:
        cloud.launch(request(itype=G5))
    assert failure.value.code == "VcpuLimitExceeded"
    assert cloud.launch(request("req-2", itype=M5)).state == "pending"
    assert cloud.launch(request("req-3", itype=G5, capacity="spot")).state == "pending"


def test_quota_on_a_type(cloud):
    cloud.inject_quota("m5.xlarge", "on-demand")
    with pytest.raises(QuotaExceeded):
        cloud.launch(request())


def test_slow_launch_boots_after_its_own_delay(cloud, clock, seen):
    cloud.inject_slow_launch("m5.xlarge", 600)
    cloud.launch(request())
    clock.advance(599)
    cloud.tick()
    assert seen.booted == []
    clock.advance(1)
    cloud.tick()
    assert len(seen.booted) == 1


def test_never_boots_stays_pending(cloud, clock, seen):
    cloud.inject_never_boots("m5.xlarge")
    cloud.launch(request())
    clock.advance(86_400)
    assert [i.state for i in cloud.list_instances()] == ["pending"]
    assert seen.booted == []


def test_clear_faults(cloud):
    cloud.inject_stockout("m5.xlarge")
    cloud.inject_quota("m5", "on-demand")
    cloud.clear_faults()
    assert cloud.launch(request()).zone == "us-east-1a"


# ---- terminate and list


def test_terminate_calls_on_terminate_once(cloud, clock, seen):
    instance = cloud.launch(request())
    clock.advance(60)
    cloud.terminate(instance.instance_id)
    cloud.terminate(instance.instance_id)  # already gone: no-op
    cloud.terminate("i-unknown")  # never existed: no-op
    assert [(i.instance_id, i.state) for i in seen.terminated] == [(instance.instance_id, "terminated")]
    assert cloud.list_instances() == []


def test_terminated_pending_instance_never_boots(cloud, clock, seen):
    instance = cloud.launch(request())
    cloud.terminate(instance.instance_id)
    clock.advance(60)
    cloud.tick()
    assert seen.booted == []


def test_list_instances_shows_only_this_clusters_live_instances(cloud):
    mine = cloud.launch(request("req-1"))
    gone = cloud.launch(request("req-2"))
    cloud.terminate(gone.instance_id)
    cloud.add_instance(
        Instance("i-other", "sim:///us-east-1a/i-other", "m5.xlarge", "on-demand", "us-east-1a", "running", 0.0,
                 tags={TAG_CLUSTER: "staging"})
    )
    assert [i.instance_id for i in cloud.list_instances()] == [mine.instance_id]


# ---- state file


def test_state_file_survives_a_restart(tmp_path, clock):
    path = str(tmp_path / "cloud.json")
    # given a daemon that launched an instance and was killed before it registered
    before = SimulatedProvider(clock, "prod", state_file=path)
    original = request("req-1", taints=(Taint("gpu", "true"),), labels={"team": "ml"})
    launched = before.launch(original)
    before.inject_stockout("m5.xlarge", zone="us-east-1a")
    # when a new process opens the same simulated cloud
    booted = []
    after = SimulatedProvider(clock, "prod", state_file=path, on_boot=lambda i, r: booted.append((i, r)))
    # then it sees the same instance, and the request id is still idempotent
    assert after.list_instances() == [launched]
    assert after.launch(request("req-1")) == launched and after.launched == []
    # and the instance boots in the new process with its original request
    clock.advance(60)
    after.tick()
    assert [(i.instance_id, i.state, r) for i, r in booted] == [(launched.instance_id, "running", original)]
    # and new ids do not collide; the injected stock-out is still there
    second = after.launch(request("req-2"))
    assert second.instance_id != launched.instance_id and second.zone == "us-east-1b"


def test_state_file_is_json_written_atomically(tmp_path, clock):
    path = tmp_path / "cloud.json"
    SimulatedProvider(clock, "prod", state_file=str(path)).launch(request())
    state = json.loads(path.read_text())
    assert state["requests"] == {"req-1": "i-00000001"}
    assert [p.name for p in tmp_path.iterdir()] == ["cloud.json"]  # no temp file left behind


# ---- the Node kwok keeps alive


def test_node_name_is_dns_safe():
    instance = Instance("i-0ABC_def", "sim:///z/i-0ABC_def", "m5.xlarge", "on-demand", "z", "running", 0.0)
    assert node_name_for(instance) == "sim-i-0abc-def"


def test_node_manifest_is_what_a_kubelet_would_register(cloud):
    req = request(itype=G5, zones=("us-east-1b",), labels={"smart-autoscaler.io/node-type": "bin-select",
                                                           "topology.kubernetes.io/zone": ""},
                  taints=(Taint("nvidia.com/gpu", "", "NoSchedule"),))
    instance = cloud.launch(req)
    node = node_manifest(instance, req, "sim-i-00000001")
    assert node["metadata"]["name"] == "sim-i-00000001"
    assert node["metadata"]["annotations"] == {
        "kwok.x-k8s.io/node": "fake",
        "node.alpha.kubernetes.io/ttl": "0",
        # where kwok serves this kubelet's resource metrics (for metrics-server)
        "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{node['metadata']['name']}/metrics/resource",
    }
    assert node["metadata"]["labels"] == {
        "smart-autoscaler.io/node-type": "bin-select",
        "kubernetes.io/hostname": "sim-i-00000001",
        "node.kubernetes.io/instance-type": "g5.xlarge",
        "topology.kubernetes.io/zone": "us-east-1b",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
    }
    assert node["spec"] == {
        "providerID": f"sim:///us-east-1b/{instance.instance_id}",
        "taints": [{"key": "nvidia.com/gpu", "value": "", "effect": "NoSchedule"}],
    }
    status = node["status"]
    assert status["capacity"] == {
        "cpu": "4000m", "memory": str(16 * GI), "pods": "58", "nvidia.com/gpu": "1", "ephemeral-storage": str(100 * GI)
    }
    assert status["allocatable"]["cpu"] == "3920m" and status["allocatable"]["memory"] == str(15 * GI)
    assert status["nodeInfo"]["architecture"] == "amd64" and status["nodeInfo"]["operatingSystem"] == "linux"
    assert "conditions" not in status


def test_node_manifest_without_gpu_or_taints(cloud):
    instance = cloud.launch(request())
    node = node_manifest(instance, request(), "n1")
    assert "nvidia.com/gpu" not in node["status"]["capacity"]
    assert "taints" not in node["spec"]


# ---- registry


def test_registry_builds_the_simulated_provider(clock):
    provider = create_provider("simulated", clock=clock, cluster_id="prod")
    assert isinstance(provider, SimulatedProvider) and provider.cluster_id == "prod"


def test_registry_rejects_an_unknown_name():
    known = "known providers: simulated, aws, gcp, azure, oci"
    with pytest.raises(ValueError, match=rf"unknown provider 'nimbus'; {known}"):
        create_provider("nimbus")


def test_registry_says_when_a_cloud_module_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "providers.oci", None)  # as if providers/oci.py did not exist
    with pytest.raises(ValueError, match=r"provider 'oci' is not available: "):
        create_provider("oci")


def test_registry_loads_third_party_providers_from_entry_points(monkeypatch, clock):
    from importlib.metadata import EntryPoint

    import providers.registry as registry

    plugin = EntryPoint("nimbus", "autoscaler.sim.cloud:SimulatedProvider", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == registry.ENTRY_POINT_GROUP else [])
    assert "nimbus" in registry.available_providers()
    assert isinstance(create_provider("nimbus", clock=clock, cluster_id="c"), SimulatedProvider)


def test_state_file_keeps_instances_added_by_hand(tmp_path, clock):
    path = str(tmp_path / "cloud.json")
    other = Instance("i-other", "sim:///us-east-1a/i-other", "m5.xlarge", "on-demand", "us-east-1a", "running", 0.0,
                     tags={TAG_CLUSTER: "prod"})
    SimulatedProvider(clock, "prod", state_file=path).add_instance(other)
    assert SimulatedProvider(clock, "prod", state_file=path).list_instances() == [other]
