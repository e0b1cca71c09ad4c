"""`smart-autoscaler doctor` as a user meets it: the configuration part, the exit code, the
table and JSON outputs, and failures that are ✗ lines, never tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.doctor.report import Status
from autoscaler.doctor.run import DoctorOptions, run_doctor

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def offline(config: str | None = None, **options) -> DoctorOptions:
    return DoctorOptions(config=config, kubernetes=False, cloud=False, **options)


def by_what(report) -> dict:
    return {c.what: c for c in report.checks}


def test_a_valid_configuration_lists_the_options_it_sets_and_where_they_came_from(tmp_path):
    path = write(tmp_path, "cloud: aws\nregion: us-west-2\nmaxNodes: 40\nscaleDown:\n  nodeUnneededDuration: 2m\n")
    report = run_doctor(offline(path))
    assert by_what(report)["configuration"].status is Status.OK
    options = {o["name"]: o for o in report.options}
    assert options["maxNodes"] == {"name": "maxNodes", "value": 40, "source": path}
    assert options["scaleDown.nodeUnneededDuration"]["value"] == 120.0
    assert options["loopPeriod"]["source"] == "default"
    table = report.to_table()
    assert f"maxNodes = 40  ({path})" in table and "loopPeriod" not in table
    assert report.exit_code() == 0


def test_an_invalid_configuration_is_one_failure_naming_the_key(tmp_path):
    report = run_doctor(offline(write(tmp_path, "maxNodes: lots\n")))
    [check] = report.checks
    assert check.status is Status.FAIL and "maxNodes" in check.detail and report.exit_code() == 1


def test_a_type_regexp_nothing_matches_and_a_cost_ceiling_below_every_node(tmp_path):
    # given options no offering of AWS us-east-1 can satisfy
    path = write(tmp_path, "cloud: aws\nregion: us-east-1\nbinPackingNodeTypeRegexp: '^zz'\nmaxClusterHourlyCost: 0.001\n"
                           "minNodeCpu: 2\nminNodeMemory: 4Gi\n")
    report = run_doctor(offline(path))
    checks = by_what(report)
    # then each is a ✗ naming the option, with the numbers
    assert checks["binPackingNodeTypeRegexp"].status is Status.FAIL
    assert "'^zz' matches no instance type offered in aws us-east-1" in checks["binPackingNodeTypeRegexp"].detail
    cost = checks["maxClusterHourlyCost"]
    assert cost.status is Status.FAIL and "$0.001/h is below the cheapest node that fits" in cost.detail
    assert report.exit_code() == 1


def test_gpu_options_in_a_region_with_gpus_and_an_extended_resource_regexp(tmp_path):
    path = write(tmp_path, "cloud: aws\nregion: us-east-1\nbinPackingNodeGPU: 1\nmaxClusterHourlyCost: 50\n"
                           "extendedResources:\n  example.com/fpga: {typeRegexp: '^nothing', count: 1}\n")
    report = run_doctor(offline(path))
    checks = by_what(report)
    assert checks["GPU node types"].status is Status.OK
    assert checks["maxClusterHourlyCost"].status is Status.OK
    assert checks["extendedResources example.com/fpga"].status is Status.FAIL


def test_a_missing_cloud_sdk_is_a_failure_with_the_extra_to_install(monkeypatch):
    from autoscaler.doctor import aws

    monkeypatch.setattr(aws, "sdk_available", lambda: False)
    report = run_doctor(DoctorOptions(kubernetes=False))
    check = by_what(report)["cloud SDK"]
    assert check.status is Status.FAIL and "pip install 'smart-autoscaler[aws]'" in check.fix


def test_an_unreachable_api_server_is_a_failure_and_the_rest_still_reports(tmp_path):
    from tests.kube.fakeapi import FakeApiServer

    closed = FakeApiServer.closed_client().configuration.host
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": closed}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    report = run_doctor(DoctorOptions(kubeconfig=str(kubeconfig), provider="simulated"))
    checks = by_what(report)
    assert checks["API server reachable"].status is Status.FAIL and closed in checks["API server reachable"].detail
    assert checks["cloud account"].status is Status.SKIP  # the cloud part still ran
    assert report.exit_code() == 1


def test_the_cli_prints_json_and_never_a_traceback(tmp_path):
    # a kubeconfig that does not exist, a cloud without credentials: ✗ lines, exit 1
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    proc = subprocess.run([sys.executable, "-m", "autoscaler", "doctor", "--kubeconfig", str(tmp_path / "none"),
                           "--provider", "simulated", "-o", "json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    assert body["healthy"] is False and body["summary"]["fail"] == 1
    assert [c["what"] for c in body["checks"] if c["status"] == "fail"] == ["client configuration"]
    assert "Traceback" not in proc.stderr


def test_stale_node_metrics_fail_when_hot_node_mitigation_is_on():
    # a metrics API that answers with samples older than maxMetricsAge (what a stuck
    # metrics-server serves; the real one cannot be made to do it on demand)
    from autoscaler.config import config_from_mapping
    from autoscaler.doctor.kube import KubeTarget, metrics_api
    from tests.kube.fakeapi import FakeApiServer, Reply

    server = FakeApiServer()
    try:
        old = "2020-01-01T00:00:00Z"
        server.on("GET", "/apis/metrics.k8s.io/v1beta1/nodes", Reply(200, {"items": [
            {"metadata": {"name": "n1"}, "timestamp": old, "window": "15s", "usage": {"cpu": "1", "memory": "1Gi"}}]}))
        server.on("GET", "/apis/metrics.k8s.io/v1beta1/pods", Reply(200, {"items": []}))
        server.on("GET", "/api/v1/nodes", Reply(200, {"metadata": {}, "items": [{"metadata": {"name": "n1"}}]}))
        config = config_from_mapping({"manageHighUtilization": {"enabled": True}})
        [check] = metrics_api(KubeTarget(server.api_client(), server.url), config)
        assert check.status is Status.FAIL and "no node has metrics newer than 150s" in check.detail
        # and a cluster without metrics-server (404 for the group)
        server.on("GET", "/apis/metrics.k8s.io/v1beta1/nodes", Reply(404, {"kind": "Status", "code": 404}))
        [check] = metrics_api(KubeTarget(server.api_client(), server.url), config)
        assert check.status is Status.FAIL and "metrics-server" in check.fix
    finally:
        server.close()


@pytest.mark.parametrize("hot", [False, True])
def test_the_access_table_asks_for_metrics_only_with_hot_node_mitigation(hot):
    from autoscaler.doctor.access import needed

    labels = {a.label for a in needed(hot_nodes=hot, simulated=False, leader_election=True)}
    assert ("list nodes.metrics.k8s.io" in labels) is hot
    assert "create nodes" not in labels and "create pods/eviction" in labels


def test_the_kubernetes_part_only_reads_and_asks(tmp_path):
    # given an API server that records every request (the real one keeps no such record)
    from autoscaler.doctor.kube import KubeTarget, device_plugins, identity, permissions
    from tests.kube.fakeapi import FakeApiServer, Reply

    server = FakeApiServer()
    try:
        def review(request):
            return Reply(201, {**request.body, "status": {"allowed": True}})

        server.on("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
        server.on("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                  Reply(201, {"kind": "SelfSubjectReview", "status": {"userInfo": {"username": "system:serviceaccount:kube-system:sa"}}}))
        server.on("GET", "/api/v1/pods", Reply(200, {"metadata": {}, "items": []}))
        from autoscaler.config import Config

        target = KubeTarget(server.api_client(), server.url)
        checks = identity(target) + permissions(target, hot_nodes=True, simulated=False, lease=("kube-system", "sa"))
        checks += device_plugins(target, Config())
        assert all(c.status.value == "ok" for c in checks), [c for c in checks if c.status.value != "ok"]
        # then every request was a GET or a review, which the API server answers and stores nowhere
        kinds = {(r.method, r.path) for r in server.requests}
        assert {m for m, _ in kinds} <= {"GET", "POST"}
        assert {p for m, p in kinds if m == "POST"} == {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                                        "/apis/authentication.k8s.io/v1/selfsubjectreviews"}
        reviewed = [r.body["spec"]["resourceAttributes"] for r in server.sent("POST", ".*selfsubjectaccessreviews")]
        assert {"group": "", "resource": "pods", "subresource": "eviction", "verb": "create"} in reviewed
        assert {"group": "coordination.k8s.io", "resource": "leases", "verb": "update", "namespace": "kube-system",
                "name": "sa"} in reviewed
    finally:
        server.close()
