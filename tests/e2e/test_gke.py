"""The daemon with `--provider gcp` against a local GKE/Compute Engine server, on the real
control plane: MIG instances the provider creates become kwok Nodes as GKE would register them
(tests/e2e/gke_nodes.py), and deleted instances lose their Node.

Numbers: loopPeriod 2s, cloud gcp / us-central1, nvidiaGPUTimeSlices 2. Two pods asking for one
`nvidia.com/gpu` each, with GKE's time-sharing selectors, fit one T4 shared by two clients. The
cheapest such node, n1-standard-2 + 1 T4 ($0.445/h), is stocked out in every zone, so the next
offering, n1-highmem-2 + 1 T4 ($0.4684/h), is launched in the same loop.
"""

from __future__ import annotations


import pytest

pytest.importorskip("google.cloud.compute_v1")
pytest.importorskip("google.cloud.container_v1")

from pricing.catalog import region_catalog  # noqa: E402
from tests.e2e.daemon_helpers import (  # noqa: E402
    BASE_CONFIG,
    Daemon,
    managed_deployment,
    pods_of,
    running,
    wait_for,
)
from tests.e2e.gke_nodes import gke_machines  # noqa: E402
from tests.gcp_fake import FakeGcp, Stockout  # noqa: E402

pytestmark = pytest.mark.e2e

PROJECT, REGION, CLUSTER = "e2e-project", "us-central1", "e2e-gke"
ZONES = ["us-central1-a", "us-central1-b"]
CHEAPEST = "n1-standard-2+1xnvidia-tesla-t4"  # $0.445/h, stocked out
NEXT_MACHINE = "n1-highmem-2"  # n1-highmem-2 + 1 T4: $0.4684/h
LOOP = 2.0
SHARING = {"cloud.google.com/gke-gpu-sharing-strategy": "time-sharing", "cloud.google.com/gke-max-shared-clients-per-gpu": "2"}


class GkeEnv:
    """The fake GKE/Compute Engine server, the registrar playing its kubelets, and the daemon
    with --provider gcp pointed at the server (gcp.apiEndpoint, no credentials over http)."""

    def __init__(self, env, core_v1) -> None:
        from tests.e2e.registrar import Registrar

        self.env = env
        self.fake = FakeGcp(PROJECT, REGION, CLUSTER)
        # The VM exists when the launch answers (STAGING); its kubelet registers once it runs.
        self.fake.boot_seconds = 1.0
        for offering in region_catalog("gcp", REGION).offerings:
            itype = offering.instance_type
            self.fake.zones[itype.machine_type or itype.name] = ZONES
            if itype.accelerator:
                self.fake.accelerator_zones[itype.accelerator.cloud_name] = ZONES
        self.endpoint = self.fake.start()
        self.registrar = Registrar(core_v1, lambda: gke_machines(self.fake, REGION)).start()

    def start(self, config: dict) -> Daemon:
        return self.env.start_cloud("gcp", {
            **BASE_CONFIG, "cloud": "gcp", "region": REGION, "clusterName": CLUSTER,
            "gcp": {"project": PROJECT, "apiEndpoint": self.endpoint, "pollInterval": "0.05", "livePrices": False},
            **config,
        })

    def close(self) -> None:
        for daemon in self.env.daemons:
            daemon.stop()
        self.registrar.stop()
        self.fake.stop()
        with self.fake._lock:
            self.fake.migs.clear()
        self.registrar.sync()  # their Nodes go, as GKE would do


@pytest.fixture
def gke(autoscaler, core_v1):
    env = GkeEnv(autoscaler, core_v1)
    try:
        yield env
    finally:
        env.close()


