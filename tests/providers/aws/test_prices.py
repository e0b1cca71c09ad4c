"""Live prices: Price List GetProducts and spot price history answers (through the SDK's parsers)
re-price the embedded catalog; any failure leaves the embedded figures in use."""

from __future__ import annotations

import json
from pathlib import Path

from pricing.catalog import catalog_settings, region_catalog
from autoscaler.config import config_from_mapping
from tests.providers.aws.conftest import REGION

ADVISOR = str(Path(__file__).parents[2] / "data" / "aws" / "spot-advisor-data.json")


def price_list(prices: dict[str, float]) -> bytes:
    items = [
        json.dumps({
            "product": {"attributes": {"instanceType": name, "regionCode": REGION, "operatingSystem": "Linux"}},
            "terms": {"OnDemand": {"T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": f"{usd:.10f}"}}}}}},
        })
        for name, usd in prices.items()
    ]
    return json.dumps({"FormatVersion": "aws_v1", "PriceList": items}).encode()


def spot_history(rows: list[tuple[str, str, str, str]]) -> bytes:
    items = "".join(
        f"<item><instanceType>{t}</instanceType><productDescription>Linux/UNIX</productDescription>"
        f"<spotPrice>{p}</spotPrice><timestamp>{ts}</timestamp><availabilityZone>{z}</availabilityZone></item>"
        for t, z, p, ts in rows
    )
    return (
        '<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
        f"<spotPriceHistorySet>{items}</spotPriceHistorySet><nextToken></nextToken></DescribeSpotPriceHistoryResponse>"
    ).encode()


def price(catalog, name, capacity, zone="us-west-2a"):
    return next(o.price for o in catalog.offerings if o.key == (name, capacity, zone))


def test_live_prices_replace_the_embedded_ones_and_the_latest_spot_price_wins(aws):
    provider = aws.provider()
    base = region_catalog("aws", REGION)
    assert provider.live_catalog(base) is base  # nothing fetched yet: the embedded catalog answers
    assert set(provider.price_ages().values()) == {-1.0}
    aws.faults.answers["GetProducts"] = price_list({"m5.large": 0.1, "c5.xlarge": 0.18})
    aws.faults.answers["DescribeSpotPriceHistory"] = spot_history([
        ("m5.large", "us-west-2a", "0.0400", "2026-11-29T10:00:00.000Z"),
        ("m5.large", "us-west-2a", "0.0350", "2026-11-29T12:00:00.000Z"),
    ])
    provider.prices.refresh()
    live = provider.live_catalog(base)
    assert price(live, "m5.large", "on-demand") == 0.1
    assert price(live, "m5.large", "spot") == 0.035
    # a type without a live spot price: the live on-demand price x spotPriceRatioEstimate
    assert price(live, "c5.xlarge", "spot") == 0.09
    # a type the Price List did not answer for keeps its embedded price
    assert price(live, "r5.large", "on-demand") == price(base, "r5.large", "on-demand")
    ages = provider.price_ages()
    assert 0 <= ages["on-demand"] < 60 and 0 <= ages["spot"] < 60


def test_a_failing_price_source_keeps_the_embedded_figures(aws):
    provider = aws.provider()
    base = region_catalog("aws", REGION)
    aws.faults.fail("GetProducts", "ThrottlingException", "Rate exceeded")
    aws.faults.fail("DescribeSpotPriceHistory", "RequestLimitExceeded", "Request limit exceeded.")
    aws.faults.fail("DescribeInstanceTypeOfferings", "RequestLimitExceeded", "Request limit exceeded.")
    provider.prices.refresh()
    live = provider.live_catalog(base)
    assert price(live, "m5.large", "on-demand") == price(base, "m5.large", "on-demand")
    assert price(live, "m5.large", "spot") == price(base, "m5.large", "spot")
    assert provider.price_ages()["on-demand"] == -1.0
    # only the zones with a subnet to launch into are offered (the fixture tags us-west-2a and b)
    assert {o.zone for o in live.offerings} == {"us-west-2a", "us-west-2b"}


