"""`preview --live-prices` on AWS, GCP and OCI: each cloud's price list read over HTTP, as a user
sees it in the preview; without the flag nothing is asked of any network.

The fakes are local HTTP servers answering in the published shapes:
* AWS: the Price List Bulk API's regional offer file in CSV (AWS Billing docs, "Reading the
  service price list file for an AWS service": five metadata rows, then the column names, then
  one row per price dimension).
* GCP: Cloud Billing Catalog `services.skus.list` (REST reference: `skus`, `nextPageToken`,
  `pageToken`, the `key` query parameter); without a key the API answers 403 PERMISSION_DENIED,
  with a bad one 400 INVALID_ARGUMENT, in Google's JSON error shape ({"error": {"code",
  "message", "status"}}).
* OCI: the cost estimator's product list (`items[].partNumber`, `currencyCodeLocalizations`).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from autoscaler.config import config_from_mapping
from autoscaler.manifests import load_manifest_text
from autoscaler.preview import Target, run_preview
from pricing.aws_bulk import BulkPriceListError, on_demand_prices
from tests.gcp_fake import sku

# 3 CPU / 12 GiB: the embedded catalogs give t3a.xlarge at $0.1504 (AWS us-east-1),
# e2-standard-4 at $0.13402 (GCP us-central1), VM.Standard.E4.Flex 2 OCPU 15 GB at $0.0725 (OCI)
WORKER = textwrap.dedent(
    """
    apiVersion: v1
    kind: Pod
    metadata: {name: worker, namespace: default, labels: {smart-autoscaler.io/managed: "true"}}
    spec:
      containers:
      - name: w
        resources: {requests: {cpu: "3", memory: 12Gi}}
    """
)
API_KEY = "AIza-test-key"


class PriceServer:
    """Routes path -> handler(query) -> (status, content type, body); every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, list[str]]], tuple[int, str, bytes]]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                url = urlparse(self.path)
                route = owner.routes.get(url.path)
                status, kind, body = route(parse_qs(url.query)) if route else (404, "text/plain", b"not found")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[PriceServer]:
    running = PriceServer()
    yield running
    running.close()


def preview(cloud: str, region: str, options: dict[str, Any], live: bool = True):
    result = run_preview(load_manifest_text(WORKER, "worker.yaml"), [Target(cloud, region)], config_from_mapping(options),
                         live_prices=live)
    (target,) = result.targets
    (line,) = target.nodes
    return line, result.problems


# ---- AWS: the public bulk price list


COLUMNS = ["SKU", "OfferTermCode", "RateCode", "TermType", "PriceDescription", "EffectiveDate", "StartingRange",
           "EndingRange", "Unit", "PricePerUnit", "Currency", "RelatedTo", "LeaseContractLength", "PurchaseOption",
           "OfferingClass", "Product Family", "serviceCode", "Location", "Location Type", "Instance Type",
           "Current Generation", "Instance Family", "vCPU", "Memory", "Tenancy", "Operating System", "License Model",
           "CapacityStatus", "Region Code", "Pre Installed S/W"]


def offer_row(instance_type: str, usd: float, **changes: str) -> dict[str, str]:
    row = {name: "" for name in COLUMNS}
    row.update({
        "SKU": f"SKU{abs(hash((instance_type, tuple(changes.items())))) % 10**8}", "OfferTermCode": "JRTCKXETXF",
        "TermType": "OnDemand", "PriceDescription": f"${usd} per On Demand Linux {instance_type} Instance Hour",
        "Unit": "Hrs", "PricePerUnit": f"{usd:.10f}", "Currency": "USD", "Product Family": "Compute Instance",
        "serviceCode": "AmazonEC2", "Location": "US East (N. Virginia)", "Location Type": "AWS Region",
        "Instance Type": instance_type, "Tenancy": "Shared", "Operating System": "Linux",
        "License Model": "No License required", "CapacityStatus": "Used", "Region Code": "us-east-1",
        "Pre Installed S/W": "NA",
    })
    row.update(changes)
    return row


