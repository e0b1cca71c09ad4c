"""The daemon (`python -m autoscaler run --provider simulated`) against the real control plane.

Every daemon runs as a subprocess under a ServiceAccount that holds exactly the Helm chart's
least-privilege rules (fixture `autoscaler`, tests/e2e/daemon_helpers.py), with a token from
the TokenRequest API. The simulated cloud registers a Node per booted instance (kwok keeps it
Ready) and keeps its instances in a state file, which the tests read.

Numbers used throughout: loopPeriod 2s, --simulated-launch-delay 3s, cloud aws / us-east-1.
Three pods of 1 CPU bin-pack onto the default 4 CPU / 8Gi shape: one t3a.xlarge
(allocatable 3920m CPU after EKS reservations) at $0.1504/h on-demand.
"""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from tests.e2e.daemon_helpers import (
    DO_NOT_EVICT,
    INSTANCE_TYPE_LABEL,
    ROLE_LABEL,
    daemon_cluster_rules,
    events_for,
    managed_deployment,
    managed_pod,
    pods_of,
    restart_apiserver,
    running,
    unschedulable,
    wait_for_controllers,
    without_verb,
)

pytestmark = pytest.mark.e2e

LOOP = 2.0  # loopPeriod of every daemon here
BIN_PACK_TYPE = "t3a.xlarge"  # 4 vCPU / 16 GiB: cheapest type with at least 4 CPU / 8Gi in us-east-1
BIN_PACK_PRICE = "0.1504"
DRAIN_TAINT = "smart-autoscaler.io/draining"
ESTIMATE_RE = re.compile(
    r"^NodeCostEstimate: instance-type=\S+ capacity-type=(on-demand|spot) cost-per-hour=[0-9.]+ "
    r"node-count=\d+ pod-count=\d+ mode=bin-(pack|select)$"
)


# --------------------------------------------------------------------------- helpers


def _scale_up(env, apps_v1, core_v1, name: str, replicas: int, cpu: str, timeout: float = 40.0, **kw):
    """Create a managed Deployment and wait until all its pods run; return (pods, node names)."""
    apps_v1.create_namespaced_deployment(env.namespace, managed_deployment(name, replicas, cpu, **kw))
    pods = env.wait(lambda: len(p := running(pods_of(core_v1, env.namespace, name))) == replicas and p,
                    timeout, f"{replicas} pods of {name} Running")
    return pods, {p.spec.node_name for p in pods}


def _node_names(env) -> set[str]:
    return {n.metadata.name for n in env.managed_nodes()}


def _lease_holder(coordination_v1, namespace: str) -> str:
    lease = coordination_v1.read_namespaced_lease("smart-autoscaler", namespace)
    return lease.spec.holder_identity or ""


def _holder_pid(holder: str) -> int | None:
    """The daemon's identity is <hostname>-<pid>."""
    match = re.search(r"-(\d+)$", holder)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- 1 + 3a: scale up, scale down


