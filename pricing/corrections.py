"""Corrections to the embedded price tables (pricing/data/price_corrections.json): figures a
published source corrects, and figures dropped because they do not hold together with their
twins, family or neighbours (pricing/consistency.py finds them; SOURCES.md says why each
group went). A dropped price leaves its type unpriced offline -- not offered until a live
price source (the Azure Retail Prices API, ...) answers for it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from importlib import resources as importlib_resources


@lru_cache(maxsize=1)
def _corrections() -> dict[str, Any]:
    return json.loads(importlib_resources.files("pricing").joinpath("data", "price_corrections.json").read_text())


def apply_price_corrections(cloud: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a cloud's raw catalog) with its corrections applied, in place."""
    corrections = _corrections().get(cloud)
    if not corrections:
        return data
    families = {spec["name"]: spec.get("sku_family") or spec.get("family") for spec in data.get("instance_types", [])}
    for region, names in corrections.get("drop", {}).items():
        table = data.get("prices", {}).get(region)
        if table is None:
            continue
        dropped = set(names)
        for name in [n for n in table if n in dropped or families.get(n) in dropped]:
            del table[name]
    for region, prices in corrections.get("set", {}).items():
        table = data.setdefault("prices", {}).setdefault(region, {})
        for name, entry in prices.items():
            table[name] = entry["price"]
    return data
