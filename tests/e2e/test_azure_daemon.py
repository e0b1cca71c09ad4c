"""The daemon with `--provider azure` against the real control plane and a local Azure
Resource Manager (tests/providers/fake_azure.py, on loopback): the Azure SDK makes the real
calls; the shared registrar (tests/e2e/registrar.py) plays AKS's kubelets: scale-set instances
become kwok Nodes as AKS registers them (tests/e2e/aks_nodes.py). The daemon runs under the
chart's ClusterRole (unchanged for Azure). Nodes come from agent-pool count changes and go by
Delete Machines; the fake reconciles scale sets to their pools' counts on a cluster update,
as AKS does.

Numbers: azure eastus, loopPeriod 2s. A 2 CPU / 4Gi pod is bin-select; its cheapest size is
Standard_B4ls_v2 ($0.147/h on demand, allocatable 3860m CPU), the next Standard_B4als_v2
($0.152/h). Spot costs on-demand x 0.5 (spotPriceRatioEstimate).
"""

from __future__ import annotations

import sys
from datetime import datetime

import pytest

pytest.importorskip("azure.mgmt.containerservice")

from providers.azure.names import Offering, pool_name  # noqa: E402
from tests.e2e.aks_nodes import aks_machines  # noqa: E402
from tests.e2e.daemon_helpers import (  # noqa: E402
    BASE_CONFIG,
    INSTANCE_TYPE_LABEL,
    LEASE_NAME,
    Daemon,
    daemon_cluster_rules,
    dump_config,
    free_port,
    hold,
    pods_of,
    running,
)
from tests.e2e.registrar import Registrar  # noqa: E402
from tests.providers.azure_fixtures import fake_azure  # noqa: E402,F401
from tests.providers.fake_azure import CLUSTER, RESOURCE_GROUP, SUBSCRIPTION  # noqa: E402

pytestmark = pytest.mark.e2e

