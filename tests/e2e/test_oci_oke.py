"""OKE end to end: `smart-autoscaler run --provider oci` on the real control plane, its `oci` SDK
pointed at a local server answering OKE's API (tests/providers/oke_server.py), and the shared
registrar (tests/e2e/registrar.py) playing OKE's workers from `oke_machines`
(tests/e2e/oke_cloud.py: providerID the bare instance OCID, as OKE registers it, OKE's labels and taints,
allocatable after OKE's reservation).
"""

from __future__ import annotations

import sys

import pytest

from tests.e2e.daemon_helpers import (
    INSTANCE_TYPE_LABEL,
    LEASE_NAME,
    BASE_CONFIG,
    Daemon,
    daemon_cluster_rules,
    dump_config,
    free_port,
    managed_deployment,
    pods_of,
    running,
)
from tests.e2e.oke_cloud import oke_machines
from tests.e2e.registrar import Registrar
from tests.providers.oke_server import OkeServer

pytest.importorskip("oci")
pytestmark = pytest.mark.e2e

LOOP = 2.0
ADS = ("Uocm:US-ASHBURN-AD-1", "Uocm:US-ASHBURN-AD-2", "Uocm:US-ASHBURN-AD-3")
ZONE = "topology.kubernetes.io/zone"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}  # as ExtendedResourceToleration adds


@pytest.fixture
def oke(autoscaler, core_v1):
    """(env, server, start): the OKE API on loopback, its registrar, and a daemon starter."""
    with OkeServer() as server:
        registrars: list[Registrar] = []

        def start(config: dict | None = None, time_slices: int = 1) -> Daemon:
            registrars.append(Registrar(core_v1, lambda: oke_machines(server.state, time_slices=time_slices)).start())
            grant = autoscaler.grant(cluster_rules=daemon_cluster_rules(simulated=False))
            options = {
                **BASE_CONFIG,
                "cloud": "oci",
                "region": "us-ashburn-1",
                "clusterName": "e2e-oke",
                "oci": {
                    "compartmentId": "ocid1.compartment.oc1..workers",
                    "clusterId": "ocid1.cluster.oc1.iad.e2e",
                    "subnetId": "ocid1.subnet.oc1.iad.workers",
                    "imageId": "ocid1.image.oc1.iad.oke-x86",
                    "imageIdGpu": "ocid1.image.oc1.iad.oke-gpu",
                    "serviceEndpoint": server.endpoint,
                    "authMethod": "none",
                    "priceListURL": "",
                    "callTimeout": "5s",
                    "launchTimeout": "20s",
                },
                **(config or {}),
            }
            port = free_port()
            argv = [
                sys.executable, "-m", "autoscaler", "run", "--provider", "oci",
                "--config", str(dump_config(autoscaler.workdir / "oke.config.yaml", options)),
                "--kubeconfig", str(grant.kubeconfig), "--metrics-address", f"127.0.0.1:{port}",
                "--lease-namespace", autoscaler.namespace, "--lease-name", LEASE_NAME,
            ]
            daemon = Daemon("oke-daemon", argv, autoscaler.workdir / "oke-daemon.log", port)
            autoscaler.daemons.append(daemon)
            daemon.start().wait_healthy()
            return daemon

        try:
            yield autoscaler, server, start
        finally:
            for daemon in autoscaler.daemons:
                daemon.stop()
            for registrar in registrars:
                registrar.stop()


def _deploy(env, apps_v1, core_v1, name: str, replicas: int, cpu: str, memory: str, timeout: float = 60.0, **spec):
    apps_v1.create_namespaced_deployment(env.namespace, managed_deployment(name, replicas, cpu, memory, **spec))
    return env.wait(lambda: len(p := running(pods_of(core_v1, env.namespace, name))) == replicas and p,
                    timeout, f"{replicas} pods of {name} Running")


def _pool_of(server, node):
    instance = node.spec.provider_id
    return next(p for p in server.state.pools.values() if any(n.get("id") == instance for n in p["nodes"]))