def test_scale_up_bin_packs_three_pods_onto_one_node_then_scale_down_removes_it(
    autoscaler, core_v1, apps_v1, namespace
):
    env = autoscaler
    unneeded = 10.0
    daemon = env.start({"scaleDown.nodeUnneededDuration": f"{unneeded:g}s"})

    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 3, "1"))
    # The real scheduler finds no node for them first.
    env.wait(lambda: sum(unschedulable(p) for p in pods_of(core_v1, namespace, "web")) == 3, 20,
             "3 pods PodScheduled=False/Unschedulable")

    pods = env.wait(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3 and p, 40,
                    "3 pods bound to the new node and Running (kwok)")
    nodes = env.managed_nodes()
    assert len(nodes) == 1, [n.metadata.name for n in nodes]
    node = nodes[0]
    assert {p.spec.node_name for p in pods} == {node.metadata.name}
    labels = node.metadata.labels
    assert labels[INSTANCE_TYPE_LABEL] == BIN_PACK_TYPE
    assert labels[ROLE_LABEL] == "bin-pack"
    assert labels["smart-autoscaler.io/capacity-type"] == "on-demand"
    assert labels["topology.kubernetes.io/region"] == "us-east-1"
    assert node.status.allocatable["cpu"] == "3920m"
    [instance] = env.live_instances()
    assert instance["instance_type"] == BIN_PACK_TYPE
    assert instance["state"] == "running"
    assert node.spec.provider_id == instance["provider_id"]

    # Several more loops: nothing else is launched for pods that already run.
    def one_node_one_instance():
        assert _node_names(env) == {node.metadata.name}
        assert len(env.instances()) == 1

    env.hold(3 * LOOP + 1, one_node_one_instance)
    assert daemon.metric("smart_autoscaler_scale_ups_total", mode="bin-pack", instance_type=BIN_PACK_TYPE) == 1
    assert daemon.metric("smart_autoscaler_scale_ups_total") == 1

    # 3a. Scale to 0: the node is empty, unneeded for 10s, then drained and removed.
    apps_v1.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 0}})
    env.wait(lambda: not pods_of(core_v1, namespace, "web"), 20, "web pods gone")
    emptied = time.monotonic()
    env.wait(lambda: not env.managed_nodes(), unneeded + 6 * LOOP + 5, f"node {node.metadata.name} deleted")
    took = time.monotonic() - emptied
    assert took >= unneeded - LOOP, f"node removed {took:.1f}s after it emptied, before nodeUnneededDuration"
    [gone] = env.instances()
    assert gone["instance_id"] == instance["instance_id"]
    assert gone["state"] == "terminated"
    assert env.live_instances() == []
    # The termination answers off the loop thread; the loop after it records the removal.
    env.wait(lambda: daemon.metric("smart_autoscaler_scale_downs_total", reason="unneeded") == 1, 2 * LOOP + 2,
             "the removal counted")
    assert re.search(rf"removed node {node.metadata.name} \(bin-pack node is empty\)", daemon.log_text())


# --------------------------------------------------------------------------- 2: cost estimates, no launch


def test_cost_estimate_events_and_pods_that_must_not_cause_a_launch(autoscaler, core_v1, namespace):
    env = autoscaler
    # A regexp the real scheduler's message ("no nodes available to schedule pods" /
    # "0/N nodes are available: ...") does not match: a queueing scheduler's "OverLimit".
    first = env.start({"pendingPodReasonRegexp": "^OverLimit"}, name="overlimit")

    quote = core_v1.create_namespaced_pod(namespace, managed_pod("quote", "1", gates=["nodecostestimate"]))
    held = core_v1.create_namespaced_pod(namespace, managed_pod("held", "1", gates=["example.com/hold"]))
    plain = core_v1.create_namespaced_pod(namespace, managed_pod("plain", "1"))

    def estimates(pod):
        return events_for(core_v1, namespace, uid=pod.metadata.uid, reason="NodeCostEstimate")

    events = env.wait(lambda: estimates(quote), 20, "a NodeCostEstimate event on the gated pod")
    env.wait(lambda: unschedulable(core_v1.read_namespaced_pod("plain", namespace)), 20, "plain Unschedulable")
    message = events[0].message
    assert ESTIMATE_RE.match(message), message
    assert message == (f"NodeCostEstimate: instance-type={BIN_PACK_TYPE} capacity-type=on-demand "
                       f"cost-per-hour={BIN_PACK_PRICE} node-count=1 pod-count=1 mode=bin-pack")
    assert events[0].type == "Normal"
    assert events[0].involved_object.kind == "Pod" and events[0].involved_object.name == "quote"

    def nothing_more():
        assert len(estimates(quote)) == 1
        assert events_for(core_v1, namespace, uid=held.metadata.uid) == []
        assert events_for(core_v1, namespace, uid=plain.metadata.uid, reason="NodeCostEstimate") == []
        assert env.managed_nodes() == []
        assert env.instances() == []

    env.hold(3 * LOOP + 1, nothing_more)
    plain_now = core_v1.read_namespaced_pod("plain", namespace)
    assert unschedulable(plain_now) and not plain_now.spec.node_name
    assert "OverLimit" not in next(c for c in plain_now.status.conditions if c.type == "PodScheduled").message
    assert first.metric("smart_autoscaler_pending_pods") == 0
    assert first.metric("smart_autoscaler_scale_ups_total") == 0

    # Control: the same pods under the default regexp (match everything). The unschedulable pod
    # now gets exactly one node; the gated pods still get none, and a new process (no memory of
    # what the first one did) finds the existing estimate through the Events API and adds none.
    first.stop()
    env.killed(first)
    second = env.start(name="default-regexp")
    pod = env.wait(lambda: (p := core_v1.read_namespaced_pod("plain", namespace)).status.phase == "Running" and p,
                   40, "plain Running on a new node")
    assert [n.metadata.name for n in env.managed_nodes()] == [pod.spec.node_name]

    def one_estimate_one_node():
        assert len(estimates(quote)) == 1
        assert events_for(core_v1, namespace, uid=held.metadata.uid) == []
        assert len(env.managed_nodes()) == 1 and len(env.instances()) == 1

    env.hold(2 * LOOP + 1, one_estimate_one_node)
    assert second.metric("smart_autoscaler_scale_ups_total") == 1
    for name in ("quote", "held"):
        gated = core_v1.read_namespaced_pod(name, namespace)
        assert gated.spec.node_name is None and gated.status.phase == "Pending"


