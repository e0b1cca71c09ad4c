"""The GCP provider: GKE nodes through node pools and their managed instance groups
(`--provider gcp`; `pip install 'smart-autoscaler[gcp]'`).

One module per job, as the AWS provider lays them out:

    clients.py      SDK clients (REST transport): credential chain, one endpoint, no SDK at import
    calls.py        every call with a timeout; HTTP and operation errors as GceErrors
    errors.py       GCE/GKE error codes -> typed failures with their scope (the table)
    pools.py        a node pool per offering: deterministic name and NodePool body (pure)
    nodepools.py    GKE calls: find, create (once, concurrently), delete idle pools
    migs.py         a pool's MIG: createInstances one named instance, deleteInstances it, list
    prices.py       Cloud Billing Catalog SKUs -> per-region prices (pure)
    discovered.py   machine types Compute Engine lists that the embedded catalog lacks
    livecatalog.py  zones and prices refreshed off the loop, embedded fallback
    launch.py       one launch: zones in order, the pool, one named instance, cancel on failure
    provider.py     GcpProvider: launch / terminate / list_instances (+ live_catalog)

google-cloud-compute, -container and -billing are imported only when this provider is built.
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
