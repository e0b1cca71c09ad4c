"""A pod's persistent volume decides its zone, against the real control plane: the volume
controller (kube-controller-manager) binds the claim, kube-scheduler's VolumeBinding plugin
places the pod only on a node its volume reaches, and the daemon launches that node.

Numbers: cloud aws / us-east-1, loopPeriod 2s. A pod of 1 CPU fits t3a.xlarge, offered in
us-east-1a, b, c, d and f at one price; its volume is reachable from us-east-1d only.
"""

from __future__ import annotations

import pytest

from tests.e2e.daemon_helpers import managed_pod, running, unschedulable

pytestmark = pytest.mark.e2e

ZONE = "topology.kubernetes.io/zone"


def _volume(name: str, claim_namespace: str, zone: str) -> dict:
    """A pre-bound hostPath volume reachable from one zone (PersistentVolume.spec.nodeAffinity)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
            "hostPath": {"path": f"/tmp/{name}"}, "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": claim_namespace, "name": "data"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": ZONE, "operator": "In", "values": [zone]}]}]}},
        },
    }


def test_a_pod_whose_volume_is_in_one_zone_gets_a_node_in_that_zone(autoscaler, core_v1, namespace):
    env = autoscaler
    volume = f"pv-{namespace}"
    # Given a volume in us-east-1d bound to claim "data", and a pending pod using the claim
    core_v1.create_persistent_volume(_volume(volume, namespace, "us-east-1d"))
    try:
        core_v1.create_namespaced_persistent_volume_claim(namespace, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": volume,
                     "resources": {"requests": {"storage": "1Gi"}}},
        })
        env.wait(lambda: core_v1.read_namespaced_persistent_volume_claim("data", namespace).status.phase == "Bound",
                 30, "the volume controller binds claim data")
        pod = managed_pod("db", "1")
        pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
        core_v1.create_namespaced_pod(namespace, pod)
        env.wait(lambda: unschedulable(core_v1.read_namespaced_pod("db", namespace)), 20,
                 "kube-scheduler finds no node for db")

        # When the daemon runs
        env.start()

        # Then one node is launched, in us-east-1d, and kube-scheduler binds the pod to it
        bound = env.wait(lambda: running([core_v1.read_namespaced_pod("db", namespace)]), 40, "db Running")
        (node,) = env.managed_nodes()
        assert bound[0].spec.node_name == node.metadata.name
        assert node.metadata.labels[ZONE] == "us-east-1d"
        assert len(env.instances()) == 1
    finally:
        core_v1.delete_persistent_volume(volume)
