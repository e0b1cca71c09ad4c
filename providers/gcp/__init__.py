"""GKE nodes through node pools and their managed instance groups (`--provider gcp`).

`pip install 'smart-autoscaler[gcp]'` installs google-cloud-compute, google-cloud-container
and google-cloud-billing; they are imported only when this provider is built.
"""

from __future__ import annotations

from typing import Any

from autoscaler.config import Config


def create_provider(config: Config | None = None, clock: Any = None, start_prices: bool = True, **_: Any) -> Any:
    from pricing.catalog import CatalogSettings, region_catalog
    from providers.gcp.clients import build_clients
    from providers.gcp.livecatalog import LiveCatalog
    from providers.gcp.provider import GcpProvider

    if config is None:
        raise ValueError("the gcp provider needs the configuration (cloud, region, clusterName, gcp.*)")
    if config.cloud != "gcp":
        raise ValueError(f"--provider gcp with configuration cloud {config.cloud!r}: set cloud: gcp")
    clients = build_clients(config.gcp)
    if not clients.project:
        raise ValueError("gcp.project is not set and the default credentials name no project")
    settings = CatalogSettings(config.spot_price_ratio_estimate, config.vm_memory_overhead_percent, config.max_pods_per_node)
    embedded = region_catalog("gcp", config.region, settings)
    prices = LiveCatalog(clients, config.gcp, config.region, settings)
    return GcpProvider(config, clients, embedded, prices, clock, start_prices=start_prices)
