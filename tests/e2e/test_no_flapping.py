"""No flapping on the real control plane: a node launched for a pod and taken by another.

The daemon (`run --provider simulated`, loopPeriod 2s, --simulated-launch-delay 3s) launches
a t3a.xlarge (3920m allocatable) for managed pod P of 3 CPU. An older-in-the-queue pod Q of
3 CPU, not managed and of a higher priority (preemptionPolicy Never, so it never evicts P),
waits for any node the autoscaler creates. When the node registers, kube-scheduler gives it
to Q. P must get a new node at once, from a new launch (a new request id), not the old
instance back again and again until scaleUpTimeout (2m here).
"""

from __future__ import annotations

import calendar
import re

import pytest

from tests.e2e.daemon_helpers import CREATED_BY_SELECTOR, events_for, managed_pod, pod_spec

pytestmark = pytest.mark.e2e

LOOP = 2.0


def _epoch(timestamp) -> float:
    return calendar.timegm(timestamp.utctimetuple())


def test_node_taken_by_another_pod_gets_the_pod_a_new_node_with_a_new_key(autoscaler, core_v1, k8s_client, namespace):
    from kubernetes import client

    env = autoscaler
    scheduling = client.SchedulingV1Api(k8s_client)
    priority = f"taker-{namespace}"
    scheduling.create_priority_class({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": priority},
        "value": 1000, "preemptionPolicy": "Never",
    })
    try:
        daemon = env.start()
        key, value = CREATED_BY_SELECTOR.split("=")
        core_v1.create_namespaced_pod(namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "q", "labels": {"app": "q"}},
            "spec": {**pod_spec("3"), "priorityClassName": priority, "nodeSelector": {key: value}},
        })
        core_v1.create_namespaced_pod(namespace, managed_pod("p", "3"))

        [first] = env.wait(lambda: env.live_instances(), 20, "a launch for P")
        q = env.wait(lambda: (p := core_v1.read_namespaced_pod("q", namespace)).spec.node_name and p, 30,
                     "Q bound to the node launched for P")
        assert q.spec.node_name == f"sim-{first['instance_id']}"
        taken = core_v1.read_node(q.spec.node_name)

        p = env.wait(lambda: (x := core_v1.read_namespaced_pod("p", namespace)).status.phase == "Running" and x,
                     40, "P Running on a second node")
        assert p.spec.node_name != q.spec.node_name
        instances = env.instances()
        assert len(instances) == 2
        second = next(i for i in instances if i["instance_id"] != first["instance_id"])
        assert second["request_id"] != first["request_id"]
        # launched within a few loops of the first node registering, far before scaleUpTimeout
        assert second["launched_at"] - _epoch(taken.metadata.creation_timestamp) < 5 * LOOP + 5
        [warning] = env.wait(lambda: events_for(core_v1, namespace, name="p", reason="LaunchedNodeTaken"), 10,
                             "a LaunchedNodeTaken event on P")
        assert warning.type == "Warning"
        assert f"{namespace}/q" in warning.message and q.spec.node_name in warning.message

        def two_nodes_two_launches():
            assert len(env.instances()) == 2
            assert len(re.findall(r"launch: launched i-", daemon.log_text())) == 2

        env.hold(3 * LOOP + 1, two_nodes_two_launches)
        daemon.stop()  # SIGTERM: stops its cloud calls, says so, exits 0
        env.killed(daemon)
        assert daemon.proc.returncode == 0
        assert re.search(r"stopped: \d+ cloud call\(s\) in flight finished, \d+ abandoned", daemon.log_text())
        assert "smart-autoscaler stopped" in daemon.log_text()
        assert "Traceback" not in daemon.log_text()
    finally:
        scheduling.delete_priority_class(priority)