def gpu_deployment(name: str, replicas: int) -> dict:
    """Pods of one set asking for one GPU each, with GKE's time-sharing selectors."""
    deployment = managed_deployment(
        name, replicas, "100m", nodeSelector=dict(SHARING),
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    [main] = deployment["spec"]["template"]["spec"]["containers"]
    main["resources"]["requests"]["nvidia.com/gpu"] = "1"
    main["resources"]["limits"] = {"nvidia.com/gpu": "1"}
    return deployment


def _logged_at(log: str, text: str) -> float:
    """Seconds of the day of the first daemon log line containing `text`."""
    line = next(line for line in log.splitlines() if text in line)
    hours, minutes, seconds = line.split(" ")[1].replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_time_shared_gpu_pods_share_one_node_of_the_next_offering_after_a_stock_out_then_it_is_removed(
    gke, core_v1, apps_v1, namespace
):
    fake = gke.fake
    fake.stockouts.append(Stockout("n1-standard-2"))  # the cheapest T4 node, in every zone
    daemon = gke.start({"nvidiaGPUTimeSlices": 2, "scaleDown.nodeUnneededDuration": "5s"})

    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 1, "1"))
    apps_v1.create_namespaced_deployment(namespace, gpu_deployment("shared-gpu", 2))
    pods = wait_for(lambda: len(p := running(pods_of(core_v1, namespace, "shared-gpu"))) == 2 and p, 90,
                    "both GPU pods Running", check=daemon.check_alive)
    [web] = wait_for(lambda: running(pods_of(core_v1, namespace, "web")), 30, "the web pod Running", check=daemon.check_alive)

    # one node of the next offering, from the one GPU pool, made with GKE's GPU sharing config
    [node_name] = {p.spec.node_name for p in pods}
    [instance] = [i for i in fake.instances() if i.name == node_name]
    assert len(fake.instances()) == 2  # the GPU node and the web node: the stocked-out attempts were cancelled
    assert instance.machine_type == NEXT_MACHINE
    node = core_v1.read_node(node_name)
    assert node.spec.provider_id == f"gce://{PROJECT}/{instance.zone}/{node_name}"
    assert node.metadata.labels["cloud.google.com/gke-nodepool"] == instance.pool
    [gpu_pool] = [p for p in fake.pools.values() if p["config"].get("accelerators") and fake.migs_of(p["name"])]
    assert gpu_pool["name"] == instance.pool
    [accelerator] = gpu_pool["config"]["accelerators"]
    assert accelerator["acceleratorType"] == "nvidia-tesla-t4"
    assert accelerator["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": "2"}
    # the stock-out was met and the next offering launched in the same loop
    log = daemon.log_text()
    failed_at = _logged_at(log, f"launch-failed: launch of {CHEAPEST}")
    launched_at = _logged_at(log, f"launch: launched {instance.name}")
    assert 0 <= launched_at - failed_at < LOOP

    # scale-down removes exactly that named instance from its MIG, and its Node goes; web stays
    apps_v1.delete_namespaced_deployment("shared-gpu", namespace)
    wait_for(lambda: node_name not in {i.name for i in fake.instances()}, 60, "the idle GPU node's instance deleted",
             check=daemon.check_alive)
    wait_for(lambda: node_name not in {n.metadata.name for n in core_v1.list_node().items}, 30, "its Node gone")
    assert fake.deleted[-1] == instance.name and len(fake.deleted) == 3  # 2 cancelled attempts, then that node
    assert [i.name for i in fake.instances()] == [web.spec.node_name]


def test_an_idle_node_gke_named_itself_in_our_pool_is_removed_through_its_mig(gke, core_v1, apps_v1, namespace):
    """A surge upgrade or an auto-repair gave our pool an instance GKE named after the MIG
    (`gke-<cluster>-<pool>-<hash>-<suffix>`); once idle, scale-down deletes it from that MIG."""
    fake = gke.fake
    daemon = gke.start({"scaleDown.nodeUnneededDuration": "5s"})
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 1, "1"))
    [web] = wait_for(lambda: running(pods_of(core_v1, namespace, "web")), 60, "the web pod Running", check=daemon.check_alive)
    [ours] = fake.instances()
    surge = fake.add_gke_instance(ours.pool)
    assert not surge.name.startswith(ours.pool)
    wait_for(lambda: surge.name in {n.metadata.name for n in core_v1.list_node().items}, 30, "the GKE-named node registered")

    wait_for(lambda: surge.name in fake.deleted, 60, "the GKE-named instance deleted through its MIG", check=daemon.check_alive)
    assert [i.name for i in fake.instances()] == [web.spec.node_name]


def test_a_preempted_spot_vm_is_replaced_and_its_pods_moved_within_its_30_second_shutdown(gke, core_v1, apps_v1, namespace):
    """Given three 1-CPU web pods on a spot node, when Compute Engine preempts its VM (a
    compute.instances.preempted operation; 30 s to shut down), then the node is tainted, the pods
    are evicted at once (30 s is less than spotInterruption.drainLeadTime) and run on one
    replacement, launched in the same loop."""
    from datetime import datetime, timezone

    fake = gke.fake
    daemon = gke.start({"binPackingNodePricing": "spot"})
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 3, "1"))
    pods = wait_for(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3 and p, 90,
                    "web pods Running", check=daemon.check_alive)
    [old] = {p.spec.node_name for p in pods}
    [instance] = [i for i in fake.instances() if i.name == old]
    assert instance.spot
    fake.preempt(old, datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    wait_for(lambda: any(t.key == "smart-autoscaler.io/interrupted" for t in core_v1.read_node(old).spec.taints or []),
             20, "preempted node tainted", check=daemon.check_alive)
    moved = wait_for(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3
                     and old not in {x.spec.node_name for x in p} and p, 60, "pods moved", check=daemon.check_alive)
    fake.stop_preempted(old)
    assert len({p.spec.node_name for p in moved}) == 1
    assert len([i for i in fake.instances() if i.instance_status == "RUNNING"]) == 1
