"""Spot evictions of AKS nodes as the scale set shows them (a Spot VM turning Deleting that the
autoscaler did not delete), through the Azure SDKs against the fake ARM server."""

from __future__ import annotations

from providers.azure import names
from providers.interruptions import PREEMPTED
from tests.providers.azure_fixtures import clock, fake_azure, provider  # noqa: F401 - the fixtures
from tests.providers.test_azure_launch import request


def evict(fake, instance_id: str) -> None:
    """What Azure does to a Spot VM it evicts with the Delete policy: the VM starts deleting."""
    vmss, number = names.parse_instance_id(instance_id)
    fake.vms[vmss][number]["properties"]["provisioningState"] = "Deleting"


def test_an_evicted_spot_vm_is_a_notice_to_act_on_now(fake_azure, provider, clock):  # noqa: F811
    spot = provider.launch(request("a1", capacity="spot"))
    provider.launch(request("a2"))
    evict(fake_azure, spot.instance_id)
    provider.list_instances()  # the loop lists every pass
    [notice] = provider.interruption_notices().notices
    assert (notice.kind, notice.instance_id, notice.deadline) == (PREEMPTED, spot.instance_id, clock.now())


def test_a_deletion_the_autoscaler_asked_for_is_no_eviction(fake_azure, provider):  # noqa: F811
    spot = provider.launch(request("a1", capacity="spot"))
    provider.terminate(spot.instance_id)
    provider.list_instances()
    assert provider.interruption_notices().notices == ()
