"""Shared set-up for the Azure provider tests: the fake ARM server, a fake token credential,
and a provider pointed at it (plain HTTP allowed for the test only)."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("azure.mgmt.containerservice")
pytest.importorskip("azure.mgmt.containerservice")

from autoscaler.clock import SimClock  # noqa: E402
from autoscaler.config import config_from_mapping  # noqa: E402
from pricing.catalog import region_catalog  # noqa: E402
from pricing.types import InstanceType  # noqa: E402
from tests.providers.fake_azure import CLUSTER, RESOURCE_GROUP, SUBSCRIPTION, start_fake_azure  # noqa: E402


class FakeCredential:
    """A TokenCredential that hands out a fixed token (the fake server does not check it)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("fake-token", int(time.time()) + 3600)


def azure_config(**azure: Any) -> Any:
    return config_from_mapping(
        {
            "cloud": "azure",
            "region": "eastus",
            "clusterName": "prod-east",
            "azure": {"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "clusterName": CLUSTER, **azure},
        }
    )


def size(name: str) -> InstanceType:
    return next(o.instance_type for o in region_catalog("azure", "eastus").offerings if o.instance_type.name == name)


@pytest.fixture
def fake_azure():
    fake, server = start_fake_azure()
    yield fake
    server.shutdown()


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


def make_provider(fake: Any, clock: SimClock, **azure: Any) -> Any:
    from providers.azure import create_provider

    return create_provider(
        config=azure_config(**azure),
        clock=clock,
        credential=FakeCredential(),
        base_url=fake.base_url,
        polling_interval=0,
        allow_http=True,
        sdk_options={"retry_backoff_factor": 0.01},  # the SDK's retries, without their waits
    )


@pytest.fixture
def provider(fake_azure: Any, clock: SimClock) -> Any:
    made = make_provider(fake_azure, clock)
    yield made
    made.close()
