"""Providers by name: the simulated cloud, the four built-in clouds, and plug-ins.

A built-in cloud lives in `providers/<name>.py` and is imported only when asked for (its SDK
is an optional dependency); the module exposes `create_provider(**kwargs) -> Provider`.
Third-party providers register a factory (a class or function taking keyword arguments) in
the entry-point group "smart_autoscaler.providers", e.g. in their pyproject.toml:

    [project.entry-points."smart_autoscaler.providers"]
    mycloud = "mycloud_autoscaler:MyCloudProvider"
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from providers.base import Provider

ENTRY_POINT_GROUP = "smart_autoscaler.providers"
BUILTIN_CLOUDS = ("aws", "gcp", "azure", "oci")
SIMULATED = "simulated"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_providers() -> list[str]:
    """Every name create_provider knows (built-in clouds whose module is missing included)."""
    return [SIMULATED, *BUILTIN_CLOUDS, *sorted(set(_plugins()) - {SIMULATED, *BUILTIN_CLOUDS})]


def create_provider(name: str, **kwargs: Any) -> Provider:
    if name == SIMULATED:
        from autoscaler.sim.cloud import SimulatedProvider

        return SimulatedProvider(**kwargs)
    if name in BUILTIN_CLOUDS:
        return _builtin(name, **kwargs)
    plugin = _plugins().get(name)
    if plugin is None:
        raise ValueError(f"unknown provider {name!r}; known providers: {', '.join(available_providers())}")
    try:
        factory = plugin.load()
    except Exception as err:
        raise ValueError(f"provider {name!r} is not available: cannot load {plugin.value}: {err}") from err
    return factory(**kwargs)


def _builtin(name: str, **kwargs: Any) -> Provider:
    try:
        module = importlib.import_module(f"providers.{name}")
    except ImportError as err:  # the module, or its cloud SDK (an optional dependency), is missing
        extra = f"; install smart-autoscaler[{name}]" if err.name != f"providers.{name}" else ""
        raise ValueError(f"provider {name!r} is not available: {err}{extra}") from err
    factory = getattr(module, "create_provider", None)
    if factory is None:
        raise ValueError(f"provider {name!r} is not available: providers.{name} defines no create_provider()")
    return factory(**kwargs)


def live_prices(cloud: str, region: str, config: Any) -> Any:
    """A built-in cloud's live price table for a region, fetched now (blocking), or None when
    the cloud has no live price source here. The table has `prices` ((type, capacity type) ->
    USD/h) and `note()`. Raises ValueError saying why the prices could not be had."""
    from providers.public_prices import FETCHERS

    if cloud in FETCHERS:  # no SDK, and for AWS and OCI no account (providers/public_prices.py)
        try:
            return FETCHERS[cloud](region, config)
        except ValueError as err:
            raise ValueError(f"live {cloud} prices for {region}: {err}") from None
    try:
        module = importlib.import_module(f"providers.{cloud}")
    except ImportError:
        return None
    fetch = getattr(module, "live_prices", None)
    if fetch is None:
        return None
    try:
        return fetch(region, config)
    except Exception as err:  # the price API's own failure, whatever the cloud
        raise ValueError(f"live {cloud} prices for {region}: {err}") from None
