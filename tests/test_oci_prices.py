"""OCI live prices: the public price list re-prices the embedded catalog; failures leave it be."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autoscaler.config import Config
from autoscaler.planner import plan
from pricing.catalog import raw_catalog, region_catalog
from pricing.oci_prices import parse_price_list, rates_from, reprice
from providers.oci.prices import LivePrices
from tests.helpers import make_pod

BASE = region_catalog("oci", "us-ashburn-1")


def item(part: str, name: str, value: float, metric: str = "OCPU Per Hour") -> dict:
    return {
        "partNumber": part,
        "displayName": name,
        "metricName": metric,
        "serviceCategory": "Compute - Virtual Machine",
        "currencyCodeLocalizations": [
            {"currencyCode": "EUR", "prices": [{"model": "PAY_AS_YOU_GO", "value": value * 0.9}]},
            {"currencyCode": "USD", "prices": [{"model": "PAY_AS_YOU_GO", "value": value}]},
        ],
    }


PRICE_LIST = {
    "lastUpdated": "2026-11-28T10:00:00Z",
    "items": [
        item("B97384", "Compute - Standard - E5 - OCPU", 0.035),
        item("B97385", "Compute - Standard - E5 - Memory", 0.0025, "Gigabyte Per Hour"),
        item("B95909", "Compute - GPU - A10", 2.1, "GPU Per Hour"),
        item("B93297", "Compute - Standard - A1 - OCPU", 0.0),  # the always-free tier lists $0
        {"partNumber": "B00000", "displayName": "malformed", "currencyCodeLocalizations": None},
    ],
}


def offering(catalog, name, capacity="on-demand"):
    return next(o for o in catalog.offerings if o.instance_type.name == name and o.capacity_type == capacity)


def test_price_list_parts_reprice_their_shapes_and_nothing_else():
    by_part = parse_price_list(PRICE_LIST)
    assert by_part == {"B97384": 0.035, "B97385": 0.0025, "B95909": 2.1}  # USD only, $0 left out
    live = reprice(BASE, rates_from(by_part, raw_catalog("oci")), "OCI price list")
    e5 = next(s for s in live.flex_shapes if s.name == "VM.Standard.E5.Flex")
    assert (e5.ocpu_price, e5.memory_gb_price) == (0.035, 0.0025)
    assert offering(live, "VM.GPU.A10.2").price == pytest.approx(4.2)
    assert offering(live, "VM.GPU.A10.2", "spot").price == pytest.approx(2.1)
    assert offering(live, "BM.Standard.E5.192").price == pytest.approx(192 * 0.035 + 2304 * 0.0025)
    a1 = next(s for s in live.flex_shapes if s.name == "VM.Standard.A1.Flex")
    assert (a1.ocpu_price, a1.memory_gb_price) == (0.01, 0.0015)  # embedded rates kept
    assert offering(live, "VM.GPU2.1").price == 1.275 and "OCI price list" in offering(live, "VM.GPU.A10.2").price_note


def test_a_sized_flex_node_is_priced_at_the_live_rates():
    live = reprice(BASE, rates_from(parse_price_list(PRICE_LIST), raw_catalog("oci")), "OCI price list")
    pod = make_pod("api", "4", "24Gi", annotations={"smart-autoscaler.io/instance-family-inclusions": "vm.standard.e5"})
    (new,) = plan([pod], live, Config(cloud="oci", region="us-ashburn-1")).new_nodes
    itype = new.option.instance_type
    assert itype.name == "VM.Standard.E5.Flex"
    assert new.price == pytest.approx(itype.ocpus * 0.035 + itype.memory_mib // 1024 * 0.0025)


@pytest.fixture
def price_server():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = json.dumps(PRICE_LIST).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pls/apex/cetools/api/v1/products/?currencyCode=USD"
    server.shutdown()
    server.server_close()


def test_live_prices_read_over_http_reach_the_catalog(price_server):
    prices = LivePrices(price_server, period=3600, timeout=5)
    assert prices.catalog(BASE) is BASE and prices.ages() == {"oci-price-list": -1.0}  # nothing fetched at start
    assert prices.refresh()
    live = prices.catalog(BASE)
    assert offering(live, "VM.GPU.A10.1").price == pytest.approx(2.1)
    assert prices.catalog(BASE) is live  # built once per price list
    assert 0 <= prices.ages()["oci-price-list"] < 60


def test_an_unreachable_price_list_leaves_the_embedded_catalog():
    prices = LivePrices("http://127.0.0.1:9/unreachable", period=3600, timeout=1)
    assert not prices.refresh()
    assert prices.catalog(BASE) is BASE


def test_a_failed_refresh_keeps_the_last_good_figures(price_server):
    answers = iter([json.dumps(PRICE_LIST).encode(), b"<html>maintenance</html>"])
    prices = LivePrices(price_server, period=3600, timeout=5, fetch=lambda url, timeout: next(answers))
    assert prices.refresh() and not prices.refresh()
    assert offering(prices.catalog(BASE), "VM.GPU.A10.1").price == pytest.approx(2.1)