# --------------------------------------------------------------------------- 3b: PDB and do-not-evict


def test_pdb_and_do_not_evict_keep_an_underused_node(kwok_nodes, autoscaler, core_v1, apps_v1, policy_v1,
                                                     namespace):
    from kubernetes import client, config as kube_config
    from kubernetes.client.rest import ApiException

    env = autoscaler
    unneeded = 10.0
    daemon = env.start({
        "scaleDown.nodeUnneededDuration": f"{unneeded:g}s",
        # a node whose pods request less than 90% of it is unneeded (if they fit elsewhere)
        "scaleDown.binPackNodeUtilizationThreshold": 0.9,
    })
    policy_v1.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "db"}}},
    })
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("keeper", 1, "500m"))
    [db], nodes = _scale_up(env, apps_v1, core_v1, "db", 1, "500m")
    [keeper] = env.wait(lambda: running(pods_of(core_v1, namespace, "keeper")), 20, "keeper Running")
    [node] = env.managed_nodes()
    name = node.metadata.name
    assert nodes == {name} and keeper.spec.node_name == name  # one node for both (1000m of 3920m: 26%)
    env.wait(lambda: (b := policy_v1.read_namespaced_pod_disruption_budget("db", namespace)).status
             and b.status.observed_generation == b.metadata.generation and b.status.current_healthy == 1
             and b.status.disruptions_allowed == 0, 30, "PDB status computed: 0 disruptions allowed")
    # Room elsewhere for both pods: an ordinary (unmanaged) node.
    kwok_nodes(f"spare-{namespace}", cpu="4", memory="8Gi")

    # The daemon's own credentials reach the Eviction API, which says 429 (dry run: no effect).
    sa_client = kube_config.new_client_from_config(config_file=str(env.grant().kubeconfig))
    try:
        eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=db.metadata.name, namespace=namespace),
                                     delete_options=client.V1DeleteOptions(dry_run=["All"]))
        with pytest.raises(ApiException) as refused:
            client.CoreV1Api(sa_client).create_namespaced_pod_eviction(db.metadata.name, namespace, eviction)
        assert refused.value.status == 429
        assert json.loads(refused.value.body)["details"]["causes"][0]["reason"] == "DisruptionBudget"
    finally:
        sa_client.close()

    def node_kept():
        current = core_v1.read_node(name)  # 404 (ApiException) if it was removed
        assert DRAIN_TAINT not in {t.key for t in current.spec.taints or []}, "drain started"
        pods = {p.metadata.uid: p for p in core_v1.list_namespaced_pod(namespace).items}
        for pod in (db, keeper):
            assert pod.metadata.uid in pods, f"pod {pod.metadata.name} was evicted"
            assert pods[pod.metadata.uid].metadata.deletion_timestamp is None
            assert pods[pod.metadata.uid].spec.node_name == name

    # A: the PDB alone keeps the node, for twice the unneeded duration.
    env.hold(2 * unneeded, node_kept)

    # B: keeper becomes do-not-evict, then the PDB goes: the annotation alone keeps the node.
    core_v1.patch_namespaced_pod(keeper.metadata.name, namespace,
                                 {"metadata": {"annotations": {DO_NOT_EVICT: "true"}}})
    time.sleep(LOOP + 0.5)  # the daemon's pod cache has the annotation before the PDB disappears
    policy_v1.delete_namespaced_pod_disruption_budget("db", namespace)
    env.hold(3 * LOOP + 1, node_kept)
    assert daemon.metric("smart_autoscaler_scale_downs_total") == 0

    # C: the do-not-evict pod ends: the node is drained (db evicted, recreated on the spare
    # node) and removed, and its instance terminated.
    apps_v1.delete_namespaced_deployment("keeper", namespace)
    env.wait(lambda: not env.managed_nodes(), 8 * LOOP + 10, f"node {name} drained and deleted")
    moved = env.wait(lambda: running(pods_of(core_v1, namespace, "db")), 20, "db replacement Running")
    assert [p.spec.node_name for p in moved] == [f"spare-{namespace}"]
    assert moved[0].metadata.uid != db.metadata.uid
    assert env.live_instances() == []
    assert re.search(rf"evicted {namespace}/{db.metadata.name} from {name}", daemon.log_text())


