"""Embedded prices that hold together: the outliers of a price table, found by comparison.

Pure: tables in, findings out (used by tests/test_price_consistency.py over every embedded
table). Four kinds, each a sign of a figure copied from the wrong meter (a Windows rate, a
capacity-block rate, a typo):
- twin: a size dearer than its same-shape twin of another CPU vendor by more than TWIN_SLACK
  (Azure `Standard_E4as_v5` vs `Standard_E4s_v5`; AWS `m5a.large` vs `m5.large`; GCP `n2d-`
  vs `n2-`). Where a vendor publishes the AMD size dearer on purpose the pair is listed in
  DEARER_BY_DESIGN with the page that says so.
- spot: a spot/preemptible price above the on-demand one of the same type.
- per-vCPU: a size whose price per vCPU is out of line (beyond FAMILY_SPREAD) with the median
  of its family (same memory per vCPU, no GPUs) in the same region.
- region: a type whose price in a region, against the reference region, strays from that
  region's median factor by more than REGION_SPREAD.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

TWIN_SLACK = 1.05
FAMILY_SPREAD = 1.5
REGION_SPREAD = 3.0  # Azure's regional factors run from 0.8 to 2 x eastus; 3 x a region's own median is a wrong meter
# AWS lists its AMD sizes from the 7th generation on above the Intel ones: each vCPU is a
# physical core, without SMT (aws.amazon.com/ec2/instance-types/m7a/ and /m8a/).
AWS_FULL_CORE_AMD_FROM = 7
# Burstable and shared-core sizes sell a fraction of a CPU: their $/vCPU is no family figure.
_BURSTABLE = re.compile(r"^(t\d|Standard_B\d|Standard_B[a-z]*\d|e2-(micro|small|medium)$|f1-|g1-)")
# Accelerated AWS sizes whose accelerator is no GPU count of the catalog (Inferentia, Trainium,
# fractional GPUs, FPGAs, video transcoders): their $/vCPU follows the accelerator, not the CPU.
_ACCELERATED = re.compile(r"^(inf\d|trn\d|dl\d|f\d|vt\d|g\d+f)")


@dataclass(frozen=True, slots=True)
class Outlier:
    cloud: str
    region: str
    name: str
    price: float
    kind: str  # twin, spot, per-vcpu, region
    against: str  # what it was compared with, for people

    def __str__(self) -> str:
        return f"{self.cloud} {self.region} {self.name} ${self.price:g}/h: {self.kind} ({self.against})"


_AZURE = re.compile(r"^(Standard_[A-Z]+)(\d+)(-\d+)?([a-z]*)(_.*)?$")
_AWS = re.compile(r"^([a-z]+)(\d+)([a-z]*)\.(.+)$")


def intel_twin(cloud: str, name: str) -> str | None:
    """The same shape from the other CPU vendor's (Intel) line, by the cloud's naming."""
    if cloud == "azure":
        match = _AZURE.match(name)
        if match is None or "a" not in (match.group(4) or ""):
            return None
        prefix, number, constrained, suffix, version = match.groups()
        return f"{prefix}{number}{constrained or ''}{suffix.replace('a', '', 1)}{version or ''}"
    if cloud == "aws":
        match = _AWS.match(name)
        if match is None or not match.group(3).startswith("a") or match.group(1) in ("a", "inf", "trn"):
            return None
        family, generation, variant, size = match.groups()
        rest = variant[1:]
        intel = f"{family}{generation}{'i' if int(generation) >= 6 else ''}{rest}"
        return f"{intel}.{size}"
    if cloud == "gcp" and name.startswith(("n2d-", "c2d-", "c3d-")):
        return name[:2] + name[3:]
    return None


def _dearer_by_design(cloud: str, name: str) -> bool:
    match = _AWS.match(name) if cloud == "aws" else None
    return match is not None and int(match.group(2)) >= AWS_FULL_CORE_AMD_FROM


def _same_shape(specs: Mapping[str, Mapping[str, Any]], one: str, other: str) -> bool:
    a, b = specs.get(one), specs.get(other)
    if a is None or b is None:
        return True  # no spec to tell them apart: the names say twins
    return (a.get("vcpu"), a.get("memory_mib"), a.get("gpu_count") or 0) == (b.get("vcpu"), b.get("memory_mib"), b.get("gpu_count") or 0)


def twin_outliers(cloud: str, region: str, prices: Mapping[str, float], specs: Mapping[str, Mapping[str, Any]] | None = None) -> list[Outlier]:
    found = []
    for name, price in prices.items():
        twin = intel_twin(cloud, name)
        if twin is None or twin not in prices or not price or _dearer_by_design(cloud, name):
            continue
        if not _same_shape(specs or {}, name, twin):
            continue
        if price > prices[twin] * TWIN_SLACK:
            found.append(Outlier(cloud, region, name, price, "twin", f"{twin} ${prices[twin]:g}/h"))
    return found


def spot_outliers(cloud: str, region: str, on_demand: Mapping[str, float], spot: Mapping[str, float]) -> list[Outlier]:
    return [
        Outlier(cloud, region, name, price, "spot", f"on-demand ${on_demand[name]:g}/h")
        for name, price in spot.items()
        if name in on_demand and price > on_demand[name]
    ]


def family_outliers(cloud: str, region: str, prices: Mapping[str, float], specs: Mapping[str, Mapping[str, Any]]) -> list[Outlier]:
    """Sizes whose $/vCPU strays from the median of their family (same memory per vCPU, no GPU)."""
    groups: dict[tuple[str, int], list[tuple[str, float]]] = {}
    for name, price in prices.items():
        spec = specs.get(name)
        if not spec or not price or spec.get("gpu_count") or not spec.get("vcpu") or ".metal" in name or _BURSTABLE.match(name) or _ACCELERATED.match(name):
            continue
        family = spec.get("sku_family") or spec.get("family") or ""
        per_cpu_memory = round(spec["memory_mib"] / spec["vcpu"] / 256)  # quarter-GiB steps
        groups.setdefault((family, per_cpu_memory), []).append((name, price / spec["vcpu"]))
    found = []
    for (family, _), members in groups.items():
        if len(members) < 3:
            continue
        median = statistics.median(rate for _, rate in members)
        for name, rate in members:
            if rate > median * FAMILY_SPREAD or rate * FAMILY_SPREAD < median:
                found.append(Outlier(cloud, region, name, prices[name], "per-vcpu", f"{family} median ${median:.4f}/vCPU-h"))
    return found


def region_outliers(cloud: str, reference: str, tables: Mapping[str, Mapping[str, float]]) -> list[Outlier]:
    """Prices whose factor against the reference region strays from their region's median factor."""
    base = tables.get(reference, {})
    found = []
    for region, prices in tables.items():
        factors = {name: price / base[name] for name, price in prices.items() if base.get(name) and price}
        if len(factors) < 20:
            continue
        median = statistics.median(factors.values())
        for name, factor in factors.items():
            if factor > median * REGION_SPREAD or factor * REGION_SPREAD < median:
                found.append(Outlier(cloud, region, name, prices[name], "region",
                                     f"{factor:.2f} x {reference} where {region}'s median is {median:.2f}"))
    return found


def outliers(cloud: str, data: Mapping[str, Any]) -> list[Outlier]:
    """Every outlier of one cloud's embedded catalog (pricing/data/<cloud>.json*)."""
    specs = {spec["name"]: spec for spec in data.get("instance_types", [])}
    tables: Mapping[str, Mapping[str, float]] = data.get("prices", {})
    found: list[Outlier] = []
    for region, prices in tables.items():
        found += twin_outliers(cloud, region, prices, specs)
        found += family_outliers(cloud, region, prices, specs)
        found += spot_outliers(cloud, region, prices, data.get("spot_prices", {}).get(region, {}))
    if cloud == "azure":
        found += region_outliers(cloud, "eastus", tables)
    for gpu in data.get("attachable_gpus", []):
        if gpu.get("preemptible_price", 0) > gpu.get("price", 0):
            found.append(Outlier(cloud, "*", gpu["gce_name"], gpu["preemptible_price"], "spot", f"on-demand ${gpu['price']:g}/h"))
    return found


def by_kind(found: Iterable[Outlier]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outlier in found:
        counts[outlier.kind] = counts.get(outlier.kind, 0) + 1
    return counts
