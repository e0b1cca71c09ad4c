"""Azure (AKS): nodes through agent pools and their scale sets; live Retail Prices.

`pip install 'smart-autoscaler[azure]'` (azure-mgmt-containerservice 35.0 or newer, the
oldest tested: both its msrest models, up to 3x, and its later typespec models; and
azure-identity). The SDKs are imported only when a provider is built, so `preview` and
`simulate` start fast. Credentials come from the SDK's standard chain (Workload Identity in
the cluster, a managed identity, or the environment); none are read or logged here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from autoscaler.config import Config


@lru_cache(maxsize=1)
def _families() -> dict[str, frozenset[str]]:
    from pricing.catalog import raw_catalog
    from providers.azure.errors import family_index

    return family_index(raw_catalog("azure")["instance_types"])


def family_sizes(family: str) -> frozenset[str]:
    """Every size of a VM family as quota messages name it (e.g. standardEASv5Family)."""
    return _families().get(family.lower(), frozenset())


def create_provider(
    config: Config | None = None,
    clock: Any = None,
    credential: Any = None,
    base_url: str | None = None,
    polling_interval: float | None = None,
    allow_http: bool = False,
    sdk_options: dict[str, Any] | None = None,
    **_: Any,
) -> Any:
    """The AKS provider for `config` (azure.* options); ValueError says what is missing."""
    from dataclasses import replace

    from autoscaler.clock import SystemClock
    from providers.azure.api import AzureApi
    from providers.azure.provider import AzureProvider

    config = config or Config(cloud="azure")
    settings = config.azure
    subscription = settings.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID", "")
    missing = [
        name
        for name, value in (("azure.subscriptionId (or $AZURE_SUBSCRIPTION_ID)", subscription), ("azure.resourceGroup", settings.resource_group))
        if not value
    ]
    if missing:
        raise ValueError(f"the Azure provider needs {' and '.join(missing)} in the configuration")
    if not settings.cluster_name:
        config = replace(config, azure=replace(settings, cluster_name=config.cluster_name))
    endpoint = base_url or settings.resource_manager_endpoint.rstrip("/")
    if _loopback_http(endpoint):  # a local test server: plain HTTP, and no real token ever sent
        allow_http = True
        credential = credential or LoopbackCredential()
    try:
        api = AzureApi(config.azure, subscription, credential, endpoint, polling_interval, allow_http, sdk_options)
    except ImportError as err:  # the SDKs are an optional dependency
        raise ValueError(f"the Azure SDK is not installed ({err.name}): pip install 'smart-autoscaler[azure]'") from None
    return AzureProvider(api, config, clock or SystemClock(), subscription, family_sizes)


def _loopback_http(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")


class LoopbackCredential:
    """The token for a Resource Manager endpoint on this machine over plain HTTP (a test
    server): a placeholder, so that no real credential is fetched or sent in clear."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("loopback", 2**31 - 1)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("loopback", 2**31 - 1)


def live_prices(region: str, config: Config | None = None) -> Any:
    """One blocking fetch of the region's live Linux prices (for `preview --live-prices`)."""
    from providers.azure.prices import RetailPrices

    settings = (config or Config()).azure
    return RetailPrices(settings.retail_prices_url, region, settings.price_refresh_interval, settings.call_timeout).refresh()