# --------------------------------------------------------------------------- 4: leader election


def test_two_replicas_only_the_leader_acts_and_the_other_takes_over(autoscaler, core_v1, apps_v1,
                                                                    coordination_v1, namespace):
    env = autoscaler
    replicas = [env.start(name="replica-a", wait_healthy=False), env.start(name="replica-b", wait_healthy=False)]
    for replica in replicas:
        replica.wait_healthy()
    holder = env.wait(lambda: _lease_holder(coordination_v1, namespace), 15, "a Lease holder")
    by_pid = {r.pid: r for r in replicas}
    leader = by_pid[_holder_pid(holder)]
    follower = next(r for r in replicas if r is not leader)
    env.wait(lambda: leader.metric("smart_autoscaler_leader") == 1, 10, "leader gauge 1 on the leader")
    assert follower.metric("smart_autoscaler_leader") == 0

    _, first_nodes = _scale_up(env, apps_v1, core_v1, "web", 3, "1")
    assert len(first_nodes) == 1 and _node_names(env) == first_nodes
    assert len(env.instances()) == 1
    assert leader.metric("smart_autoscaler_scale_ups_total") == 1
    assert follower.metric("smart_autoscaler_scale_ups_total") == 0
    assert "launch:" not in follower.log_text()
    assert _lease_holder(coordination_v1, namespace) == holder

    lease = coordination_v1.read_namespaced_lease("smart-autoscaler", namespace)
    assert lease.spec.lease_duration_seconds == 15
    transitions = lease.spec.lease_transitions or 0
    leader.kill(signal.SIGKILL)
    env.killed(leader)
    killed_at = time.monotonic()
    new_holder = env.wait(lambda: (h := _lease_holder(coordination_v1, namespace)) != holder and h,
                          15 + 10, "the follower to take the Lease", interval=0.5)
    took = time.monotonic() - killed_at
    print(f"leader {leader.name} killed; {follower.name} took the Lease {took:.1f}s later")
    assert _holder_pid(new_holder) == follower.pid
    assert took <= 15 + 2 * LOOP + 3, f"takeover took {took:.1f}s"
    lease = coordination_v1.read_namespaced_lease("smart-autoscaler", namespace)
    assert (lease.spec.lease_transitions or 0) == transitions + 1
    env.wait(lambda: follower.metric("smart_autoscaler_leader") == 1, 10, "leader gauge 1 on the new leader")

    # The new leader serves a new workload, and launches nothing for the old one.
    _, second_nodes = _scale_up(env, apps_v1, core_v1, "api", 2, "1")
    assert len(second_nodes) == 1 and not (second_nodes & first_nodes)

    def two_nodes():
        assert _node_names(env) == first_nodes | second_nodes
        assert len(env.instances()) == 2 and len(env.live_instances()) == 2
        assert {p.spec.node_name for p in running(pods_of(core_v1, namespace, "web"))} == first_nodes

    env.hold(2 * LOOP + 1, two_nodes)
    assert follower.metric("smart_autoscaler_scale_ups_total") == 1


