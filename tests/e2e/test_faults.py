"""The fault tier (issue 19): faults on the real control plane, the daemon
(`run --provider simulated`) riding them out.

Numbers used throughout: loopPeriod 2s, --simulated-launch-delay 3s, cloud aws / us-east-1.
Six pods of 1 CPU bin-pack onto two t3a.xlarge (3920m allocatable: three each).
The control plane's components are stopped and started again by
tests/controlplane/cluster.py (`stop_component`, `start_component`, `restart_exited`).
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.daemon_helpers import (
    MANAGED_LABEL,
    condition,
    events_for,
    managed_deployment,
    pod_spec,
    pods_of,
    running,
    unschedulable,
    wait_for_controllers,
)

pytestmark = pytest.mark.e2e

LOOP = 2.0
APISERVER = "kube-apiserver"


def _readyz(daemon) -> int:
    try:
        return daemon.http_get("/readyz")[0]
    except OSError:
        return 0


def _all_running(env, core_v1, app: str, count: int, timeout: float):
    return env.wait(lambda: len(p := running(pods_of(core_v1, env.namespace, app))) == count and p, timeout,
                    f"{count} pods of {app} Running")


def test_a_30s_api_outage_with_pods_pending_launches_what_was_planned_removes_nothing_and_readyz_tells(
    control_plane, autoscaler, core_v1, apps_v1, namespace
):
    """Given 6 pods pending and their 2 nodes launched (not registered yet), when kube-apiserver
    is down for 30 s, then /readyz fails within 3 loops and passes again within 3 loops of its
    return, the kube API errors are counted, no further node is launched, none is removed, and
    all 6 pods run."""
    env = autoscaler
    daemon = env.start({"scaleDown.nodeUnneededDuration": "6s"}, launch_delay="8s")
    assert _readyz(daemon) == 200
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 6, "1"))
    env.wait(lambda: len(env.live_instances()) == 2, 20, "2 instances launched for the 6 pods")

    control_plane.stop_component(APISERVER)
    down = time.monotonic()
    env.wait(lambda: _readyz(daemon) == 503, 3 * LOOP + 3, "/readyz 503 within 3 loops of the API going away")
    failed_after = time.monotonic() - down
    assert daemon.healthz() == 200  # liveness: a restart would not bring the API back
    time.sleep(max(0.0, 30.0 - (time.monotonic() - down)))
    control_plane.start_component(APISERVER)
    back = time.monotonic()
    env.wait(lambda: _readyz(daemon) == 200, 3 * LOOP + 3, "/readyz 200 within 3 loops of the API's return")
    print(f"/readyz failed {failed_after:.1f}s after the API went away, passed {time.monotonic() - back:.1f}s after it came back")
    restarted = control_plane.restart_exited()  # the scheduler and controller-manager lose their Leases meanwhile
    print(f"restarted {restarted} by {time.monotonic() - back:.1f}s after the API's return")
    _all_running(env, core_v1, "web", 6, 120)  # kube-scheduler backs off after the API server restarts (≈40 s idle, more under load)
    print(f"all pods ran {time.monotonic() - back:.1f}s after the API's return")

    def as_planned():
        assert len(env.instances()) == 2
        assert len(env.managed_nodes()) == 2

    env.hold(3 * LOOP + 1, as_planned)
    assert daemon.metric("smart_autoscaler_scale_downs_total") == 0
    assert daemon.metric("smart_autoscaler_kube_api_request_errors_total", code="unreachable") >= 1
    assert "Traceback" not in daemon.log_text()
    print(f"kube-controller-manager caught up {wait_for_controllers(control_plane, core_v1):.1f}s later")


def test_new_nodes_uninitialized_for_3s_get_exactly_the_launches_planned(autoscaler, core_v1, apps_v1, namespace):
    """Given new Nodes that keep `node.cloudprovider.kubernetes.io/uninitialized` for 3 s after
    they register (Ready meanwhile), when 6 pods of 1 CPU wait, then 2 nodes are launched, as
    planned, and all pods run on them."""
    env = autoscaler
    daemon = env.start(extra_args=("--simulated-cloud-init-delay", "3s"))
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 6, "1"))
    _all_running(env, core_v1, "web", 6, 60)

    env.hold(2 * LOOP + 1, lambda: len(env.instances()) == 2 or pytest.fail(f"{len(env.instances())} launches"))
    assert daemon.metric("smart_autoscaler_scale_ups_total") == 2


def test_a_node_deleted_by_hand_gets_its_pods_a_new_node_at_once_and_backs_off_nothing(
    autoscaler, core_v1, apps_v1, namespace
):
    """Given 3 pods running on the node launched for them, when someone deletes that Node (its
    instance keeps running), then within two loops of the pods being pending again a new
    instance is launched, the orphan instance is terminated, nothing is backed off, and the
    log says the node was deleted by someone else."""
    env = autoscaler
    daemon = env.start()
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 3, "1"))
    pods = _all_running(env, core_v1, "web", 3, 40)
    [first] = env.live_instances()
    daemon.wait_log(r"registered: node sim-", 10, "the daemon has seen the node")  # a node it never saw is a launch in flight
    core_v1.delete_node(pods[0].spec.node_name)
    # PodGC deletes pods bound to a Node that is gone, after a 40 s quarantine; do it at once.
    for pod in pods:
        core_v1.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
    old_names = {pod.metadata.name for pod in pods}
    deleted_node = pods[0].spec.node_name

    def replacements_pending_or_placed():
        # The ReplicaSet's 3 new pods, each Unschedulable or (when the daemon was quicker than
        # this poll) already bound to another node. The controller-manager and scheduler may take
        # a while on a loaded machine after the previous test's API server restart.
        new = [p for p in pods_of(core_v1, namespace, "web") if p.metadata.name not in old_names]
        return len(new) == 3 and all(unschedulable(p) or (p.spec.node_name or deleted_node) != deleted_node for p in new)

    env.wait(replacements_pending_or_placed, 60, "the ReplicaSet's 3 new pods Unschedulable",
             describe=lambda: [(p.metadata.name, p.spec.node_name, condition(p, "PodScheduled"))
                               for p in pods_of(core_v1, namespace, "web")])
    pending = time.monotonic()
    env.wait(lambda: len(env.instances()) == 2, 2 * LOOP + 2, "a new launch within two loops")
    print(f"new launch {time.monotonic() - pending:.1f}s after the pods were pending again")
    env.wait(lambda: next(i for i in env.instances() if i["instance_id"] == first["instance_id"])["state"]
             == "terminated", 3 * LOOP, "the orphan instance terminated")
    _all_running(env, core_v1, "web", 3, 40)
    log = daemon.log_text()
    assert "deleted by someone else" in log and "after restart" not in log and "did not register" not in log
    assert daemon.metric("smart_autoscaler_backoffs_active") == 0


def test_a_planner_error_for_one_pod_set_leaves_the_others_launches_unchanged(
    autoscaler, core_v1, apps_v1, namespace, monkeypatch
):
    """Given the test hook making the planner fail for pods labelled fault=yes, when such a
    workload (arm64 only, so the scheduler cannot put it on the others' node either) and two
    others wait, then the others get exactly the launch they get alone (2 + 1 pods of 1 CPU:
    one t3a.xlarge), the failing pods get a PlanningFailed Warning naming the error and no
    node, and the error is counted."""
    monkeypatch.setenv("SMART_AUTOSCALER_INJECT_PLANNER_FAULT", "fault=yes")
    env = autoscaler
    daemon = env.start()
    bad = managed_deployment("bad", 2, "1", nodeSelector={"kubernetes.io/arch": "arm64"})
    bad["spec"]["template"]["metadata"]["labels"]["fault"] = "yes"
    apps_v1.create_namespaced_deployment(namespace, bad)
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 2, "1"))
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("api", 1, "1"))
    _all_running(env, core_v1, "web", 2, 40)
    _all_running(env, core_v1, "api", 1, 40)
    events = env.wait(lambda: events_for(core_v1, namespace, reason="PlanningFailed"), 10, "PlanningFailed events")
    assert "InjectedPlannerError" in events[0].message

    def as_alone():
        launched = sorted(i["instance_type"] for i in env.instances())
        assert launched == ["t3a.xlarge"], launched
        assert not running(pods_of(core_v1, namespace, "bad"))

    env.hold(2 * LOOP + 1, as_alone)
    assert daemon.metric("smart_autoscaler_planning_errors_total", error="InjectedPlannerError") >= 1


def test_a_node_holding_a_pod_the_planner_cannot_read_is_not_removed(autoscaler, core_v1, apps_v1, namespace):
    """Given a bin-select node whose workload scaled to 0 and an unmanaged pod with `cpu: 1e30`
    (the API server accepts it) bound to it, when the node has been unneeded for longer than
    nodeUnneededDuration, then it stays with the pod on it, and the pod gets a ScaleDownBlocked
    Warning saying the planner cannot read it."""
    env = autoscaler
    unneeded = 4.0
    daemon = env.start({"scaleDown.nodeUnneededDuration": f"{unneeded:g}s"})
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("big", 1, "3"))
    [pod] = _all_running(env, core_v1, "big", 1, 40)
    node = pod.spec.node_name
    spec = pod_spec("1e30")
    spec["nodeName"] = node
    core_v1.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "odd", "labels": {"app": "odd", MANAGED_LABEL: "false"}}, "spec": spec,
    })
    apps_v1.patch_namespaced_deployment_scale("big", namespace, {"spec": {"replicas": 0}})
    env.wait(lambda: not pods_of(core_v1, namespace, "big"), 20, "big scaled to 0")
    [event] = env.wait(lambda: events_for(core_v1, namespace, name="odd", reason="ScaleDownBlocked"),
                       unneeded + 4 * LOOP, "a ScaleDownBlocked event on the unreadable pod")
    assert "cannot be read" in event.message

    def kept():
        assert node in {n.metadata.name for n in env.managed_nodes()}
        assert core_v1.read_namespaced_pod("odd", namespace).metadata.deletion_timestamp is None

    env.hold(2 * LOOP + 1, kept)
    assert daemon.metric("smart_autoscaler_scale_downs_total") == 0
