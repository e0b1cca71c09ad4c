"""Spot evictions of AKS nodes as the Machines API shows them (a Spot machine gone from its
pool that the autoscaler did not delete), through the Azure SDKs against the fake ARM server."""

from __future__ import annotations

from providers.azure import names
from providers.interruptions import PREEMPTED
from tests.providers.azure_fixtures import clock, fake_azure, provider  # noqa: F401 - the fixtures
from tests.providers.test_azure_launch import request


def evict(fake, instance_id: str) -> None:
    """What Azure does to a Spot VM it evicts with the Delete policy ("Use Azure Spot Virtual
    Machines"): the VM is deleted from the pool's scale set, and the pool's machine list no
    longer shows it."""
    pool, machine = names.parse_instance_id(instance_id)
    with fake.lock:
        vms = fake.vms[fake.vmss_of(pool)]
        [number] = [n for n, vm in vms.items() if vm["properties"]["osProfile"]["computerName"] == machine]
        del vms[number]


def test_an_evicted_spot_machine_is_a_notice_to_act_on_now(fake_azure, provider, clock):  # noqa: F811
    spot = provider.launch(request("a1", capacity="spot"))
    provider.launch(request("a2"))
    provider.list_instances()  # the loop lists every pass
    evict(fake_azure, spot.instance_id)
    assert spot.instance_id not in {i.instance_id for i in provider.list_instances()}
    [notice] = provider.interruption_notices().notices
    assert (notice.kind, notice.instance_id, notice.deadline) == (PREEMPTED, spot.instance_id, clock.now())
    # gone from the listing: the notice names its Node by provider id, and its offering for the back-off
    assert notice.provider_id == spot.provider_id and notice.offering == ("Standard_D4s_v5", "spot", "eastus")


def test_a_deletion_the_autoscaler_asked_for_is_no_eviction(fake_azure, provider):  # noqa: F811
    spot = provider.launch(request("a1", capacity="spot"))
    provider.list_instances()
    provider.terminate(spot.instance_id)
    provider.list_instances()
    assert provider.interruption_notices().notices == ()


def test_an_on_demand_machine_gone_is_no_spot_eviction(fake_azure, provider):  # noqa: F811
    regular = provider.launch(request("a1"))
    provider.list_instances()
    evict(fake_azure, regular.instance_id)
    provider.list_instances()
    assert provider.interruption_notices().notices == ()