# --------------------------------------------------------------------------- 5: restart safety


def test_restart_between_launch_and_registration_launches_nothing_twice(autoscaler, core_v1, apps_v1,
                                                                        namespace):
    """A single replica (chart: leaderElection.enabled=false, so --no-leader-elect): a restarted
    replica under leader election would first wait out the dead one's Lease (15 s), by which time
    the instance would have booted; here the new process adopts it while it is still pending."""
    env = autoscaler
    single = ["--no-leader-elect"]
    slow = env.start(launch_delay="10s", name="slow-boot", extra_args=single)
    apps_v1.create_namespaced_deployment(namespace, managed_deployment("web", 3, "1"))
    [instance] = env.wait(env.live_instances, 30, "an instance in the state file", interval=0.05)
    slow.kill(signal.SIGKILL)
    env.killed(slow)
    assert instance["state"] == "pending"
    assert env.managed_nodes() == []

    fast = env.start(launch_delay="1s", name="restarted", extra_args=single)
    assert env.managed_nodes() == [] and env.live_instances()[0]["state"] == "pending"  # not booted yet
    pods = env.wait(lambda: len(p := running(pods_of(core_v1, namespace, "web"))) == 3 and p, 40,
                    "3 pods Running on the adopted instance's node")
    [node] = env.managed_nodes()
    assert {p.spec.node_name for p in pods} == {node.metadata.name}
    assert node.spec.provider_id == instance["provider_id"]
    assert re.search(rf"adopted instance {instance['instance_id']}", fast.log_text())

    def exactly_one():
        assert [i["instance_id"] for i in env.instances()] == [instance["instance_id"]]
        assert [i["instance_id"] for i in env.live_instances()] == [instance["instance_id"]]
        assert len(env.managed_nodes()) == 1

    env.hold(2 * LOOP + 1, exactly_one)
    assert fast.metric("smart_autoscaler_scale_ups_total") == 0


# --------------------------------------------------------------------------- 6: watch 410


