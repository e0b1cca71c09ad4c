"""The OCI provider: OKE node pools through the `oci` SDK (`pip install 'smart-autoscaler[oci]'`).

The SDK is imported only when the provider is built, so `preview` and `simulate` start fast.
"""

from __future__ import annotations

import time
from typing import Any

from autoscaler.config import Config

REQUIRED = (("compartment_id", "oci.compartmentId"), ("cluster_id", "oci.clusterId"), ("subnet_id", "oci.subnetId"))


def create_provider(
    config: Config | None = None,
    clock: Any = None,
    signer: Any = None,
    poll_interval: float = 2.0,
    start_prices: bool = True,
    sleep: Any = time.sleep,
    **_: Any,
) -> Any:
    try:
        import oci
    except ImportError as err:
        raise ValueError(f"the oci SDK is not installed ({err}); install smart-autoscaler[oci]") from None
    from pricing.catalog import raw_catalog
    from providers.oci.clients import make_clients
    from providers.oci.prices import LivePrices
    from providers.oci.provider import OciProvider

    config = config or Config(cloud="oci")
    missing = [option for attr, option in REQUIRED if not getattr(config.oci, attr)]
    if missing:
        raise ValueError(f"the OCI provider needs {', '.join(missing)} in the configuration")
    data = raw_catalog("oci")
    known = frozenset(spec["name"] for spec in data["instance_types"]) | frozenset(f["name"] for f in data["flex_shapes"])
    now = clock.now if clock is not None and hasattr(clock, "now") else time.time
    settings = config.oci
    prices = LivePrices(settings.price_list_url, settings.price_refresh_interval, settings.call_timeout)
    return OciProvider(
        config,
        make_clients(config.oci, config.region, signer),
        oci.container_engine.models,
        oci.exceptions.ServiceError,
        known_shapes=known,
        clock=now,
        poll_interval=poll_interval,
        sleep=sleep,
        prices=prices,
        start_prices=start_prices,
    )