LOOP = 2.0
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
OFFERINGS = "smart-autoscaler.io/instance-offerings"
TOLERATES_SPOT = [{"key": SPOT_LABEL, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]


def start_daemon(env, fake, **options) -> Daemon:
    grant = env.grant(cluster_rules=daemon_cluster_rules(simulated=False))
    config = {
        **BASE_CONFIG,
        "cloud": "azure",
        "region": "eastus",
        "clusterName": f"e2e-{env.namespace}",
        "azure": {
            "subscriptionId": SUBSCRIPTION,
            "resourceGroup": RESOURCE_GROUP,
            "clusterName": CLUSTER,
            "resourceManagerEndpoint": fake.base_url,  # loopback: plain HTTP, no credential
            "retailPricesURL": f"{fake.base_url}/api/retail/prices",
            "pollInterval": "50ms",
        },
        **options,
    }
    name = f"azure-daemon-{len(env.daemons) + 1}"
    path = dump_config(env.workdir / f"{name}.config.yaml", config)
    port = free_port()
    argv = [
        sys.executable, "-m", "autoscaler", "run", "--provider", "azure", "--config", str(path),
        "--kubeconfig", str(grant.kubeconfig), "--metrics-address", f"127.0.0.1:{port}",
        "--lease-namespace", env.namespace,
    ]
    daemon = Daemon(name, argv, env.workdir / f"{name}.log", port)
    env.daemons.append(daemon)
    return daemon.start().wait_healthy()


@pytest.fixture
def aks(fake_azure, core_v1):
    """The shared registrar playing AKS's kubelets for the local ARM server's instances."""
    registrar = Registrar(core_v1, lambda: aks_machines(fake_azure)).start()
    yield registrar
    registrar.stop()


def pod(name: str, *, offerings: str | None = None, tolerations=None) -> dict:
    metadata = {"name": name, "labels": {"app": name, "smart-autoscaler.io/managed": "true"}}
    if offerings:
        metadata["annotations"] = {OFFERINGS: offerings}
    spec = {
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}],
    }
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def seconds(stamp: str) -> float:
    """A log line's time ('2026-11-29 17:06:30,784') in seconds."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def node_of(env, core_v1, name: str):
    (running_pod,) = env.wait(lambda: running(pods_of(core_v1, env.namespace, name)), 60, f"pod {name} Running")
    return core_v1.read_node(running_pod.spec.node_name)


def test_a_spot_tolerating_pod_gets_a_spot_node_and_one_that_does_not_gets_regular(
    autoscaler, fake_azure, aks, core_v1, namespace
):
    start_daemon(autoscaler, fake_azure)
    # One after the other, so that the scheduler cannot put the tolerating pod on the
    # Regular node (it may run there: tolerating is not requiring).
    core_v1.create_namespaced_pod(namespace, pod("batch", offerings="spot,on-demand", tolerations=TOLERATES_SPOT))
    spot_node = node_of(autoscaler, core_v1, "batch")
    core_v1.create_namespaced_pod(namespace, pod("api", offerings="spot,on-demand"))
    regular_node = node_of(autoscaler, core_v1, "api")

    assert spot_node.metadata.labels[SPOT_LABEL] == "spot"
    assert {(t.key, t.value, t.effect) for t in spot_node.spec.taints} >= {(SPOT_LABEL, "spot", "NoSchedule")}
    assert SPOT_LABEL not in regular_node.metadata.labels
    assert spot_node.metadata.labels[INSTANCE_TYPE_LABEL] == regular_node.metadata.labels[INSTANCE_TYPE_LABEL] == "Standard_B4ls_v2"
    spot_pool = fake_azure.pools[spot_node.metadata.labels["kubernetes.azure.com/agentpool"]]["properties"]
    regular_pool = fake_azure.pools[regular_node.metadata.labels["kubernetes.azure.com/agentpool"]]["properties"]
    assert (spot_pool["scaleSetPriority"], spot_pool["scaleSetEvictionPolicy"], spot_pool["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert regular_pool["scaleSetPriority"] == "Regular"
    vmss = fake_azure.vmss_of(spot_node.metadata.labels["kubernetes.azure.com/agentpool"])
    (number,) = fake_azure.vms[vmss]
    assert spot_node.spec.provider_id == (
        f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/mc_rg-aks_aks1_eastus/providers/Microsoft.Compute"
        f"/virtualMachineScaleSets/{vmss}/virtualMachines/{number}"
    )


def test_an_allocation_failure_moves_to_the_next_size_in_the_same_loop_and_scale_down_deletes_that_instance(
    autoscaler, fake_azure, aks, core_v1, namespace
):
    cheapest = pool_name(Offering("Standard_B4ls_v2", "on-demand", "eastus"), "bin-select")
    fake_azure.fail("PUT", rf"agentPools/{cheapest}$", "AllocationFailed",
                    "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.",
                    in_operation=True)
    daemon = start_daemon(autoscaler, fake_azure, **{"scaleDown.nodeUnneededDuration": "5s"})
    core_v1.create_namespaced_pod(namespace, pod("web"))

    node = node_of(autoscaler, core_v1, "web")
    assert node.metadata.labels[INSTANCE_TYPE_LABEL] == "Standard_B4als_v2"
    autoscaler.wait(lambda: cheapest not in fake_azure.pools, 10, "the failed pool deleted")  # nothing left behind
    assert daemon.metric("smart_autoscaler_launch_failures_total", kind="insufficient-capacity") == 1
    # backed off for Azure's 1 h (azure.allocationFailedBackoff), not the generic 5 min, and the
    # next size asked for by the loop that read the failure, not a loop period later
    failed = daemon.wait_log(r"^(\S+ \S+) INFO \S+ launch-failed: .*AllocationFailed.*for 3600s", 5)
    retried = daemon.wait_log(r"^(\S+ \S+) INFO \S+ creating agent pool \w+ for Standard_B4als_v2", 5)
    assert 0 <= seconds(retried.group(1)) - seconds(failed.group(1)) < LOOP
    launched = pool_name(Offering("Standard_B4als_v2", "on-demand", "eastus"), "bin-select")
    assert len(fake_azure.machines(launched)) == 1  # one node for the pod, however often the need is planned

    core_v1.delete_namespaced_pod("web", namespace, grace_period_seconds=0)
    autoscaler.wait(lambda: not fake_azure.machines(launched), 5 + 10 * LOOP, f"machine {node.metadata.name} deleted")
    autoscaler.wait(lambda: not autoscaler.managed_nodes(), 10, "node gone")

    assert fake_azure.calls("POST", rf"agentPools/{launched}/deleteMachines$") == [{"machineNames": [node.metadata.name]}]
    assert fake_azure.writes_to_node_resource_group() == []


def count_changes(fake, pool: str) -> list[int]:
    return [body["properties"]["count"] for body in fake.calls("PUT", rf"agentPools/{pool}$")]


def test_ten_pods_get_ten_nodes_from_one_count_change_that_a_cluster_update_keeps_and_scale_down_removes_one(
    autoscaler, fake_azure, aks, core_v1, namespace
):
    """10 pending 2 CPU / 4Gi pods, one per Standard_B4ls_v2 node: one PUT of the pool with
    count 10, ten nodes registered, every pod running. A cluster update (AKS reconciling its
    scale sets to the pools' counts) leaves all ten. Deleting one pod removes exactly its node's
    machine (Delete Machines naming it), and the pool's count follows: 9."""
    daemon = start_daemon(autoscaler, fake_azure, **{"scaleDown.nodeUnneededDuration": "5s"})
    for index in range(10):
        core_v1.create_namespaced_pod(namespace, {**pod(f"web-{index}"), "metadata": {
            "name": f"web-{index}", "labels": {"app": "web", "smart-autoscaler.io/managed": "true"}}})
    autoscaler.wait(lambda: len(running(pods_of(core_v1, namespace, "web"))) == 10, 60, "10 pods Running")

    pool = pool_name(Offering("Standard_B4ls_v2", "on-demand", "eastus"), "bin-select")
    assert count_changes(fake_azure, pool) == [10]
    assert len(autoscaler.managed_nodes()) == 10 and len(fake_azure.machines(pool)) == 10

    with fake_azure.lock:
        fake_azure.reconcile()  # what AKS does on any cluster update

    def all_ten_stay() -> None:
        assert len(fake_azure.machines(pool)) == 10 and len(autoscaler.managed_nodes()) == 10
        assert len(running(pods_of(core_v1, namespace, "web"))) == 10

    hold(3 * LOOP, all_ten_stay, check=autoscaler.check_daemons)

    gone = next(p for p in pods_of(core_v1, namespace, "web") if p.metadata.name == "web-3")
    core_v1.delete_namespaced_pod("web-3", namespace, grace_period_seconds=0)
    autoscaler.wait(lambda: len(fake_azure.machines(pool)) == 9, 5 + 10 * LOOP, "one machine deleted")

    assert fake_azure.calls("POST", rf"agentPools/{pool}/deleteMachines$") == [{"machineNames": [gone.spec.node_name]}]
    assert fake_azure.pools[pool]["properties"]["count"] == 9
    assert gone.spec.node_name not in {m["name"] for m in fake_azure.machines(pool)}
    assert fake_azure.writes_to_node_resource_group() == []
    assert daemon.metric("smart_autoscaler_launch_failures_total", kind="insufficient-capacity") == 0


def test_a_crash_between_the_count_change_and_registration_leaves_no_duplicate_and_no_leak(
    autoscaler, fake_azure, aks, core_v1, coordination_v1, namespace
):
    """AKS operations take 2 s here and the kubelets hold registration. The daemon is killed
    right after AKS accepted the pool's count change; a new daemon takes over (the lease
    expires) while the machine is still not a node, adopts it as room on its way (its request
    id read back from the pool's ledger) instead of launching again; then the node registers:
    one count change, one machine, the pod running on it."""
    fake_azure.lro_seconds = 2.0
    aks.pause()
    first = start_daemon(autoscaler, fake_azure)
    core_v1.create_namespaced_pod(namespace, pod("web"))
    pool = pool_name(Offering("Standard_B4ls_v2", "on-demand", "eastus"), "bin-select")
    autoscaler.wait(lambda: count_changes(fake_azure, pool), 10 * LOOP, "the pool's count change")
    first.kill()
    autoscaler.killed(first)
    coordination_v1.delete_namespaced_lease(LEASE_NAME, namespace)  # as if its 15 s had run out

    second = start_daemon(autoscaler, fake_azure)
    second.wait_log(r"became leader", 30)

    def one_change_one_machine() -> None:
        assert count_changes(fake_azure, pool) == [1] and len(fake_azure.machines(pool)) == 1

    hold(3 * LOOP, one_change_one_machine)  # loops that see the pod pending and the machine not yet a node
    aks.resume()
    node = node_of(autoscaler, core_v1, "web")
    hold(2 * LOOP, one_change_one_machine)

    (machine,) = fake_azure.machines(pool)
    assert node.metadata.name == machine["name"]
    assert [n.metadata.name for n in autoscaler.managed_nodes()] == [machine["name"]]
