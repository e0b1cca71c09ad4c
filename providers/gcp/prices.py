"""Compute Engine list prices per region from Cloud Billing Catalog SKUs.

The Catalog prices resources, not machine types: a VM costs its vCPUs x the family's core
SKU + its GiB x the family's RAM SKU (+ its GPUs x the GPU's SKU, for attached GPUs and for
the accelerator-optimized a2/a3/g2 alike). usageType "OnDemand" is the standard price,
"Preemptible" the spot price. SKUs are matched on their description (the Catalog's only
name for what they price) and their serviceRegions; committed-use, custom, sole-tenant and
extended-memory SKUs are left out. Pure: SKUs in (as the SDK's messages or plain dicts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from pricing.types import ON_DEMAND, SPOT, InstanceType

COMPUTE_ENGINE_SERVICE = "services/6F81-5844-456A"
_EXCLUDED = re.compile(r"Custom|Sole Tenancy|Commit|Reserved|Extended|Premium|DWS|Calendar|Flex|Confidential", re.IGNORECASE)
_RESOURCE = re.compile(r"^(?:Spot )?(?:Preemptible )?(.+?) (?:Predefined )?(?:Instance )?(Core|Ram) running in ", re.IGNORECASE)
_GPU = re.compile(r"^(?:Spot )?(?:Preemptible )?Nvidia (?:Tesla )?(.+?) GPU running in ", re.IGNORECASE)
# Descriptions that do not start with the family's name.
_FAMILY_NAMES = {"compute optimized": "c2", "memory-optimized": "m1", "memory optimized": "m1"}
_USAGE = {"OnDemand": ON_DEMAND, "Preemptible": SPOT}


@dataclass
class RegionPrices:
    """Per-unit prices of one region: (family, core|ram, capacity type) and (GPU, capacity type)."""

    region: str
    resources: dict[tuple[str, str, str], float] = field(default_factory=dict)
    gpus: dict[tuple[str, str], float] = field(default_factory=dict)
    _breadth: dict[tuple, int] = field(default_factory=dict)  # fewer regions = more specific SKU

    def price(self, itype: InstanceType, capacity_type: str) -> float | None:
        """The type's hourly price, or None when a SKU it needs is missing."""
        if itype.gpu_fractional or (itype.machine_type or itype.name).startswith(("e2-micro", "e2-small", "e2-medium", "f1-", "g1-")):
            return None  # shared-core machines are priced per machine, not per vCPU
        family = itype.family.lower()
        core = self.resources.get((family, "core", capacity_type))
        ram = self.resources.get((family, "ram", capacity_type))
        if core is None or ram is None:
            return None
        total = itype.vcpu * core + itype.memory_mib / 1024 * ram
        if itype.gpu_count:
            gpu = self.gpus.get((gpu_sku_name(itype), capacity_type))
            if gpu is None:
                return None
            total += itype.gpu_count * gpu
        return round(total, 6)


def gpu_sku_name(itype: InstanceType) -> str:
    """How the Catalog names the type's GPU: T4, A100, A100 80GB, L4, H100 80GB, ..."""
    model = (itype.gpu_model or "").upper()
    if model == "A100" and (itype.gpu_memory_mib or 0) > 40960:
        return "A100 80GB"
    if model == "H100":
        return "H100 80GB"
    return model


def region_prices(skus: Iterable[Any], region: str) -> RegionPrices:
    prices = RegionPrices(region)
    for sku in skus:
        description = _get(sku, "description") or ""
        category = _get(sku, "category")
        usage = _USAGE.get(_get(category, "usage_type") or "")
        regions = list(_get(sku, "service_regions") or [])
        if usage is None or region not in regions or _EXCLUDED.search(description):
            continue
        unit_price = _unit_price(sku)
        if unit_price is None:
            continue
        resource = _RESOURCE.match(description)
        gpu = _GPU.match(description)
        if gpu:
            key: tuple = (gpu.group(1).upper(), usage)
            table: dict = prices.gpus
        elif resource:
            family_text = resource.group(1).lower()
            family = _FAMILY_NAMES.get(family_text, family_text.split()[0])
            key = (family, resource.group(2).lower(), usage)
            table = prices.resources
        else:
            continue
        breadth = len(regions)
        if key in table and prices._breadth.get(key, 10**6) <= breadth:
            continue
        table[key] = unit_price
        prices._breadth[key] = breadth
    return prices


def _unit_price(sku: Any) -> float | None:
    infos = list(_get(sku, "pricing_info") or [])
    if not infos:
        return None
    expression = _get(infos[0], "pricing_expression")
    rates = list(_get(expression, "tiered_rates") or [])
    if not rates:
        return None
    money = _get(rates[-1], "unit_price")
    units = int(_get(money, "units") or 0)
    nanos = int(_get(money, "nanos") or 0)
    return units + nanos / 1e9


def _get(message: Any, name: str) -> Any:
    if message is None:
        return None
    if isinstance(message, dict):
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
        return message.get(name, message.get(camel))
    return getattr(message, name, None)