def offer_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for meta in (["FormatVersion", "v1.0"], ["Disclaimer", "This pricing list is for informational purposes only."],
                 ["Publication Date", "2026-11-30T19:42:33Z"], ["Version", "20261130194233"], ["OfferCode", "AmazonEC2"]):
        writer.writerow(meta)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row[name] for name in COLUMNS])
    return out.getvalue().encode()


def aws_options(server: PriceServer) -> dict[str, Any]:
    return {"aws": {"publicPriceListURL": f"{server.url}/offers/v1.0/aws/AmazonEC2/current/{{region}}/index.csv"}}


def test_aws_bulk_price_list_keeps_only_on_demand_linux_shared_hours() -> None:
    text = offer_file([
        offer_row("t3a.xlarge", 0.0752),
        offer_row("t3a.xlarge", 0.2256, **{"Operating System": "Windows", "License Model": "No License required"}),
        offer_row("t3a.xlarge", 0.05, TermType="Reserved", LeaseContractLength="1yr"),
        offer_row("t3a.xlarge", 0.09, Tenancy="Dedicated"),
        offer_row("t3a.xlarge", 0.0752, CapacityStatus="UnusedCapacityReservation"),
        offer_row("t3a.xlarge", 0.11, **{"Pre Installed S/W": "SQL Web"}),
        offer_row("m5.large", 0.096),
    ]).decode()
    assert on_demand_prices(io.StringIO(text)) == {"t3a.xlarge": 0.0752, "m5.large": 0.096}


def test_a_file_that_is_not_an_ec2_offer_file_is_named_as_such() -> None:
    with pytest.raises(BulkPriceListError, match="no column 'Instance Type'"):
        on_demand_prices(io.StringIO("a\nb\nc\nd\ne\n\"SKU\",\"PricePerUnit\"\n"))


def test_aws_preview_prices_the_worker_from_the_bulk_price_list_without_an_account(server: PriceServer) -> None:
    """Given the bulk list at $0.0752 for t3a.xlarge (embedded: $0.1504), the 3 CPU worker's
    node is a t3a.xlarge at $0.0752, marked live."""
    body = offer_file([offer_row("t3a.xlarge", 0.0752), offer_row("m5.xlarge", 0.192)])
    server.routes["/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.csv"] = lambda q: (200, "text/csv", body)

    line, problems = preview("aws", "us-east-1", aws_options(server))

    assert (line.instance_type, line.count, line.hourly_cost_each) == ("t3a.xlarge", 1, pytest.approx(0.0752))
    assert line.price_estimated is False and line.price_note.startswith("live: AWS bulk price list")
    assert problems == []


def test_aws_unreachable_price_list_warns_and_the_embedded_prices_answer(server: PriceServer) -> None:
    line, problems = preview("aws", "us-east-1", aws_options(server))  # 404: no such file
    assert (line.instance_type, line.hourly_cost_each) == ("t3a.xlarge", pytest.approx(0.1504))
    (problem,) = problems
    assert "live aws prices for us-east-1" in problem and "404" in problem and "using the embedded prices" in problem


# ---- GCP: the Cloud Billing Catalog, with an API key


