"""OCI's public price list (the cost estimator's JSON) applied to the embedded OCI catalog.

The list (`apexapps.oracle.com/pls/apex/cetools/api/v1/products/?currencyCode=USD`, no
credentials) has one item per part number: `{"partNumber", "displayName", "metricName",
"currencyCodeLocalizations": [{"currencyCode": "USD", "prices": [{"model": "PAY_AS_YOU_GO",
"value": 0.03}]}]}`. The embedded data name the part numbers each shape is billed by (Flex:
OCPU-hour and GB-hour; GPU shapes: GPU-hour; bare metal: its generation's OCPU and GB rates).
A part the list lacks, or lists at $0 (Ampere A1's always-free tier), keeps the embedded rate.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pricing.types import ON_DEMAND, RegionCatalog


@dataclass(frozen=True)
class OciRates:
    """Live on-demand figures: Flex shape -> (per OCPU-hour, per GB-hour); fixed shape -> per hour."""

    flex: dict[str, tuple[float, float]] = field(default_factory=dict)
    fixed: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.flex or self.fixed)


def parse_price_list(document: Any) -> dict[str, float]:
    """Part number -> USD pay-as-you-go price, for every positive price in the document."""
    by_part: dict[str, float] = {}
    items = document.get("items") if isinstance(document, dict) else None
    for item in items or []:
        if not isinstance(item, dict) or not item.get("partNumber"):
            continue
        for localization in item.get("currencyCodeLocalizations") or []:
            if localization.get("currencyCode") != "USD":
                continue
            for price in localization.get("prices") or []:
                value = price.get("value")
                if price.get("model") == "PAY_AS_YOU_GO" and isinstance(value, (int, float)) and value > 0:
                    by_part[item["partNumber"]] = float(value)
    return by_part


def rates_from(by_part: dict[str, float], data: dict[str, Any]) -> OciRates:
    """The embedded catalog's shapes priced from the list's parts (missing parts: embedded)."""
    flex: dict[str, tuple[float, float]] = {}
    for shape in data.get("flex_shapes", []):
        ocpu = by_part.get(shape.get("ocpu_part", ""), shape["ocpu_price"])
        memory = by_part.get(shape.get("memory_part", ""), shape["memory_gb_price"])
        flex[shape["name"]] = (ocpu, memory)
    fixed: dict[str, float] = {}
    for spec in data.get("instance_types", []):
        basis = spec.get("price_basis") or {}
        if "gpu_part" in basis:
            fixed[spec["name"]] = round(by_part.get(basis["gpu_part"], basis["gpu_hour"]) * basis["gpus"], 6)
        elif "ocpu_part" in basis:
            ocpu = by_part.get(basis["ocpu_part"], basis["ocpu_hour"])
            memory = by_part.get(basis["memory_part"], basis["memory_gb_hour"])
            fixed[spec["name"]] = round(ocpu * basis["ocpus"] + memory * basis["memory_gb"], 6)
    return OciRates(flex, fixed)


def reprice(base: RegionCatalog, rates: OciRates, note: str) -> RegionCatalog:
    """`base` with its Flex shapes' rates and its fixed shapes' prices from `rates`."""
    shapes = tuple(
        replace(shape, ocpu_price=rates.flex[shape.name][0], memory_gb_price=rates.flex[shape.name][1])
        if shape.name in rates.flex
        else shape
        for shape in base.flex_shapes
    )
    by_name = {shape.name: shape for shape in shapes}
    ratio = next((shape.preemptible_ratio for shape in shapes), 0.5)  # preemptible = half of on-demand
    offerings = []
    for offering in base.offerings:
        name = offering.instance_type.name
        shape = by_name.get(name) if offering.instance_type.flexible else None
        if shape is not None:
            smallest = shape.min_ocpus
            price = shape.price(smallest, shape.memory_range(smallest)[0], offering.capacity_type)
        elif name in rates.fixed:
            price = rates.fixed[name] if offering.capacity_type == ON_DEMAND else rates.fixed[name] * ratio
        else:
            offerings.append(offering)
            continue
        offerings.append(replace(offering, price=round(price, 6), price_note=(offering.price_note + "; " if offering.price_note else "") + note))
    return replace(base, offerings=tuple(offerings), flex_shapes=shapes)
