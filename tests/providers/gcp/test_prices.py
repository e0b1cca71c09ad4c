"""Zones per machine type and live prices per region, refreshed off the loop, embedded fallback."""

from __future__ import annotations

import pytest

from pricing.types import ON_DEMAND, SPOT
from tests.gcp_fake import sku
from tests.providers.gcp.conftest import A, B, REGION, T4_TYPE, make_provider, request


def test_live_prices_per_region_and_zones_per_machine_type(gcp):
    gcp.zones["n1-standard-4"] = [B]
    gcp.skus = [
        sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION, "us-east1"], 0.04),
        sku("N1 Predefined Instance Ram running in Americas", "OnDemand", [REGION, "us-east1"], 0.005, "GiBy.h"),
        sku("Spot Preemptible N1 Predefined Instance Core running in Americas", "Preemptible", [REGION], 0.01),
        sku("Spot Preemptible N1 Predefined Instance Ram running in Americas", "Preemptible", [REGION], 0.001, "GiBy.h"),
        sku("N1 Predefined Instance Core running in Belgium", "OnDemand", ["europe-west1"], 0.9),
        sku("Commitment v1: Cpu in Americas for 1 Year", "Commit1Yr", [REGION], 0.001),
        sku("Nvidia Tesla T4 GPU running in Americas", "OnDemand", [REGION], 0.30),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    offerings = [o for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name in ("n1-standard-4", T4_TYPE)]

    by_key = {(o.instance_type.name, o.capacity_type, o.zone): o for o in offerings}
    assert set(by_key) == {("n1-standard-4", c, B) for c in (ON_DEMAND, SPOT)} | {(T4_TYPE, c, B) for c in (ON_DEMAND, SPOT)}
    assert by_key[("n1-standard-4", ON_DEMAND, B)].price == pytest.approx(4 * 0.04 + 15 * 0.005)
    assert by_key[("n1-standard-4", SPOT, B)].price == pytest.approx(4 * 0.01 + 15 * 0.001)
    assert by_key[("n1-standard-4", ON_DEMAND, B)].price_estimated is False
    assert by_key[(T4_TYPE, ON_DEMAND, B)].price == pytest.approx(4 * 0.04 + 15 * 0.005 + 0.30)
    assert by_key[(T4_TYPE, SPOT, B)].price == 0.15  # no spot T4 SKU: the embedded figure stays


def test_a_failed_price_refresh_keeps_the_embedded_catalog(gcp):
    provider = make_provider(gcp)
    gcp.throttle_next = 10

    assert provider.prices.refresh() is False
    assert provider.live_catalog(provider.embedded) is provider.embedded
    assert provider.price_ages() == {"gcp-zones": -1.0, "gcp-billing": -1.0}


def test_live_figures_are_built_once_until_they_change_and_their_age_is_told(gcp):
    gcp.skus = [
        sku("N1 Predefined Instance Core running in Americas", "OnDemand", [REGION], 0.04),
        sku("N1 Predefined Instance Ram running in Americas", "OnDemand", [REGION], 0.005, "GiBy.h"),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    first = provider.live_catalog(provider.embedded)
    assert provider.live_catalog(provider.embedded) is first  # the loop re-indexes prices only on change
    assert all(0 <= age < 60 for age in provider.price_ages().values())
    spot = next(o for o in first.offerings if o.instance_type.name == "n1-standard-4" and o.capacity_type == SPOT)
    embedded = next(o for o in provider.embedded.offerings if o.instance_type.name == "n1-standard-4" and o.capacity_type == SPOT)
    assert spot.price == embedded.price  # the embedded preemptible figure: the catalog listed no spot SKU
    provider.prices.refresh()
    assert provider.live_catalog(provider.embedded) is not first


def test_a_machine_type_the_embedded_catalog_lacks_is_offered_when_compute_engine_lists_it_and_billing_prices_it(gcp):
    gcp.zones["a3-highgpu-8g"] = [B]
    gcp.machine_specs["a3-highgpu-8g"] = {
        "guestCpus": 208, "memoryMb": 1872 * 1024, "isSharedCpu": False,
        "accelerators": [{"guestAcceleratorType": "nvidia-h100-80gb", "guestAcceleratorCount": 8}],
    }
    gcp.skus = [
        sku("A3 Instance Core running in Americas", "OnDemand", [REGION], 0.0291),
        sku("A3 Instance Ram running in Americas", "OnDemand", [REGION], 0.0025, "GiBy.h"),
        sku("Nvidia H100 80GB GPU running in Americas", "OnDemand", [REGION], 9.80),
    ]
    provider = make_provider(gcp)
    assert provider.prices.refresh()

    a3 = [o for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name == "a3-highgpu-8g"]

    assert {(o.capacity_type, o.zone) for o in a3} == {(ON_DEMAND, B), (SPOT, B)}
    on_demand = next(o for o in a3 if o.capacity_type == ON_DEMAND)
    assert on_demand.price == pytest.approx(208 * 0.0291 + 1872 * 0.0025 + 8 * 9.80)
    assert (on_demand.instance_type.gpu_count, on_demand.instance_type.gpu_model) == (8, "H100")
    assert on_demand.taints and on_demand.taints[0].key == "nvidia.com/gpu"


def test_live_zones_replace_the_embedded_four_zones_once_each(gcp):
    """The embedded catalog offers n1-standard-4 in us-central1-a, -b, -c and -f; Compute Engine
    lists it in a and b: the provider's catalog has it in a and b, once per capacity type."""
    gcp.zones["n1-standard-4"] = [A, B]
    provider = make_provider(gcp)
    embedded = [o.zone for o in provider.embedded.offerings if o.instance_type.name == "n1-standard-4" and o.capacity_type == ON_DEMAND]
    assert sorted(embedded) == ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"]
    assert provider.prices.refresh()
    live = [(o.capacity_type, o.zone) for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name == "n1-standard-4"]
    assert sorted(live) == sorted((c, z) for c in (ON_DEMAND, SPOT) for z in (A, B))


def test_attached_gpu_offerings_survive_a_live_refresh_with_zones_as_urls(gcp):
    """Compute Engine answers acceleratorTypes' `zone` as a URL and matches `eq` against the
    whole field: n1 + T4 offerings are still offered in both zones after the refresh."""
    provider = make_provider(gcp)
    assert provider.prices.refresh()
    t4 = {(o.zone, o.capacity_type) for o in provider.live_catalog(provider.embedded).offerings if o.instance_type.name == T4_TYPE}
    assert t4 == {(zone, capacity) for zone in (A, B) for capacity in (ON_DEMAND, SPOT)}
    assert gcp.rejected == []


def test_the_first_n1_t4_launch_finds_its_zone_before_any_refresh(gcp):
    provider = make_provider(gcp)
    instance = provider.launch(request(T4_TYPE))
    assert (instance.instance_type, instance.zone) == (T4_TYPE, A)
    (pool,) = gcp.pools.values()
    assert pool["config"]["accelerators"][0]["acceleratorType"] == "nvidia-tesla-t4"
