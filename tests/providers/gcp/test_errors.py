"""Every GCE/GKE error the issue names maps to its failure kind and scope: operation errors,
per-instance lastAttempt errors, HTTP errors, GKE operation messages, timeouts."""

from __future__ import annotations

import pytest

from pricing.types import ON_DEMAND, SPOT
from providers.base import (
    FailureKind,
    InsufficientCapacity,
    LaunchTimeout,
    ProviderError,
    QuotaExceeded,
    Throttled,
)
from tests.gcp_fake import FakeGcp, Stockout, quota_error
from tests.providers.gcp.conftest import A, B, REGION, T4_TYPE, itype, make_provider, request


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"])
@pytest.mark.parametrize("where", ["lastAttempt", "operation"])
def test_a_stocked_out_zone_is_skipped_and_its_retrying_instance_cancelled(gcp, code, where):
    gcp.stockouts.append(Stockout("n1-standard-8", zone=A, code=code, where=where))
    provider = make_provider(gcp)

    instance = provider.launch(request("n1-standard-8"))

    assert instance.zone == B
    assert [(vm.zone, vm.current_action) for vm in gcp.instances()] == [(B, "NONE")]


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "RESOURCE_POOL_EXHAUSTED"])
def test_stock_out_in_every_zone_is_insufficient_capacity_for_that_offering_per_zone(gcp, code):
    gcp.stockouts.append(Stockout("n1-standard-8", spot=True, code=code))
    provider = make_provider(gcp)

    with pytest.raises(InsufficientCapacity) as failure:
        provider.launch(request("n1-standard-8", capacity=SPOT))

    assert failure.value.kind == FailureKind.INSUFFICIENT_CAPACITY and failure.value.code == code
    scopes = failure.value.scopes
    assert [(s.instance_types, s.capacity_type, s.zone) for s in scopes] == [
        (frozenset({"n1-standard-8"}), SPOT, A),
        (frozenset({"n1-standard-8"}), SPOT, B),
        (frozenset({"n1-standard-8"}), SPOT, REGION),  # the regional offering the request named
    ]
    assert scopes[0].covers("n1-standard-8", SPOT, A) and not scopes[0].covers("n1-standard-8", ON_DEMAND, A)
    assert gcp.instances() == []  # nothing left retrying


def test_gpu_quota_backs_off_every_type_with_that_gpu_in_the_region(gcp):
    gcp.quota_errors.append(("n1-standard-4", quota_error("NVIDIA_T4_GPUS")))
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(T4_TYPE))

    [scope] = failure.value.scopes
    assert scope.zone is None and scope.capacity_type is None
    assert T4_TYPE in scope.instance_types and "n1-standard-8+2xnvidia-tesla-t4" in scope.instance_types
    assert "g2-standard-4" not in scope.instance_types and "n1-standard-4" not in scope.instance_types
    assert "NVIDIA_T4_GPUS" in scope.label
    assert gcp.instances() == []


@pytest.mark.parametrize(
    "metric, covered, not_covered, capacity",
    [
        ("PREEMPTIBLE_NVIDIA_T4_GPUS", T4_TYPE, "g2-standard-4", SPOT),
        ("N2_CPUS", "n2-standard-8", "n1-standard-8", None),
        ("CPUS", "e2-standard-8", "n2-standard-8", None),
    ],
)
def test_a_quota_covers_what_its_metric_counts(gcp, metric, covered, not_covered, capacity):
    machine = {"N2_CPUS": "n2-standard-4"}.get(metric, "n1-standard-4")
    name = {"N2_CPUS": "n2-standard-4", "CPUS": "n1-standard-4"}.get(metric, T4_TYPE)
    gcp.quota_errors.append((machine, quota_error(metric)))
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(name, capacity=capacity or ON_DEMAND))

    [scope] = failure.value.scopes
    assert scope.capacity_type == capacity and scope.zone is None
    assert covered in scope.instance_types and not_covered not in scope.instance_types


