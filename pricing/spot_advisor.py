"""The AWS Spot Instance Advisor data: average spot savings and interruption buckets.

The advisor publishes one JSON document (https://spot-bid-advisor.s3.amazonaws.com/
spot-advisor-data.json) with `ranges` (interruption-frequency buckets: index, label such as
"<5%", max) and `spot_advisor` → region → OS → instance type → `{"s": savings %, "r": bucket
index}`. With `aws.useSpotAdvisor` the spot estimate of a type is on-demand × (1 − s/100);
spot offerings whose bucket is above `aws.maxSpotInterruptBucket`, or whose spot/on-demand
ratio is above `aws.maxSpotPriceRatio`, are not offered. Pure: parsing and applying only;
reading the file or the address is the caller's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from pricing.types import SPOT, Offering

OS_LINUX = "Linux"


class SpotAdvisorError(ValueError):
    """Advisor data that cannot be read; the message names the source and what is wrong."""


@dataclass(frozen=True, slots=True)
class AdvisorEntry:
    savings_percent: int
    bucket: int  # index into the ranges: 0 = least interrupted
    bucket_label: str


@dataclass(frozen=True, eq=False)
class SpotAdvisorData:
    """Parsed advisor data (hashable by identity, so catalogs built from it can be cached)."""

    source: str
    ranges: tuple[str, ...]
    entries: dict[tuple[str, str, str], AdvisorEntry] = field(default_factory=dict)  # (region, os, type)

    def entry(self, region: str, instance_type: str, os: str = OS_LINUX) -> AdvisorEntry | None:
        return self.entries.get((region, os, instance_type))

    def regions(self) -> set[str]:
        return {region for region, _, _ in self.entries}


def parse_advisor(blob: bytes | str | dict[str, Any], source: str) -> SpotAdvisorData:
    try:
        data = json.loads(blob) if isinstance(blob, (bytes, str)) else blob
    except (ValueError, UnicodeDecodeError) as err:
        raise SpotAdvisorError(f"spot advisor data {source}: not JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("spot_advisor"), dict):
        raise SpotAdvisorError(f"spot advisor data {source}: no 'spot_advisor' mapping (region -> OS -> type)")
    raw_ranges = data.get("ranges")
    if not isinstance(raw_ranges, list) or not raw_ranges:
        raise SpotAdvisorError(f"spot advisor data {source}: no 'ranges' list of interruption buckets")
    labels: dict[int, str] = {}
    for item in raw_ranges:
        if not isinstance(item, dict) or not isinstance(item.get("index"), int):
            raise SpotAdvisorError(f"spot advisor data {source}: range {item!r} has no integer 'index'")
        labels[item["index"]] = str(item.get("label", item["index"]))
    ranges = tuple(labels[i] for i in sorted(labels))
    entries: dict[tuple[str, str, str], AdvisorEntry] = {}
    for region, by_os in data["spot_advisor"].items():
        if not isinstance(by_os, dict):
            raise SpotAdvisorError(f"spot advisor data {source}: spot_advisor.{region} is not a mapping")
        for os_name, by_type in by_os.items():
            if not isinstance(by_type, dict):
                raise SpotAdvisorError(f"spot advisor data {source}: spot_advisor.{region}.{os_name} is not a mapping")
            for type_name, stats in by_type.items():
                savings, bucket = (stats.get("s"), stats.get("r")) if isinstance(stats, dict) else (None, None)
                if not isinstance(savings, (int, float)) or not isinstance(bucket, int) or not 0 <= savings < 100:
                    where = f"spot_advisor.{region}.{os_name}.{type_name}"
                    raise SpotAdvisorError(f"spot advisor data {source}: {where} = {stats!r}: expected {{s: 0-99, r: bucket}}")
                entries[(region, os_name, type_name)] = AdvisorEntry(int(savings), bucket, labels.get(bucket, str(bucket)))
    return SpotAdvisorData(source, ranges, entries)


def load_advisor_file(path: str) -> SpotAdvisorData:
    try:
        with open(path, "rb") as handle:
            return parse_advisor(handle.read(), path)
    except OSError as err:
        raise SpotAdvisorError(f"spot advisor data {path}: cannot read: {err.strerror}") from None


@dataclass(frozen=True)
class SpotAdvisorPolicy:
    """How advisor data change the spot offerings (aws.maxSpotInterruptBucket, aws.maxSpotPriceRatio)."""

    data: SpotAdvisorData | None
    max_bucket: int = 4
    max_ratio: float = 1.0


def apply_spot_advisor(offerings: Iterable[Offering], region: str, policy: SpotAdvisorPolicy) -> list[Offering]:
    """Spot offerings priced from the advisor and filtered by bucket and ratio; on-demand
    offerings unchanged. A type the advisor does not list keeps the price it had (ratio
    estimate or live) and is filtered by ratio only."""
    offerings = list(offerings)
    on_demand = {(o.instance_type.name, o.zone): o.price for o in offerings if o.capacity_type != SPOT}
    result = []
    for offering in offerings:
        if offering.capacity_type != SPOT:
            result.append(offering)
            continue
        base = on_demand.get((offering.instance_type.name, offering.zone))
        entry = policy.data.entry(region, offering.instance_type.name) if policy.data else None
        if entry is not None:
            if entry.bucket > policy.max_bucket:
                continue
            if base and offering.price_estimated:
                note = f"Spot Instance Advisor: on-demand x (1 - {entry.savings_percent}%), interruptions {entry.bucket_label}"
                offering = replace(offering, price=round(base * (1 - entry.savings_percent / 100), 6), price_estimated=True, price_note=note)
        if base and offering.price / base > policy.max_ratio + 1e-9:
            continue
        result.append(offering)
    return result
