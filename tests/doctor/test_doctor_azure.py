"""`doctor`'s Azure part through the Azure SDKs against the local Resource Manager server
(tests/providers/fake_azure.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("azure.mgmt.containerservice")

from autoscaler.doctor.report import Report, Status  # noqa: E402
from tests.providers.azure_fixtures import azure_config  # noqa: E402
from tests.providers.fake_azure import RESOURCE_GROUP, start_fake_azure  # noqa: E402

ROLE = Path(__file__).resolve().parents[2] / "helm" / "smart-autoscaler" / "files" / "azure-role.json"


@pytest.fixture
def fake():
    fake, server = start_fake_azure()
    fake.usages = [
        {"unit": "Count", "currentValue": 8, "limit": 100, "name": {"value": "standardDsv6Family", "localizedValue": "Standard Dsv6 Family vCPUs"}},
        {"unit": "Count", "currentValue": 0, "limit": 0, "name": {"value": "Standard NCASv3_T4 Family", "localizedValue": "Standard NCASv3_T4 Family vCPUs"}},
    ]
    fake.price_pages = [[{"armRegionName": "eastus", "armSkuName": "Standard_D2s_v6", "retailPrice": 0.096, "unitOfMeasure": "1 Hour",
                          "type": "Consumption", "productName": "Virtual Machines Dsv6 Series", "skuName": "D2s v6", "meterName": "D2s v6"}]]
    yield fake
    server.shutdown()


def run_azure(fake) -> Report:
    from autoscaler.doctor import azure

    report = Report()
    report.add(azure.checks(azure_config(resourceManagerEndpoint=fake.base_url, retailPricesURL=f"{fake.base_url}/api/retail/prices")))
    return report


def line(report: Report, what: str):
    return next(c for c in report.checks if c.what == what)


def role_entry(actions):
    return [{"actions": list(actions), "notActions": [], "dataActions": [], "notDataActions": []}]


def test_the_charts_role_passes_and_nothing_is_changed(fake):
    # given the chart's role at the cluster's resource group
    actions = json.loads(ROLE.read_text())["Actions"]
    fake.permissions = {RESOURCE_GROUP: role_entry(actions)}
    report = run_azure(fake)
    assert [c.what for c in report.checks if c.status is Status.FAIL] == [], report.to_table()
    assert line(report, "AKS cluster").detail.startswith("aks1: Kubernetes 1.31.2, Succeeded")
    assert line(report, "kubelet identity").detail.endswith("userAssignedIdentities/aks1-agentpool")
    assert line(report, "quota standardDsv6Family").detail == "100 vCPUs in eastus (8 used)"
    assert line(report, "quota Standard NCASv3_T4 Family").status is Status.WARN  # a GPU family at zero
    assert line(report, "live prices (Retail Prices API)").status is Status.OK
    assert [(m, p) for m, p, _ in fake.requests if m != "GET"] == []


def test_doctors_action_table_is_the_charts_role():
    from autoscaler.doctor.azure import ACTIONS

    assert sorted(action for action, _ in ACTIONS) == sorted(json.loads(ROLE.read_text())["Actions"])


def test_an_action_missing_from_the_role_is_named(fake):
    actions = json.loads(ROLE.read_text())["Actions"]
    missing = "Microsoft.ContainerService/managedClusters/agentPools/deleteMachines/action"
    fake.permissions = {RESOURCE_GROUP: role_entry(a for a in actions if a != missing)}
    report = run_azure(fake)
    [failed] = [c for c in report.checks if c.status is Status.FAIL]
    assert failed.what == missing
    assert RESOURCE_GROUP in failed.detail and "azure-role.json" in failed.fix


def test_not_actions_take_an_action_away(fake):
    fake.permissions = {RESOURCE_GROUP: [{"actions": ["*"], "notActions": ["Microsoft.ContainerService/managedClusters/agentPools/delete"]}]}
    report = run_azure(fake)
    assert [c.what for c in report.checks if c.status is Status.FAIL] == ["Microsoft.ContainerService/managedClusters/agentPools/delete"]


def test_an_unknown_cluster_fails(fake):
    from autoscaler.doctor import azure

    config = azure_config(resourceManagerEndpoint=fake.base_url, clusterName="elsewhere")
    checks = {c.what: c for c in azure.checks(config)}
    assert checks["AKS cluster"].status is Status.FAIL and "'elsewhere'" in checks["AKS cluster"].detail


def test_missing_subscription_is_one_failure(monkeypatch):
    from autoscaler.config import config_from_mapping
    from autoscaler.doctor import azure

    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    [check] = azure.checks(config_from_mapping({"cloud": "azure", "region": "eastus"}))
    assert check.status is Status.FAIL and "azure.subscriptionId" in check.detail


def test_a_credential_without_a_token_is_one_failure():
    from autoscaler.doctor import azure

    class NoToken:
        def get_token(self, *scopes, **kwargs):
            raise RuntimeError("ManagedIdentityCredential: no managed identity endpoint found")

    [check] = azure.checks(azure_config(), credential=NoToken())
    assert check.what == "credentials" and check.status is Status.FAIL and "azureClientId" in check.fix