def test_rate_limited_api_is_throttled(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 1

    with pytest.raises(Throttled) as failure:
        provider.launch(request("n1-standard-4"))

    assert failure.value.kind == FailureKind.THROTTLED and failure.value.code == "rateLimitExceeded"


def test_an_instance_stuck_creating_past_scale_up_timeout_is_a_timeout_and_is_cancelled(gcp):
    gcp.stuck_creating.add("n1-standard-4")
    provider = make_provider(gcp, scaleUpTimeout="0.3s")

    with pytest.raises(LaunchTimeout) as failure:
        provider.launch(request("n1-standard-4", zones=(A,)))

    assert failure.value.kind == FailureKind.LAUNCH_TIMEOUT and failure.value.zone == A
    assert gcp.instances() == []


def test_a_pool_gke_cannot_create_is_a_typed_failure_naming_gkes_reason(gcp):
    gcp.pool_create_error = (
        "Insufficient regional quota to satisfy request: resource \"NVIDIA_T4_GPUS\": request requires '1.0' and is short '1.0'."
    )
    provider = make_provider(gcp)

    with pytest.raises(QuotaExceeded) as failure:
        provider.launch(request(T4_TYPE))

    assert "NVIDIA_T4_GPUS" in str(failure.value)
    assert T4_TYPE in failure.value.scopes[0].instance_types and "n1-standard-4" not in failure.value.scopes[0].instance_types


def test_gke_busy_with_another_operation_is_throttled_not_a_broken_offering(gcp):
    gcp.pool_create_error = "Operation operation-123 is currently upgrading cluster c1. Please wait and try again once it is done."
    provider = make_provider(gcp)

    with pytest.raises(Throttled):
        provider.launch(request("n1-standard-4"))


def test_listing_while_throttled_is_a_throttled_failure(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 1

    with pytest.raises(Throttled):
        provider.list_instances()


def test_an_api_that_never_answers_is_a_failure_of_that_call_not_a_hang():
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        fake = FakeGcp()
        fake.endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        provider = make_provider(fake, callTimeout="0.3s")
        with pytest.raises(ProviderError, match="timed out"):
            provider.list_instances()
    finally:
        silent.close()


# code (+ quota metric) -> (kind, types covered (None = all), capacity type (None = both), zone (None = every))
CASES = {
    ("ZONE_RESOURCE_POOL_EXHAUSTED", ""): (FailureKind.INSUFFICIENT_CAPACITY, {T4_TYPE}, ON_DEMAND, A),
    ("ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", ""): (FailureKind.INSUFFICIENT_CAPACITY, {T4_TYPE}, ON_DEMAND, A),
    ("RESOURCE_POOL_EXHAUSTED", ""): (FailureKind.INSUFFICIENT_CAPACITY, {T4_TYPE}, ON_DEMAND, A),
    ("QUOTA_EXCEEDED", "NVIDIA_T4_GPUS"): (FailureKind.QUOTA_EXCEEDED, "T4 types", None, None),
    ("QUOTA_EXCEEDED", "PREEMPTIBLE_NVIDIA_T4_GPUS"): (FailureKind.QUOTA_EXCEEDED, "T4 types", SPOT, None),
    ("QUOTA_EXCEEDED", "CPUS"): (FailureKind.QUOTA_EXCEEDED, "n1 and e2 types", None, None),
    ("QUOTA_EXCEEDED", "INSTANCES"): (FailureKind.QUOTA_EXCEEDED, None, None, None),
    ("rateLimitExceeded", ""): (FailureKind.THROTTLED, {T4_TYPE}, ON_DEMAND, A),
    ("CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", ""): (FailureKind.THROTTLED, {T4_TYPE}, ON_DEMAND, A),
    ("INVALID_FIELD_VALUE", ""): (FailureKind.OTHER, None, None, None),
}


@pytest.mark.parametrize("code, metric", sorted(CASES))
def test_each_gce_error_code_maps_to_its_kind_and_scope(code, metric):
    from pricing.catalog import region_catalog
    from providers.gcp.errors import GceError, Offering, classify

    types = [o.instance_type for o in region_catalog("gcp", REGION).offerings]
    message = f"Quota '{metric}' exceeded.  Limit: 0.0 in region {REGION}." if metric else "failed"

    error = classify([GceError(code, message)], Offering(itype(T4_TYPE), ON_DEMAND, A, REGION), types)

    kind, covered, capacity, zone = CASES[(code, metric)]
    assert error.kind == kind and error.code == code
    if kind == FailureKind.OTHER:
        assert error.scopes == ()  # the loop backs off the offering it asked for
        return
    [scope] = error.scopes
    assert (scope.capacity_type, scope.zone) == (capacity, zone)
    if covered == "T4 types":
        assert scope.instance_types == {t.name for t in types if t.gpu_model == "T4"}
    elif covered == "n1 and e2 types":
        assert {n.split("-")[0] for n in scope.instance_types} == {"n1", "e2"}
    else:
        assert scope.instance_types == (None if covered is None else frozenset(covered))


def test_an_instance_still_creating_when_the_call_must_answer_is_pending_until_scale_up_timeout(gcp):
    from autoscaler.config import config_from_mapping
    from providers.gcp import create_provider

    gcp.stuck_creating.add("n1-standard-4")
    config = config_from_mapping({
        "cloud": "gcp", "region": REGION, "clusterName": "c1", "scaleUpTimeout": "10m", "cloudCallTimeout": "0.5s",
        "gcp": {"project": "proj", "apiEndpoint": gcp.endpoint, "pollInterval": "0.01"},
    })
    provider = create_provider(config=config, start_prices=False)

    instance = provider.launch(request("n1-standard-4", zones=(A,)))

    assert instance.state == "pending" and instance.alive  # the loop times it out after scaleUpTimeout
    assert [i.instance_id for i in provider.list_instances()] == [instance.instance_id]
