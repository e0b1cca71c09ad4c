"""Azure prices: live Linux prices from the Retail Prices API (documented item shapes, every
page), cached and refreshed off the loop, the embedded catalog as fallback; sizes AKS cannot
run by default are never chosen. Through the preview path, as a user would see them."""

from __future__ import annotations

import textwrap

import pytest

from autoscaler.config import config_from_mapping
from autoscaler.manifests import load_manifest_text
from autoscaler.preview import Target, run_preview
from providers.azure.prices import RetailPrices, linux_prices
from tests.providers.azure_fixtures import fake_azure  # noqa: F401


def meter(sku: str, price: float, kind: str = "", product_suffix: str = "", type_: str = "Consumption", start: str = "2024-01-01T00:00:00Z", **extra):
    short = sku.removeprefix("Standard_").replace("_", " ")
    name = f"{short} {kind}".strip()
    series = short.split(" ")[0]
    return {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
        "armRegionName": "eastus", "location": "US East", "effectiveStartDate": start,
        "meterId": f"meter-{sku}-{kind}-{product_suffix}-{type_}", "meterName": name,
        "productId": "DZH318Z0BQ4L", "skuId": "DZH318Z0BQ4L/00TG", "availabilityId": None,
        "productName": f"Virtual Machines {series} Series{product_suffix}", "skuName": name,
        "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour", "type": type_, "isPrimaryMeterRegion": True, "armSkuName": sku, **extra,
    }


E4AS_V5_METERS = [
    meter("Standard_E4as_v5", 0.226),
    meter("Standard_E4as_v5", 0.41, product_suffix=" Windows"),
    meter("Standard_E4as_v5", 0.0452, kind="Spot"),
    meter("Standard_E4as_v5", 0.0904, kind="Low Priority"),
    meter("Standard_E4as_v5", 0.15, type_="DevTestConsumption"),
    meter("Standard_E4as_v5", 1.2, type_="Reservation", reservationTerm="1 Year", unitOfMeasure="1 Hour"),
]


def test_only_linux_consumption_meters_count_spot_apart():
    prices, skipped = linux_prices(E4AS_V5_METERS, "eastus")
    assert prices == {("Standard_E4as_v5", "on-demand"): 0.226, ("Standard_E4as_v5", "spot"): 0.0452}
    assert skipped == {"Windows": 1, "Low Priority": 1, "type DevTestConsumption": 1, "type Reservation": 1}


def test_the_newest_meter_of_a_size_wins():
    prices, _ = linux_prices(
        [meter("Standard_D4s_v5", 0.20, start="2023-01-01T00:00:00Z"), meter("Standard_D4s_v5", 0.192, start="2024-06-01T00:00:00Z")],
        "eastus",
    )
    assert prices == {("Standard_D4s_v5", "on-demand"): 0.192}


def test_every_page_is_read_and_refresh_happens_off_the_loop(fake_azure):
    fake_azure.price_pages = [[meter("Standard_D4s_v5", 0.192)], [meter("Standard_D4s_v5", 0.0384, kind="Spot")]]
    prices = RetailPrices(f"{fake_azure.base_url}/api/retail/prices", "eastus", refresh_interval=3600, timeout=5)

    first = prices.current()  # does not wait: nothing yet, a refresh starts in the background
    prices._refresh.result()
    table = prices.current()

    assert first is None
    assert table.prices == {("Standard_D4s_v5", "on-demand"): 0.192, ("Standard_D4s_v5", "spot"): 0.0384}
    assert len(fake_azure.calls("GET", "/api/retail/prices")) == 2
    prices.current()
    assert len(fake_azure.calls("GET", "/api/retail/prices")) == 2  # cached until the interval passes


def test_a_failed_refresh_keeps_the_embedded_prices():
    prices = RetailPrices("http://127.0.0.1:9/api/retail/prices", "eastus", refresh_interval=3600, timeout=1)
    prices.current()
    prices._refresh.result()
    assert prices.current() is None


HEAD = textwrap.dedent(
    """
    apiVersion: v1
    kind: Pod
    metadata: {name: ray-head, namespace: default, labels: {smart-autoscaler.io/managed: "true"}}
    spec:
      containers:
      - name: head
        resources: {requests: {cpu: "2", memory: 16Gi}}
    """
)


def head_node(fake_azure=None):
    options = {"binSelectPodCpuThreshold": 2, "binSelectPodMemoryThreshold": "8Gi"}
    if fake_azure is not None:
        options["azure"] = {"retailPricesURL": f"{fake_azure.base_url}/api/retail/prices"}
    result = run_preview(load_manifest_text(HEAD, "head.yaml"), [Target("azure", "eastus")], config_from_mapping(options),
                         live_prices=fake_azure is not None)
    (target,) = result.targets
    (line,) = target.nodes
    return line, result.problems


