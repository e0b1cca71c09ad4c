"""AWS's public bulk price list (the Price List Bulk API's offer file, CSV) -> on-demand
Linux prices per instance type. Pure: lines in, prices out.

The regional offer file for Amazon EC2
(`https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/<region>/index.csv`,
no account needed) starts with five rows of metadata (format version, disclaimer, publication
date, version, offer code); the sixth names the columns ("SKU", "OfferTermCode", "RateCode",
"TermType", ..., "Unit", "PricePerUnit", "Currency", ..., "Instance Type", ..., "Tenancy",
"Operating System", "License Model", ..., "CapacityStatus", ..., "Pre Installed S/W", ...);
then one row per price dimension. The kept rows are what the daemon's GetProducts filters ask
for: TermType OnDemand, Unit Hrs, USD, Linux, shared tenancy, no pre-installed software,
capacity status Used, no licence required. Columns are found by name, so their order (which
AWS does not promise) does not matter. A region's file is large (hundreds of MB for the big
regions): rows are filtered as text before they are parsed.
"""

from __future__ import annotations

import csv
from typing import Iterable, Iterator

METADATA_ROWS = 5
WANTED = {
    "TermType": "OnDemand",
    "Unit": "Hrs",
    "Currency": "USD",
    "Operating System": "Linux",
    "Tenancy": "Shared",
    "Pre Installed S/W": "NA",
    "CapacityStatus": "Used",
    "License Model": "No License required",
}
COLUMNS = ("Instance Type", "PricePerUnit", *WANTED)


class BulkPriceListError(ValueError):
    """The file is not an EC2 offer file in the published CSV shape."""


def _candidates(lines: Iterator[str]) -> Iterator[str]:
    """Rows that can match: a cheap text test before the CSV parse."""
    for line in lines:
        if '"OnDemand"' in line and '"Linux"' in line and '"Shared"' in line:
            yield line


def on_demand_prices(lines: Iterable[str]) -> dict[str, float]:
    """Instance type -> USD per hour, from the offer file's lines (text, with or without newlines)."""
    rows = iter(lines)
    for _ in range(METADATA_ROWS):
        if next(rows, None) is None:
            raise BulkPriceListError("the file ends inside its five metadata rows")
    header_line = next(rows, None)
    if header_line is None:
        raise BulkPriceListError("the file has no column names (its sixth row)")
    header = next(csv.reader([header_line]))
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise BulkPriceListError(f"not an EC2 offer file: no column {', '.join(repr(m) for m in missing)}")
    index = {name: header.index(name) for name in COLUMNS}
    width = max(index.values())
    prices: dict[str, float] = {}
    for row in csv.reader(_candidates(rows)):
        if len(row) <= width or any(row[index[name]] != value for name, value in WANTED.items()):
            continue
        name = row[index["Instance Type"]]
        try:
            usd = float(row[index["PricePerUnit"]])
        except ValueError:
            continue
        if name and usd > 0:
            prices[name] = usd
    return prices