def test_daemon_relists_after_410_and_keeps_scaling(control_plane, autoscaler, core_v1, apps_v1, namespace):
    """The API server serves pods and nodes from its watch cache, which etcd compaction does
    not expire (tests/controlplane/README.md). A restarted API server has a fresh watch cache
    whose window starts at its initial list: the daemon's watches, resuming from their last
    resourceVersion, get 410 Expired ("too old resource version"), as after a long disconnect.
    The daemon must list again and keep scaling."""
    env = autoscaler
    daemon = env.start()
    # Writes after the daemon's last pod event move the cluster's resourceVersion on.
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "bump"}, "data": {"a": "1"}})
    time.sleep(1)
    down = restart_apiserver(control_plane)
    expired = daemon.wait_log(r"pods: watch expired \((410 .*?)\); listing again$", 40,
                              "the pods watch to get 410 and list again")
    print(f"API server down {down:.1f}s; daemon saw: {expired.group(1)}")
    env.wait(lambda: re.search(r"pods: listed \d+ at resourceVersion \d+", daemon.log_text()[expired.end():]), 20,
             "pods listed again")
    env.wait(lambda: daemon.healthz() == 200, 20, "/healthz 200 again")

    _, nodes = _scale_up(env, apps_v1, core_v1, "web", 2, "1", timeout=60)
    assert len(nodes) == 1 and _node_names(env) == nodes
    wait_for_controllers(control_plane, core_v1)  # the next test starts on a working control plane
    assert len(env.instances()) == 1


# --------------------------------------------------------------------------- 7: RBAC


def test_chart_rules_cover_what_the_daemon_calls():
    """The ClusterRole (simulated provider) and Lease Role the tests grant are the chart's."""
    rules = daemon_cluster_rules()
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    needed = {
        ("", "pods", "list"), ("", "pods", "watch"), ("", "pods/eviction", "create"),
        ("", "nodes", "list"), ("", "nodes", "watch"), ("", "nodes", "get"), ("", "nodes", "patch"),
        ("", "nodes", "delete"), ("", "nodes", "create"), ("", "events", "create"), ("", "events", "list"),
        ("apps", "daemonsets", "list"), ("apps", "daemonsets", "watch"),
        ("policy", "poddisruptionbudgets", "list"), ("policy", "poddisruptionbudgets", "watch"),
        ("", "persistentvolumeclaims", "list"), ("", "persistentvolumeclaims", "watch"),
        ("", "persistentvolumes", "list"), ("", "persistentvolumes", "watch"),
        ("storage.k8s.io", "storageclasses", "list"), ("storage.k8s.io", "storageclasses", "watch"),
    }
    assert needed <= granted, needed - granted
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in rules)
    assert not [t for t in granted if t[1] == "secrets" or (t[1] == "pods" and t[2] not in ("get", "list", "watch"))]


def test_without_eviction_permission_the_daemon_logs_403_and_keeps_running(kwok_nodes, autoscaler, core_v1,
                                                                          apps_v1, namespace):
    env = autoscaler
    rules = without_verb(daemon_cluster_rules(), "pods/eviction", "create")
    env.grant("no-eviction", cluster_rules=rules)
    unneeded = 6.0
    daemon = env.start({"scaleDown.nodeUnneededDuration": f"{unneeded:g}s",
                        "scaleDown.binPackNodeUtilizationThreshold": 0.9},
                       service_account="no-eviction")
    [pod], nodes = _scale_up(env, apps_v1, core_v1, "web", 1, "500m")
    [name] = nodes
    kwok_nodes(f"spare-{namespace}", cpu="4", memory="8Gi")  # room elsewhere: the node is unneeded

    pattern = (rf"evicting {namespace}/{pod.metadata.name} from {name} failed: "
               rf"evict pod {namespace}/{pod.metadata.name}: 403 Forbidden: .*"
               rf"cannot create resource \"pods/eviction\"")
    line = daemon.wait_log(pattern, unneeded + 8 * LOOP + 10, "a 403 on the eviction in the daemon log")
    print(line.group(0))
    assert f"system:serviceaccount:{namespace}:no-eviction" in line.group(0)

    def still_serving():
        daemon.check_alive()
        assert daemon.healthz() == 200
        current = core_v1.read_namespaced_pod(pod.metadata.name, namespace)
        assert current.metadata.deletion_timestamp is None and current.spec.node_name == name
        assert name in _node_names(env)

    env.hold(2 * LOOP + 1, still_serving)
    assert "Traceback" not in daemon.log_text()
    assert daemon.metric("smart_autoscaler_kube_api_errors_total", operation="evict") >= 1
