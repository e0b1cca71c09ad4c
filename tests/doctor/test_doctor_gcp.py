"""`doctor`'s GCP part through the Google SDKs' REST transport against the local GKE / Compute /
Resource Manager server (tests/gcp_fake.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("google.cloud.compute_v1")
pytest.importorskip("google.cloud.container_v1")

from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.doctor.report import Report, Status  # noqa: E402
from tests.gcp_fake import FakeGcp, sku  # noqa: E402

REGION = "us-central1"


@pytest.fixture
def gcp():
    fake = FakeGcp(project="proj", location=REGION, cluster="c1")
    fake.region_quotas = [
        {"metric": "CPUS", "limit": 24.0, "usage": 8.0},
        {"metric": "N2_CPUS", "limit": 24.0, "usage": 0.0},
        {"metric": "NVIDIA_T4_GPUS", "limit": 0.0, "usage": 0.0},
        {"metric": "NVIDIA_L4_GPUS", "limit": 4.0, "usage": 0.0},
    ]
    fake.skus = [sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION], 0.031611)]
    fake.endpoint = fake.start()
    yield fake
    fake.stop()


def run_gcp(fake, **options) -> Report:
    from autoscaler.doctor import gcp

    config = config_from_mapping({"cloud": "gcp", "region": REGION, "clusterName": "c1",
                                  "gcp": {"project": "proj", "apiEndpoint": fake.endpoint, **options}})
    report = Report()
    report.add(gcp.checks(config))
    return report


def line(report: Report, what: str):
    return next(c for c in report.checks if c.what == what)


def test_a_project_holding_every_permission_passes_and_nothing_is_changed(gcp):
    report = run_gcp(gcp)
    assert [c.what for c in report.checks if c.status is Status.FAIL] == [], report.to_table()
    assert line(report, "GKE cluster").detail == "c1: Kubernetes 1.31.5-gke.1000, RUNNING, 34.118.0.10"
    assert line(report, "IAM container.nodePools.create").status is Status.OK
    assert line(report, "quota CPUS").detail == "24 in us-central1 (8 used)"
    # a GPU quota of zero is a warning: pods asking for T4s would stay pending
    assert line(report, "quota NVIDIA_T4_GPUS").status is Status.WARN
    assert line(report, "live prices (Cloud Billing Catalog)").status is Status.OK
    # only reads: GETs, and the POST of testIamPermissions (it answers, it changes nothing)
    writes = [(m, p) for m, p in gcp.calls if m != "GET" and not p.endswith(":testIamPermissions")]
    assert writes == []


def test_a_missing_permission_is_named_with_what_needs_it(gcp):
    from autoscaler.doctor.gcp import PERMISSIONS

    gcp.granted = {p for p, _ in PERMISSIONS} - {"compute.instanceGroupManagers.update"}
    report = run_gcp(gcp)
    [failed] = [c for c in report.checks if c.status is Status.FAIL]
    assert failed.what == "IAM compute.instanceGroupManagers.update"
    assert "createInstances / deleteInstances" in failed.fix and report.exit_code() == 1


def test_an_unknown_cluster_and_a_cpu_quota_of_zero_fail(gcp):
    gcp.region_quotas = [{"metric": "CPUS", "limit": 0.0, "usage": 0.0}]
    report = run_gcp(gcp, cluster="elsewhere")
    assert line(report, "GKE cluster").status is Status.FAIL and "'elsewhere'" in line(report, "GKE cluster").detail
    assert line(report, "quota CPUS").status is Status.FAIL


def test_no_credentials_is_one_failure(monkeypatch, tmp_path):
    from autoscaler.doctor import gcp

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    config = config_from_mapping({"cloud": "gcp", "region": REGION, "gcp": {"project": "proj"}})
    [check] = gcp.checks(config)
    assert check.what == "credentials" and check.status is Status.FAIL and "Workload Identity" in check.fix


def test_act_as_granted_on_the_node_service_account_itself_counts(gcp):
    from autoscaler.doctor.gcp import PERMISSIONS

    nodes = "gke-nodes@proj.iam.gserviceaccount.com"
    gcp.granted = {p for p, _ in PERMISSIONS} - {"iam.serviceAccounts.actAs"}
    report = run_gcp(gcp, serviceAccount=nodes)
    act_as = line(report, "IAM iam.serviceAccounts.actAs")
    assert act_as.status is Status.FAIL  # held nowhere
    gcp.granted_on_accounts[nodes] = {"iam.serviceAccounts.actAs"}
    act_as = line(run_gcp(gcp, serviceAccount=nodes), "IAM iam.serviceAccounts.actAs")
    assert act_as.status is Status.OK and act_as.detail == f"held on {nodes}"
