"""`smart-autoscaler doctor` on the real control plane, run as a user runs it (the CLI in a
subprocess), under a ServiceAccount that holds the chart's ClusterRole and Lease Role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from autoscaler.doctor.access import needed
from tests.e2e.daemon_helpers import REPO, daemon_cluster_rules, grant_service_account, revoke, wait_for, without_verb

pytestmark = pytest.mark.e2e


def doctor(kubeconfig: Path, namespace: str, tmp_path: Path, *extra: str, config: dict | None = None,
           output: str = "json") -> tuple[int, str, str]:
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({"cloud": "aws", "region": "us-east-1", **(config or {})}))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "KUBECONFIG", "POD_NAMESPACE")}
    proc = subprocess.run(
        [sys.executable, "-m", "autoscaler", "doctor", "--provider", "simulated", "--kubeconfig", str(kubeconfig),
         "--lease-namespace", namespace, "--config", str(path), "-o", output, *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def kubernetes_lines(stdout: str) -> list[dict]:
    return [c for c in json.loads(stdout)["checks"] if c["area"] == "Kubernetes"]


@pytest.fixture
def granted(k8s_client, control_plane, namespace, tmp_path):
    grants = []

    def grant(rules=None, name="smart-autoscaler"):
        made = grant_service_account(k8s_client, control_plane, namespace, tmp_path, name=name, cluster_rules=rules)
        grants.append(made)
        return made

    yield grant
    for made in grants:
        revoke(k8s_client, made)


def test_the_charts_roles_pass_every_kubernetes_check(granted, namespace, tmp_path):
    # given the daemon's ServiceAccount with exactly the chart's ClusterRole and Lease Role
    grant = granted()
    # when doctor runs with its token
    code, stdout, stderr = doctor(grant.kubeconfig, namespace, tmp_path)
    # then every Kubernetes line is ✓ (or not needed), every verb of the daemon was asked, exit 0
    lines = kubernetes_lines(stdout)
    assert code == 0, stdout + stderr
    assert [c for c in lines if c["status"] not in ("ok", "skip")] == []
    rbac = [c["what"] for c in lines if c["what"].startswith("RBAC: ")]
    assert "RBAC: create pods/eviction" in rbac and "RBAC: update leases.coordination.k8s.io" in rbac
    assert "RBAC: create nodes" in rbac  # the simulated provider registers Nodes
    # 25: + get namespaces/kube-system (the cluster identity), list+watch of claims, volumes and classes
    assert len(rbac) == len(needed(hot_nodes=False, simulated=True, leader_election=True)) == 25
    identity = next(c for c in lines if c["what"] == "identity")
    assert identity["detail"] == f"system:serviceaccount:{namespace}:smart-autoscaler"
    assert "Kubernetes v1." in next(c for c in lines if c["what"] == "API server reachable")["detail"]


def test_one_verb_removed_from_the_role_is_named_and_exits_1(granted, namespace, tmp_path):
    # given the chart's ClusterRole without `create` on pods/eviction
    grant = granted(without_verb(daemon_cluster_rules(), "pods/eviction", "create"), name="no-evict")
    # when doctor runs (table output, as a person reads it)
    code, stdout, stderr = doctor(grant.kubeconfig, namespace, tmp_path, output="table")
    # then exactly that verb is ✗, with the file that grants it, and the exit code is 1
    assert code == 1, stdout + stderr
    failed = [line for line in stdout.splitlines() if line.strip().startswith("✗")]
    assert failed == ["  ✗ RBAC: create pods/eviction  denied (all namespaces)"], stdout
    assert "helm/smart-autoscaler/files/clusterrole-rules.yaml" in stdout
    assert "Traceback" not in stdout + stderr


def test_a_missing_lease_verb_is_named_for_the_lease_namespace(granted, k8s_client, namespace, tmp_path):
    grant = granted()
    from kubernetes import client

    client.RbacAuthorizationV1Api(k8s_client).delete_namespaced_role_binding("smart-autoscaler-leader-election", namespace)
    code, stdout, _ = doctor(grant.kubeconfig, namespace, tmp_path)
    failed = {c["what"]: c for c in kubernetes_lines(stdout) if c["status"] == "fail"}
    assert code == 1
    assert set(failed) == {"RBAC: get leases.coordination.k8s.io", "RBAC: update leases.coordination.k8s.io",
                           "RBAC: create leases.coordination.k8s.io"}
    assert f"namespace {namespace}, Lease smart-autoscaler" in failed["RBAC: get leases.coordination.k8s.io"]["detail"]
    # without leader election the Lease is not needed
    code, stdout, _ = doctor(grant.kubeconfig, namespace, tmp_path, "--no-leader-elect")
    assert code == 0, stdout


def test_a_gpu_pod_without_a_device_plugin_fails_until_the_plugin_daemonset_exists(granted, core_v1, apps_v1, namespace, tmp_path):
    grant = granted()
    # given a pending pod that asks for an NVIDIA GPU, and no device plugin
    core_v1.create_namespaced_pod(namespace, {"metadata": {"name": "trainer"}, "spec": {"containers": [{
        "name": "main", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}}]}})
    code, stdout, _ = doctor(grant.kubeconfig, namespace, tmp_path)
    plugin = next(c for c in kubernetes_lines(stdout) if c["what"] == "device plugin for nvidia.com/gpu")
    assert code == 1 and plugin["status"] == "fail"
    assert f"pod {namespace}/trainer" in plugin["detail"] and "NVIDIA/k8s-device-plugin" in plugin["fix"]
    # when NVIDIA's device plugin DaemonSet is installed (its manifest's name and image)
    apps_v1.create_namespaced_daemon_set(namespace, {
        "metadata": {"name": "nvidia-device-plugin-daemonset"},
        "spec": {"selector": {"matchLabels": {"name": "nvidia-device-plugin-ds"}}, "template": {
            "metadata": {"labels": {"name": "nvidia-device-plugin-ds"}},
            "spec": {"nodeSelector": {"nvidia.com/gpu.present": "true"}, "containers": [{
                "name": "nvidia-device-plugin-ctr", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}]}}}})
    code, stdout, _ = doctor(grant.kubeconfig, namespace, tmp_path)
    plugin = next(c for c in kubernetes_lines(stdout) if c["what"] == "device plugin for nvidia.com/gpu")
    assert plugin["status"] == "ok" and "nvidia-device-plugin-daemonset" in plugin["detail"]


def test_hot_node_mitigation_checks_the_metrics_api(granted, metrics_server, namespace, tmp_path):
    # given hot-node mitigation on and metrics-server serving metrics.k8s.io
    grant = granted()

    def answered():  # metrics-server needs a scrape or two after it starts
        _, stdout, _ = doctor(grant.kubeconfig, namespace, tmp_path, config={"manageHighUtilization": {"enabled": True}})
        lines = {c["what"]: c for c in kubernetes_lines(stdout)}
        return lines if lines["metrics API (metrics.k8s.io)"]["status"] != "fail" else None

    lines = wait_for(answered, 90, "doctor's metrics line without ✗", interval=3)
    # then the metrics lists are asked for and the API answers
    assert lines["RBAC: list nodes.metrics.k8s.io"]["status"] == "ok"
    assert lines["metrics API (metrics.k8s.io)"]["status"] in ("ok", "warn"), lines["metrics API (metrics.k8s.io)"]
    assert lines["metrics API (metrics.k8s.io)"]["detail"].startswith(("served", "0 of"))