def test_a_2_cpu_16gi_head_never_gets_a_confidential_size():
    """Before: Standard_EC4as_cc_v5 (confidential, needs special images) at $0.226."""
    line, _ = head_node()
    assert not any(mark in line.instance_type for mark in ("_cc_", "Standard_DC", "Standard_EC", "Promo"))


def test_with_live_prices_a_2_cpu_16gi_head_gets_a_standard_e4as_v5_at_0_226(fake_azure):
    """Luna publishes Standard_E4as_v5 at $0.226 for this head. The embedded data carry a
    Windows-like $0.41 for it; the Retail Prices API's Linux meter says $0.226."""
    fake_azure.price_pages = [E4AS_V5_METERS]

    line, problems = head_node(fake_azure)

    assert (line.instance_type, line.capacity_type, line.count) == ("Standard_E4as_v5", "on-demand", 1)
    assert line.hourly_cost_each == pytest.approx(0.226)
    assert line.price_estimated is False and line.price_note.startswith("live: Azure Retail Prices API")
    assert problems == []


def test_unreachable_live_prices_warn_and_use_the_embedded_catalog():
    options = {"azure": {"retailPricesURL": "http://127.0.0.1:9/api/retail/prices", "callTimeout": "1s"}}
    result = run_preview(load_manifest_text(HEAD, "head.yaml"), [Target("azure", "eastus")], config_from_mapping(options), live_prices=True)
    assert result.targets[0].nodes
    assert any("live azure prices for eastus" in p and "using the embedded prices" in p for p in result.problems)


def test_the_provider_serves_the_loop_live_prices_once_fetched(fake_azure):
    """The loop asks the provider for its catalog each pass: the embedded one until the first
    refresh (started by that first ask, off the loop), then the Retail Prices API's."""
    from pricing.catalog import region_catalog
    from tests.providers.azure_fixtures import make_provider
    from autoscaler.clock import SimClock

    fake_azure.price_pages = [E4AS_V5_METERS]
    provider = make_provider(fake_azure, SimClock(), retailPricesURL=f"{fake_azure.base_url}/api/retail/prices")
    base = region_catalog("azure", "eastus")

    assert provider.price_ages() == {"retail-prices": -1.0}  # nothing fetched yet
    assert provider.live_catalog(base) is base  # this first ask starts the refresh, off the loop
    provider.prices._refresh.result()
    live = provider.live_catalog(base)

    prices = {(o.instance_type.name, o.capacity_type): o.price for o in live.offerings}
    assert prices[("Standard_E4as_v5", "on-demand")] == 0.226
    assert prices[("Standard_E4as_v5", "spot")] == 0.0452
    assert provider.live_catalog(base) is live  # built once per fetched table
    assert 0 <= provider.price_ages()["retail-prices"] < 60
    provider.close()


def test_without_a_live_spot_meter_the_spot_estimate_follows_the_live_on_demand_price():
    """Standard_E4as_v5: embedded $0.41 (Windows-like), live Linux $0.226 and no Spot meter:
    spot = 0.226 x spotPriceRatioEstimate 0.5 = $0.113, still marked estimated."""
    from pricing.catalog import region_catalog, with_live_prices

    live = with_live_prices(region_catalog("azure", "eastus"), {("Standard_E4as_v5", "on-demand"): 0.226}, "live: test")
    spot = next(o for o in live.offerings if o.instance_type.name == "Standard_E4as_v5" and o.capacity_type == "spot")
    assert spot.price == pytest.approx(0.113) and spot.price_estimated


def test_special_sizes_are_chosen_only_when_asked_for():
    """azure.includeSpecialSizes: true (the cluster runs confidential node images): the
    confidential Standard_EC4as_cc_v5 at $0.226 is a candidate again (it ties with
    Standard_E4as_v5, whose embedded eastus price is the published Linux $0.226)."""
    from pricing.catalog import catalog_settings, region_catalog

    def offered(options):
        config = config_from_mapping({"cloud": "azure", "region": "eastus", **options})
        catalog = region_catalog("azure", "eastus", catalog_settings(config))
        return {o.instance_type.name: o.price for o in catalog.offerings if o.capacity_type == "on-demand"}

    assert "Standard_EC4as_cc_v5" not in offered({})
    assert offered({"azure": {"includeSpecialSizes": True}})["Standard_EC4as_cc_v5"] == pytest.approx(0.226)