def test_a_4_cpu_24_gib_pod_gets_a_flex_node_sized_to_it_and_scale_down_removes_node_and_pool(oke, apps_v1, core_v1):
    env, server, start = oke
    start({"scaleDown.nodeUnneededDuration": "4s"})
    (pod,) = _deploy(env, apps_v1, core_v1, "api", 1, "4", "24Gi")
    (node,) = env.managed_nodes()
    assert pod.spec.node_name == node.metadata.name
    assert node.spec.provider_id.startswith("ocid1.instance.oc1.iad.")  # bare, as OKE registers it
    assert node.metadata.labels[INSTANCE_TYPE_LABEL] == "VM.Standard.E4.Flex"
    assert node.metadata.labels[ZONE] == "US-ASHBURN-AD-1"
    pool = _pool_of(server, node)
    # 3 OCPU (6 vCPU) and 28 GB: the smallest E4 size whose allocatable holds 4 CPU and 24 GiB
    assert pool["nodeShapeConfig"] == {"ocpus": 3.0, "memoryInGBs": 28.0}
    assert node.status.allocatable["cpu"] == "5915m"
    assert pool["freeformTags"]["smart-autoscaler-cluster"] == "e2e-oke"

    # Scale to 0: the node is drained by the autoscaler, OKE deletes that named node without a
    # drain of its own (grace PT0M, forced), and the empty pool goes.
    apps_v1.patch_namespaced_deployment_scale("api", env.namespace, {"spec": {"replicas": 0}})
    env.wait(lambda: not env.managed_nodes(), 40, f"node {node.metadata.name} removed")
    deleted = [(path, query) for operation, path, query in server.state.calls if operation == "DeleteNode"]
    assert deleted == [(f"/20180222/nodePools/{pool['id']}/node/{node.spec.provider_id}",
                        {"isDecrementSize": "true", "overrideEvictionGraceDuration": "PT0M",
                         "isForceDeletionAfterOverrideGraceDuration": "true"})]
    env.wait(lambda: pool["lifecycleState"] == "DELETED", 10, "the idle node pool deleted")


def test_out_of_host_capacity_goes_to_the_next_ad_and_shape_in_the_same_loop(oke, apps_v1, core_v1):
    env, server, start = oke
    for ad in ADS:
        server.state.out_of_capacity.add(("VM.Standard.E4.Flex", ad))  # the cheapest shape: no host anywhere
    for shape in ("VM.Standard.E5.Flex", "VM.Standard.E6.Flex"):
        server.state.out_of_capacity.add((shape, ADS[0]))  # the next ones: none in AD-1
    start()
    (pod,) = _deploy(env, apps_v1, core_v1, "api", 1, "4", "24Gi")
    (node,) = env.managed_nodes()
    shape = node.metadata.labels[INSTANCE_TYPE_LABEL]
    assert shape in ("VM.Standard.E5.Flex", "VM.Standard.E6.Flex")
    assert node.metadata.labels[ZONE] == "US-ASHBURN-AD-2"
    creates = [(b["nodeShape"], b["nodeConfigDetails"]["placementConfigs"][0]["availabilityDomain"])
               for b in server.state.operations("CreateNodePool")]
    assert creates == [("VM.Standard.E4.Flex", ad) for ad in ADS] + [(shape, ADS[0]), (shape, ADS[1])]
    # every AD, then the next shape, without waiting for another loop
    times = [at for operation, at in server.state.call_times if operation == "CreateNodePool"]
    assert times[-1] - times[0] < LOOP
    assert [p for p in server.state.pools.values() if p["lifecycleState"] != "DELETED"] == [_pool_of(server, node)]


def test_time_sliced_p100_holds_two_one_gpu_pods(oke, apps_v1, core_v1):
    """Luna's OKE example: VM.GPU2.1 (1 x P100) with nvidiaGPUTimeSlices: 2 for two 1-GPU pods."""
    env, server, start = oke
    start({"nvidiaGPUTimeSlices": 2}, time_slices=2)
    apps_v1.create_namespaced_deployment(env.namespace, _gpu_deployment("gpu-test", 2))
    pods = env.wait(lambda: len(p := running(pods_of(core_v1, env.namespace, "gpu-test"))) == 2 and p, 60,
                    "2 GPU pods Running")
    (node,) = env.managed_nodes()
    assert {p.spec.node_name for p in pods} == {node.metadata.name}
    assert node.metadata.labels[INSTANCE_TYPE_LABEL] == "VM.GPU2.1"
    assert node.status.allocatable["nvidia.com/gpu"] == "2"
    assert ("nvidia.com/gpu", "NoSchedule") in {(t.key, t.effect) for t in node.spec.taints or []}  # OKE's
    (pool,) = [p for p in server.state.pools.values() if p["lifecycleState"] != "DELETED"]
    assert pool["nodeSourceDetails"]["imageId"] == "ocid1.image.oc1.iad.oke-gpu"


def _gpu_deployment(name: str, replicas: int) -> dict:
    deployment = managed_deployment(name, replicas, "1", "2Gi", tolerations=[GPU_TOLERATION])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"] = {"nvidia.com/gpu": "1"}
    return deployment