def test_zones_per_type_come_from_instance_type_offerings(aws):
    provider = aws.provider()
    base = region_catalog("aws", REGION)
    aws.faults.answers["DescribeInstanceTypeOfferings"] = (
        '<DescribeInstanceTypeOfferingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
        "<instanceTypeOfferingSet><item><instanceType>m5.large</instanceType><locationType>availability-zone</locationType>"
        "<location>us-west-2b</location></item></instanceTypeOfferingSet></DescribeInstanceTypeOfferingsResponse>"
    ).encode()
    provider.prices.refresh()
    live = provider.live_catalog(base)
    assert {o.zone for o in live.offerings} == {"us-west-2b"}
    assert {o.instance_type.name for o in live.offerings} == {"m5.large"}


def test_the_advisor_prices_spot_at_run_time_from_its_address(aws):
    config = config_from_mapping({"cloud": "aws", "region": REGION, "aws": {"useSpotAdvisor": True}})
    base = region_catalog("aws", REGION, catalog_settings(config))  # no data at start: ratio estimate
    assert price(base, "r5a.xlarge", "spot") == 0.113
    provider = aws.provider(useSpotAdvisor=True)
    provider.prices.fetch_url = lambda url: Path(ADVISOR).read_bytes()
    aws.faults.fail("GetProducts", "ThrottlingException", "Rate exceeded")
    aws.faults.answers["DescribeSpotPriceHistory"] = spot_history([])  # no live spot price for it
    provider.prices.refresh()
    live = provider.live_catalog(base)
    assert round(price(live, "r5a.xlarge", "spot"), 4) == 0.0859
    assert provider.price_ages()["advisor"] >= 0


def test_the_price_list_asks_for_on_demand_compute_instances_and_never_takes_the_last_price_seen():
    from providers.aws.prices import on_demand_filters, parse_price_list

    filters = {f["Field"]: f["Value"] for f in on_demand_filters(REGION)}
    assert filters["marketoption"] == "OnDemand" and filters["productFamily"] == "Compute Instance"

    def product(name: str, usd: float, **attributes: str) -> str:
        attrs = {"instanceType": name, "regionCode": REGION, "operatingSystem": "Linux", "marketoption": "OnDemand", **attributes}
        dimension = {"unit": "Hrs", "pricePerUnit": {"USD": str(usd)}}
        return json.dumps({"product": {"productFamily": "Compute Instance", "attributes": attrs},
                           "terms": {"OnDemand": {"T": {"priceDimensions": {"D": dimension}}}}})

    prices = parse_price_list([
        product("m5.large", 0.096),
        product("m5.large", 0.35, marketoption="CapacityBlock"),  # another market: skipped
        product("m5.large", 0.188, operatingSystem="Windows"),  # another OS: skipped
        product("c5.large", 0.085),
        product("c5.large", 0.090),  # two prices left for one type: neither is guessed
    ], REGION)
    assert prices == {"m5.large": 0.096}


def test_the_planner_gets_the_max_pods_the_eni_limits_allow_for_types_without_a_published_figure(aws):
    """g3s.xlarge has no published pod figure: DescribeInstanceTypes says 4 interfaces x 15
    addresses, so the planner's type holds 58 pods (not 110) and the kubelet reserves 52 x 11Mi
    less memory -- the same 58 its launch tells the kubelet."""
    aws.faults.answers["DescribeInstanceTypes"] = (
        b'<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
        b"<instanceTypeSet><item><instanceType>g3s.xlarge</instanceType><networkInfo>"
        b"<maximumNetworkInterfaces>4</maximumNetworkInterfaces><ipv4AddressesPerInterface>15</ipv4AddressesPerInterface>"
        b"</networkInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>"
    )
    provider = aws.provider(livePrices=False)
    base = region_catalog("aws", REGION)
    before = next(o.instance_type for o in base.offerings if o.instance_type.name == "g3s.xlarge")
    provider.prices.refresh()
    after = next(o.instance_type for o in provider.live_catalog(base).offerings if o.instance_type.name == "g3s.xlarge")
    assert (before.max_pods, after.max_pods, after.allocatable.pods) == (110, 58, 58)
    assert after.allocatable.memory - before.allocatable.memory == 52 * 11 * 2**20
    assert provider.max_pods.for_type(before) == 58
