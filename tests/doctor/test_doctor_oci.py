"""`doctor`'s OCI part through the `oci` SDK against the local OKE / Identity server
(tests/providers/oke_server.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("oci")

from autoscaler.doctor.report import Status  # noqa: E402
from tests.providers.oke_server import OkeServer  # noqa: E402
from tests.providers.test_oci import settings  # noqa: E402


@pytest.fixture
def server():
    with OkeServer() as running:
        yield running


def run_oci(server, **options) -> dict:
    from autoscaler.doctor import oci

    return {c.what: c for c in oci.checks(settings(server.endpoint, **options))}


def test_the_read_calls_prove_their_statements_and_nothing_is_changed(server):
    checks = run_oci(server)
    assert checks["OKE cluster"].status is Status.OK and "Kubernetes v1.31.1, ACTIVE" in checks["OKE cluster"].detail
    assert checks["availability domains"].detail.startswith("Uocm:US-ASHBURN-AD-1, Uocm:US-ASHBURN-AD-2")
    assert checks["node pools of the compartment"].status is Status.OK
    # the write halves of the policy cannot be proved read-only: said, not hidden
    assert checks["policy statements with writes"].status is Status.WARN
    assert {operation for operation, _, _ in server.state.calls} == {"GetCluster", "ListNodePools", "ListAvailabilityDomains"}


def test_a_denied_read_names_the_policy_statement(server):
    server.state.fail_next("ListNodePools", 404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
    check = run_oci(server)["node pools of the compartment"]
    assert check.status is Status.FAIL and "manage cluster-node-pools" in check.fix


def test_missing_options_are_one_failure(server):
    checks = run_oci(server, clusterId="")
    assert list(checks) == ["configuration"] and "oci.clusterId" in checks["configuration"].detail
