"""AKS provider, failures: every Azure error code the issue names becomes the typed failure,
with the scope and the back-off Azure's behaviour calls for; a failed scale-out leaves
nothing behind. Errors come both as the synchronous answer and as a long-running operation
that ends Failed (Azure-AsyncOperation), through the real SDK's polling and error parsing.
A count change is an Agent Pools PUT; AKS passes the scale set's error on, often wrapped in
its own (`Code="..."` inside the message)."""

from __future__ import annotations

import pytest

from providers.azure.provider import AzureProvider
from providers.base import FailureKind, ProviderError
from tests.providers.azure_fixtures import clock, fake_azure, make_provider, provider, size  # noqa: F401
from tests.providers.test_azure_launch import request

COUNT_CHANGE = r"agentPools/[^/]+$"
HOUR = 3600.0
EAS_V5 = {"Standard_E2as_v5", "Standard_E4as_v5", "Standard_E8as_v5", "Standard_E16as_v5", "Standard_E20as_v5",
          "Standard_E32as_v5", "Standard_E48as_v5", "Standard_E64as_v5", "Standard_E96as_v5"}


def wait_for(condition, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the clean-up did not finish"
        time.sleep(0.05)


def launch_failure(provider: AzureProvider, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        provider.launch(request("will-fail", **kwargs))
    return caught.value


def only_scope(err: ProviderError):
    (scope,) = err.scopes
    return (None if scope.instance_types is None else set(scope.instance_types), scope.capacity_type, scope.zone)


@pytest.mark.parametrize(
    "code, capacity, zone, backoff",
    [
        ("AllocationFailed", "on-demand", "eastus", 1 * HOUR),
        ("OverconstrainedAllocationRequest", "spot", "eastus", 1 * HOUR),
        ("ZonalAllocationFailed", "on-demand", "eastus-2", 1 * HOUR),
        ("OverconstrainedZonalAllocationRequest", "spot", "eastus-3", 1 * HOUR),
    ],
)
def test_an_allocation_failure_in_the_operation_is_insufficient_capacity_of_the_offering(
    fake_azure, provider, code, capacity, zone, backoff
):
    """Given the count change is accepted and its operation then fails with `code`, then the
    launch fails with insufficient capacity for that size, capacity type and zone, backed off
    1 h, and the machine the failed operation made is deleted again, the count set back."""
    first = provider.launch(request("warm-pool", capacity=capacity, zone=zone))  # the pool exists, one node
    fake_azure.fail("PUT", COUNT_CHANGE, code, "Allocation failed. We do not have sufficient capacity.", in_operation=True)

    err = launch_failure(provider, capacity=capacity, zone=zone)

    assert (err.kind, err.code, err.backoff) == (FailureKind.INSUFFICIENT_CAPACITY, code, backoff)
    assert only_scope(err) == ({"Standard_D4s_v5"}, capacity, zone)
    (pool,) = fake_azure.pools
    wait_for(lambda: fake_azure.pools[pool]["properties"]["provisioningState"] == "Succeeded")  # the clean-up runs after the answer
    assert [f"{pool}/{m['name']}" for m in fake_azure.machines(pool)] == [first.instance_id]  # nothing left behind
    assert fake_azure.pools[pool]["properties"]["count"] == 1


@pytest.mark.parametrize("capacity, backoff", [("spot", 1 * HOUR), ("on-demand", 23 * HOUR)])
def test_a_sku_not_available_answer_backs_the_size_off_1h_spot_23h_on_demand(fake_azure, provider, capacity, backoff):
    fake_azure.fail(
        "PUT", COUNT_CHANGE, "SkuNotAvailable", status=409,
        message="The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_D4s_v5' "
        "is currently not available in location 'eastus'. Please try another size or deploy to a different location or different zone.",
    )
    err = launch_failure(provider, capacity=capacity)
    assert (err.kind, err.code, err.backoff) == (FailureKind.INSUFFICIENT_CAPACITY, "SkuNotAvailable", backoff)
    assert only_scope(err) == ({"Standard_D4s_v5"}, capacity, "eastus")


def quota_message(what: str) -> str:
    return (
        f"Operation could not be completed as it results in exceeding approved {what} quota. Additional details - "
        "Deployment Model: Resource Manager, Location: eastus, Current Limit: 10, Current Usage: 8, "
        "Additional Required: 4, (Minimum) New Limit Required: 12."
    )


@pytest.mark.parametrize(
    "what, capacity, scope",
    [
        ("LowPriorityCores", "spot", (None, "spot", None)),
        ("standardEASv5Family Cores", "on-demand", (EAS_V5, "on-demand", None)),
        ("Total Regional Cores", "on-demand", (None, "on-demand", None)),
    ],
)
def test_a_cores_quota_covers_spot_the_family_or_the_region(fake_azure, provider, what, capacity, scope):
    """OperationNotAllowed on LowPriorityCores: every Spot offering in the region; on a family's
    cores: every size of that family; on the total regional cores: every size. 10 min each."""
    fake_azure.fail("PUT", COUNT_CHANGE, "OperationNotAllowed", quota_message(what), status=409)
    err = launch_failure(provider, vm_size="Standard_E4as_v5", capacity=capacity)
    assert (err.kind, err.code, err.backoff) == (FailureKind.QUOTA_EXCEEDED, "OperationNotAllowed", 600.0)
    assert only_scope(err) == scope


def test_a_quota_failure_when_aks_creates_the_pool_is_a_quota_failure_too(fake_azure, provider):
    fake_azure.fail("PUT", r"agentPools/", "QuotaExceeded", "Preflight validation check for resource(s) for container service "
                    "aks1 in resource group rg-aks failed. Message: " + quota_message("standardEASv5Family Cores"), status=400)
    err = launch_failure(provider, vm_size="Standard_E4as_v5")
    assert err.kind == FailureKind.QUOTA_EXCEEDED
    assert only_scope(err) == (EAS_V5, "on-demand", None)
    assert fake_azure.pools == {}


def test_an_aks_wrapped_allocation_failure_is_found_inside_the_message(fake_azure, provider):
    fake_azure.fail("PUT", r"agentPools/", "ReconcileVMSSAgentPoolFailed",
                    'Code="ZonalAllocationFailed" Message="Allocation failed. We do not have sufficient capacity for the '
                    'requested VM size in this zone."', in_operation=True)
    err = launch_failure(provider, zone="eastus-1")
    assert (err.kind, err.code) == (FailureKind.INSUFFICIENT_CAPACITY, "ZonalAllocationFailed")
    assert only_scope(err) == ({"Standard_D4s_v5"}, "on-demand", "eastus-1")
    wait_for(lambda: fake_azure.pools == {})  # the pool whose creation failed is deleted: nothing left behind


def test_another_operation_in_progress_is_not_a_quota_failure(fake_azure, provider):
    """AKS refuses a second operation on a pool with OperationNotAllowed too; without a cores
    quota in the message it backs nothing off as a quota."""
    fake_azure.fail("PUT", COUNT_CHANGE, "OperationNotAllowed", "Operation is not allowed: Another agentpool operation "
                    "(sar1 - Updating) is in progress, please wait for it to finish before starting a new operation.", status=409)
    err = launch_failure(provider)
    assert err.kind == FailureKind.OTHER and err.code == "OperationNotAllowed" and err.scopes == ()


def test_throttling_after_the_sdks_retries_is_throttled_for_as_long_as_retry_after_says(fake_azure, provider):
    fake_azure.fail("GET", r"agentPools/[^/]+$", "TooManyRequests", "Too many requests", status=429, times=4, retry_after="0")
    err = launch_failure(provider)
    assert (err.kind, err.code, err.backoff) == (FailureKind.THROTTLED, "TooManyRequests", 0.0)
    assert only_scope(err) == (None, None, None)


def test_an_unknown_error_is_other_with_azures_code_in_the_message(fake_azure, provider):
    fake_azure.fail("PUT", COUNT_CHANGE, "InvalidParameter", "The value of parameter x is invalid.", status=400)
    err = launch_failure(provider)
    assert err.kind == FailureKind.OTHER and err.code == "InvalidParameter"
    assert "InvalidParameter" in str(err) and err.scopes == ()


def test_listing_when_azure_is_unreachable_is_a_provider_error(fake_azure, clock):
    provider = make_provider(fake_azure, clock, callTimeout="2s")
    provider.api.aks._client._base_url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(ProviderError):
        provider.list_instances()