def billing_route(pages: list[list[dict[str, Any]]]) -> Callable[[dict[str, list[str]]], tuple[int, str, bytes]]:
    def answer(query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        key = query.get("key", [""])[0]
        if not key:
            error = {"code": 403, "message": "The request is missing a valid API key.", "status": "PERMISSION_DENIED"}
            return 403, "application/json", json.dumps({"error": error}).encode()
        if key != API_KEY:
            error = {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}
            return 400, "application/json", json.dumps({"error": error}).encode()
        page = int(query.get("pageToken", ["0"])[0])
        body = {"skus": pages[page], "nextPageToken": str(page + 1) if page + 1 < len(pages) else ""}
        return 200, "application/json", json.dumps(body).encode()

    return answer


def gcp_options(server: PriceServer) -> dict[str, Any]:
    return {"gcp": {"apiEndpoint": server.url}}


def test_gcp_without_an_api_key_says_so_and_the_embedded_prices_answer(server: PriceServer, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    line, problems = preview("gcp", "us-central1", gcp_options(server))
    assert (line.instance_type, line.hourly_cost_each) == ("e2-standard-4", pytest.approx(0.13402))
    (problem,) = problems
    assert "the Cloud Billing Catalog needs an API key: set GOOGLE_API_KEY" in problem
    assert server.requests == []  # nothing asked without a key


def test_gcp_preview_prices_the_worker_from_every_page_of_the_catalog(server: PriceServer, monkeypatch) -> None:
    """Given E2 at $0.01 per vCPU-hour and $0.002 per GiB-hour (second page), the worker's
    e2-standard-4 costs 4 x 0.01 + 16 x 0.002 = $0.072."""
    monkeypatch.setenv("GOOGLE_API_KEY", API_KEY)
    server.routes["/v1/services/6F81-5844-456A/skus"] = billing_route([
        [sku("E2 Instance Core running in Americas", "OnDemand", ["us-central1", "us-east1"], 0.01),
         sku("E2 Instance Core running in Belgium", "OnDemand", ["europe-west1"], 0.5)],
        [sku("E2 Instance Ram running in Americas", "OnDemand", ["us-central1", "us-east1"], 0.002, "GiBy.h")],
    ])

    line, problems = preview("gcp", "us-central1", gcp_options(server))

    assert (line.instance_type, line.hourly_cost_each) == ("e2-standard-4", pytest.approx(0.072))
    assert line.price_note.startswith("live: Cloud Billing Catalog")
    assert problems == []
    assert len(server.requests) == 2


def test_gcp_a_rejected_key_is_reported_with_googles_message(server: PriceServer, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "wrong")
    server.routes["/v1/services/6F81-5844-456A/skus"] = billing_route([[]])
    _, problems = preview("gcp", "us-central1", gcp_options(server))
    (problem,) = problems
    assert "HTTP 400 API key not valid" in problem and "key=" not in problem  # the key is never printed


# ---- OCI: the public price list


def test_oci_preview_prices_the_flex_worker_from_the_public_price_list(server: PriceServer) -> None:
    """Given E4 Flex at $0.02 per OCPU-hour and $0.001 per GB-hour (embedded: 0.025 / 0.0015),
    the worker's E4 Flex node is priced at those rates."""
    def item(part: str, value: float) -> dict[str, Any]:
        return {"partNumber": part, "displayName": f"Compute - Standard - E4 - {part}", "metricName": "OCPU Per Hour",
                "serviceCategory": "Compute - Virtual Machine",
                "currencyCodeLocalizations": [{"currencyCode": "USD", "prices": [{"model": "PAY_AS_YOU_GO", "value": value}]}]}

    body = json.dumps({"items": [item("B93113", 0.02), item("B93114", 0.001)]}).encode()
    server.routes["/products/"] = lambda q: (200, "application/json", body)

    line, problems = preview("oci", "us-ashburn-1", {"oci": {"priceListURL": f"{server.url}/products/?currencyCode=USD"}})

    assert line.instance_type.startswith("VM.Standard.E4.Flex")
    ocpus = line.vcpu / 2
    assert line.hourly_cost_each == pytest.approx(ocpus * 0.02 + line.memory_gib * 0.001)
    assert "OCI price list" in line.price_note
    assert problems == []


# ---- no flag, no network


def test_without_the_flag_no_price_list_is_asked(server: PriceServer, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", API_KEY)
    options = {**aws_options(server), **gcp_options(server), "oci": {"priceListURL": f"{server.url}/products/"},
               "azure": {"retailPricesURL": f"{server.url}/api/retail/prices"}}
    for cloud, region in (("aws", "us-east-1"), ("gcp", "us-central1"), ("oci", "us-ashburn-1"), ("azure", "eastus")):
        preview(cloud, region, options, live=False)
    assert server.requests == []
