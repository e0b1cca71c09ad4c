"""Spot VM preemptions read as Compute Engine reports them: zonal operations of type
`compute.instances.preempted` (tests/gcp_fake.py answers zoneOperations.list with an
OperationList narrowed by `filter`), through the SDK's REST transport."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pricing.types import SPOT
from providers.interruptions import PREEMPTED
from tests.providers.gcp.conftest import make_provider, request


def rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "-00:00")


def test_a_preempted_spot_vm_is_a_notice_with_thirty_seconds_left(gcp):
    provider = make_provider(gcp)
    instance = provider.launch(request("n1-standard-8", capacity=SPOT))
    provider.list_instances()  # the loop lists every pass: the pools (and their zones) are known
    preempted_at = datetime.now(timezone.utc) - timedelta(seconds=5)
    gcp.preempt(instance.instance_id, rfc3339(preempted_at))
    [notice] = provider.interruption_notices().notices
    assert (notice.kind, notice.instance_id) == (PREEMPTED, instance.instance_id)
    assert abs(notice.deadline - (preempted_at.timestamp() + 30)) < 0.01
    # the provider asked only for preemptions, by filter, in the spot pool's zone
    assert gcp.count(r"GET /compute/v1/projects/proj/zones/[^/]+/operations$") == 1


def test_old_preemptions_and_on_demand_pools_give_no_notice(gcp):
    provider = make_provider(gcp)
    spot = provider.launch(request("n1-standard-8", capacity=SPOT))
    provider.launch(request("n2-standard-4", key="req-2"))
    provider.list_instances()
    gcp.preempt(spot.instance_id, rfc3339(datetime.now(timezone.utc) - timedelta(hours=2)))
    assert provider.interruption_notices().notices == ()


def test_no_spot_pool_means_no_call(gcp):
    provider = make_provider(gcp)
    provider.launch(request("n2-standard-4"))
    provider.list_instances()
    assert provider.interruption_notices().notices == ()
    assert gcp.count(r"/operations$") == 0


def test_a_filter_the_api_would_reject_fails_in_the_fake(gcp):
    import urllib.error
    import urllib.request

    url = f"{gcp.endpoint}/compute/v1/projects/proj/zones/us-central1-a/operations?filter=operationType%20%3C%3E"
    try:
        urllib.request.urlopen(url)
        raise AssertionError("the fake accepted an invalid filter")
    except urllib.error.HTTPError as err:
        assert err.code == 400
