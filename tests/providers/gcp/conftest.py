"""The GCP provider under test, against a local server answering as GKE, Compute Engine and
the Cloud Billing Catalog do (tests/gcp_fake.py), through the SDKs' REST transport: project
`proj`, regional cluster `c1` in us-central1 with zones a and b."""

from __future__ import annotations

import pytest

pytest.importorskip("google.cloud.compute_v1")
pytest.importorskip("google.cloud.container_v1")

from autoscaler.config import config_from_mapping  # noqa: E402
from autoscaler.nodelabels import node_labels  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from pricing.types import ON_DEMAND  # noqa: E402
from providers.base import LaunchRequest  # noqa: E402
from tests.gcp_fake import FakeGcp  # noqa: E402

REGION = "us-central1"
A, B = "us-central1-a", "us-central1-b"
T4_TYPE = "n1-standard-4+1xnvidia-tesla-t4"


@pytest.fixture
def gcp():
    fake = FakeGcp(project="proj", location=REGION, cluster="c1")
    for machine in ("n1-standard-4", "n1-standard-8", "n2-standard-4", "g2-standard-4", "e2-standard-4"):
        fake.zones[machine] = [A, B]
    fake.accelerator_zones["nvidia-tesla-t4"] = [A, B]
    fake.endpoint = fake.start()
    yield fake
    fake.stop()


def make_provider(fake: FakeGcp, **options):
    from providers.gcp import create_provider

    values = {
        "cloud": "gcp",
        "region": REGION,
        "clusterName": "c1",
        "scaleUpTimeout": options.pop("scaleUpTimeout", "30s"),
        "gcp": {"project": "proj", "apiEndpoint": fake.endpoint, "pollInterval": "0.01", "callTimeout": "5s", **options},
    }
    return create_provider(config=config_from_mapping(values), start_prices=False)


def itype(name: str):
    return next(o.instance_type for o in region_catalog("gcp", REGION).offerings if o.instance_type.name == name)


def request(name: str, capacity: str = ON_DEMAND, key: str = "req-1", zones=(REGION,), role: str = "bin-select", slices: int | None = None):
    """A launch request as the loop sends it for this catalog type."""
    t = itype(name)
    labels = node_labels("gcp", REGION, t, capacity, "", role, {}, slices)
    taints = next(o.taints for o in region_catalog("gcp", REGION).offerings if o.instance_type.name == name)
    return LaunchRequest(request_id=key, instance_type=t, capacity_type=capacity, zones=tuple(zones), labels=labels, taints=taints)
