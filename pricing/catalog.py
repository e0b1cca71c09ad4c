"""The embedded instance-type and price catalog of aws, gcp, azure and oci.

The data files in `pricing/data/` are copies of the project's public catalog (see
`pricing/data/SOURCES.md` for where every figure comes from). Figures are used exactly as
published; derived figures (spot from on-demand, a region priced from another region's list)
are marked `price_estimated` with a note saying how they were derived.
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources as importlib_resources
from typing import Any, Mapping

from pricing.compiled import cached_catalog, settings_key
from pricing.corrections import apply_price_corrections
from pricing.allocatable import DEFAULT_MAX_PODS, node_resources
from pricing.flex import FlexShape
from pricing.spot_advisor import SpotAdvisorData, SpotAdvisorError, SpotAdvisorPolicy, apply_spot_advisor, load_advisor_file
from pricing.types import ON_DEMAND, SPOT, Accelerator, InstanceType, Offering, RegionCatalog, Taint

log = logging.getLogger("smart_autoscaler.pricing")

CLOUDS = ("aws", "gcp", "azure", "oci")
_FILES = {"aws": "aws.json.gz", "gcp": "gcp.json.gz", "azure": "azure.json.gz", "oci": "oci.json"}
# Karpenter's default estimate of memory the hypervisor/kernel keep from the nominal size.
DEFAULT_VM_MEMORY_OVERHEAD = {"aws": 0.075, "gcp": 0.0, "azure": 0.0, "oci": 0.0}
# macOS hosts cannot join a Kubernetes cluster as Linux nodes.
_AWS_UNUSABLE_FAMILY_PREFIXES = ("mac",)
# The GPU taint GKE and OKE put on GPU nodes; pods requesting nvidia.com/gpu tolerate it.
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")
AKS_SPOT_TAINT = Taint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
# Azure sizes AKS cannot run with its default node image and hosts, not chosen unless
# azure.includeSpecialSizes: confidential VMs (DC*, EC*: AMD SEV-SNP / Intel TDX / SGX;
# *_cc_* confidential containers) and promo SKUs.
# Basic_* sizes have no spec in the data, so they are never offered either.
AZURE_SPECIAL_SIZE = re.compile(r"^Standard_(DC|EC|NCC)\d|_cc_|_Promo$", re.IGNORECASE)
# vCPU ceiling per (GPU model, count) for GCP n1 machines with attached GPUs (GCP GPU docs).
_GCP_N1_MAX_VCPU = {
    "T4": {1: 48, 2: 48, 4: 96},
    "P4": {1: 24, 2: 48, 4: 96},
    "V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "P100": {1: 16, 2: 32, 4: 64},
}


class CatalogError(ValueError):
    """A cloud or region the catalog does not know."""


@dataclass(frozen=True)
class CatalogSettings:
    spot_price_ratio: float = 0.5
    vm_memory_overhead: float | None = None  # None: the cloud's default above
    max_pods: int | None = None  # None: per type from the data, else 110
    spot_advisor: SpotAdvisorPolicy | None = None  # AWS only: aws.useSpotAdvisor
    special_sizes: bool = False  # Azure only: azure.includeSpecialSizes (confidential, promo)


def catalog_settings(config: Any, cloud: str | None = None) -> CatalogSettings:
    """The catalog settings a Config asks for (cloud: the target's, default the config's).

    With `aws.useSpotAdvisor`, advisor data come from `aws.spotAdvisorURL` when it names a
    file; an https address is fetched by the AWS provider at run time (never at start), so
    until then -- and in `preview` -- spot stays on-demand x spotPriceRatioEstimate, with a
    warning.
    """
    advisor = None
    if (cloud or config.cloud) == "aws" and config.aws.use_spot_advisor:
        advisor = SpotAdvisorPolicy(
            advisor_file_data(config.aws.spot_advisor_url),
            config.aws.max_spot_interrupt_bucket,
            config.aws.max_spot_price_ratio,
        )
    special = (cloud or config.cloud) == "azure" and config.azure.include_special_sizes
    return CatalogSettings(
        config.spot_price_ratio_estimate, config.vm_memory_overhead_percent, config.max_pods_per_node, advisor, special
    )


_advisor_files: dict[str, tuple[float, SpotAdvisorData | None]] = {}


def advisor_file_data(source: str) -> SpotAdvisorData | None:
    """Advisor data from a local file (re-read when it changes), or None with one warning."""
    if source.startswith(("http://", "https://")):
        _warn_once(
            source,
            f"aws.useSpotAdvisor: advisor data from {source} are fetched at run time by the AWS provider; until "
            "then spot is estimated as on-demand x spotPriceRatioEstimate (give aws.spotAdvisorURL as a file to use it offline)",
        )
        return None
    try:
        mtime = os.stat(source).st_mtime
    except OSError as err:
        _warn_once(source, f"aws.spotAdvisorURL {source}: cannot read ({err.strerror}); spot estimated as on-demand x spotPriceRatioEstimate")
        return None
    cached = _advisor_files.get(source)
    if cached is None or cached[0] != mtime:
        try:
            cached = (mtime, load_advisor_file(source))
        except SpotAdvisorError as err:
            _warn_once(source, f"{err}; spot estimated as on-demand x spotPriceRatioEstimate")
            cached = (mtime, None)
        _advisor_files[source] = cached
    return cached[1]


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("%s", message)


@lru_cache(maxsize=None)
def raw_catalog(cloud: str) -> dict[str, Any]:
    if cloud not in _FILES:
        raise CatalogError(f"unknown cloud {cloud!r}; known: {', '.join(CLOUDS)}")
    blob = importlib_resources.files("pricing").joinpath("data", _FILES[cloud]).read_bytes()
    if _FILES[cloud].endswith(".gz"):
        blob = gzip.decompress(blob)
    return apply_price_corrections(cloud, json.loads(blob))  # pricing/corrections.py


def known_regions(cloud: str) -> list[str]:
    data = raw_catalog(cloud)
    if cloud == "aws":
        return sorted(data["zones"])
    if cloud == "azure":
        return sorted(data["prices"])
    return _listed_regions(cloud)  # gcp and oci: one list price for every region they have


@lru_cache(maxsize=None)
def _listed_regions(cloud: str) -> list[str]:
    blob = importlib_resources.files("pricing").joinpath("data", "regions.json").read_bytes()
    return sorted(json.loads(blob)[cloud])


@lru_cache(maxsize=None)
def _zone_data() -> dict[str, Any]:
    blob = importlib_resources.files("pricing").joinpath("data", "zones.json").read_bytes()
    return json.loads(blob)


def region_zones(cloud: str, region: str) -> tuple[str, ...]:
    """The zones of a region as its nodes' topology.kubernetes.io/zone label names them
    (us-central1-a, eastus-1, US-ASHBURN-AD-1, us-east-1a); () when the region has none
    (an Azure region without availability zones)."""
    if cloud == "aws":
        zones = raw_catalog("aws")["zones"].get(region, {})
        return tuple(sorted({zone for type_zones in zones.values() for zone in type_zones}))
    return tuple(_zone_data().get(cloud, {}).get("zones", {}).get(region, ()))


def _offered_in(cloud: str, region: str, type_name: str) -> tuple[str, ...]:
    """Where a type is offered: the zones a published per-type list gives, else every zone of
    the region, else (no zones) the region itself -- a node launched without a zone."""
    per_type = _zone_data().get(cloud, {}).get("size_zones", {}).get(region, {})
    zones = per_type.get(type_name)
    if zones is None:
        zones = region_zones(cloud, region)
    return tuple(zones) or (region,)


# The region a cloud alone means (preview targets, a configuration naming only its cloud).
DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus", "oci": "us-ashburn-1"}


def check_region(cloud: str, region: str) -> None:
    """CatalogError naming the known regions when `region` is not one of `cloud`'s."""
    known = known_regions(cloud)
    if region not in known:
        close = difflib.get_close_matches(region, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        name = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "oci": "OCI"}[cloud]
        raise CatalogError(f"unknown {name} region {region!r}{hint}; known: {', '.join(known)}")


def _source_lines(data: dict[str, Any]) -> tuple[str, ...]:
    lines = []
    for source in data.get("sources", []):
        where = " ".join(str(source[k]) for k in ("repo", "path", "package", "source") if k in source)
        lines.append(f"{source.get('what', '')}: {where}".strip(": "))
    return tuple(lines)


def _instance_type(cloud: str, spec: dict[str, Any], settings: CatalogSettings, **extra: Any) -> InstanceType:
    overhead = settings.vm_memory_overhead
    if overhead is None:
        overhead = DEFAULT_VM_MEMORY_OVERHEAD[cloud]
    max_pods = settings.max_pods or (spec.get("karpenter_allocatable") or {}).get("pods") or DEFAULT_MAX_PODS
    fractional = bool(spec.get("gpu_fractional"))
    raw_gpus = spec.get("gpu_count") or 0
    gpus = 0 if fractional else int(raw_gpus)
    gpus += extra.get("attached_gpus", 0)
    capacity, allocatable, note = node_resources(
        cloud, int(spec["vcpu"]), int(spec["memory_mib"]), gpus, int(max_pods), overhead
    )
    return InstanceType(
        name=extra.get("name", spec["name"]),
        family=spec.get("family") or spec["name"].split(".")[0],
        vcpu=int(spec["vcpu"]),
        memory_mib=int(spec["memory_mib"]),
        arch=spec.get("arch") or "amd64",
        gpu_count=gpus,
        gpu_fractional=fractional,
        gpu_model=extra.get("gpu_model", spec.get("gpu_model")),
        gpu_manufacturer=extra.get("gpu_manufacturer", spec.get("gpu_manufacturer")),
        gpu_memory_mib=spec.get("gpu_memory_mib"),
        max_pods=int(max_pods),
        capacity=capacity,
        allocatable=allocatable,
        machine_type=spec["name"],
        accelerator=extra.get("accelerator"),
        reservation_note=note,
        ocpus=extra.get("ocpus", 0),
    )


def instance_type_from_spec(cloud: str, spec: dict[str, Any], settings: CatalogSettings = CatalogSettings()) -> InstanceType:
    """An instance type from a spec in the data files' shape (name, family, vcpu, memory_mib,
    gpu_*, arch), e.g. one a provider learnt from its cloud's API, with allocatable worked out
    as for the embedded types."""
    return _instance_type(cloud, spec, settings)


def _spot_from_ratio(price: float, settings: CatalogSettings) -> float:
    return round(price * settings.spot_price_ratio, 6)


def _aws(region: str, settings: CatalogSettings) -> list[Offering]:
    data = raw_catalog("aws")
    if region not in data["zones"]:
        raise CatalogError(f"unknown AWS region {region!r}; known: {', '.join(sorted(data['zones']))}")
    prices = data["prices"]["us-east-1"]
    zones = data["zones"][region]
    every_zone = sorted({zone for type_zones in zones.values() for zone in type_zones})
    listed_somewhere = _aws_types_with_zone_data()
    estimated = region != "us-east-1"
    note = "us-east-1 list price" if estimated else ""
    offerings = []
    for spec in data["instance_types"]:
        name = spec["name"]
        if name not in prices or spec["family"].startswith(_AWS_UNUSABLE_FAMILY_PREFIXES):
            continue
        if name in zones:
            type_zones = zones[name]
        elif name in listed_somewhere:
            continue  # zone data know this type and say this region lacks it
        else:
            # No zone data anywhere (e.g. the manually entered G3 family): offer it in every
            # zone; a launch that the region refuses puts it in back-off.
            type_zones = every_zone
        itype = _instance_type("aws", spec, settings)
        price = prices[name]
        spot = _spot_from_ratio(price, settings)
        spot_note = f"on-demand x {settings.spot_price_ratio} (spotPriceRatioEstimate)"
        for zone in type_zones:
            offerings.append(Offering(itype, zone, ON_DEMAND, price, estimated, note))
            offerings.append(Offering(itype, zone, SPOT, spot, True, spot_note))
    if settings.spot_advisor is not None:
        offerings = apply_spot_advisor(offerings, region, settings.spot_advisor)
    return offerings


@lru_cache(maxsize=1)
def _aws_types_with_zone_data() -> frozenset[str]:
    return frozenset(name for region_zones in raw_catalog("aws")["zones"].values() for name in region_zones)


def _gcp(region: str, settings: CatalogSettings) -> list[Offering]:
    data = raw_catalog("gcp")
    list_region = next(iter(data["prices"]))
    prices = data["prices"][list_region]
    spot_prices = data["spot_prices"].get(list_region, {})
    estimated = region != list_region
    note = f"{list_region} list price" if estimated else ""
    offerings = []

    def add(itype: InstanceType, price: float, spot: float | None) -> None:
        taints = (GPU_TAINT,) if itype.gpu_count else ()
        for zone in _offered_in("gcp", region, itype.machine_type or itype.name):
            offerings.append(Offering(itype, zone, ON_DEMAND, round(price, 6), estimated, note, taints))
            if spot is None:
                spot_price, spot_note = _spot_from_ratio(price, settings), "on-demand x spotPriceRatioEstimate"
                offerings.append(Offering(itype, zone, SPOT, spot_price, True, spot_note, taints))
            else:
                offerings.append(Offering(itype, zone, SPOT, round(spot, 6), estimated, note, taints))

    specs = {spec["name"]: spec for spec in data["instance_types"]}
    for name, spec in specs.items():
        if name in prices:
            add(_instance_type("gcp", spec, settings), prices[name], spot_prices.get(name))
    for gpu in data.get("attachable_gpus", []):
        limits = _GCP_N1_MAX_VCPU.get(gpu["model"], {})
        for name, spec in specs.items():
            if spec["family"] not in gpu["machine_families"] or name not in prices:
                continue
            for count in gpu["counts"]:
                if spec["vcpu"] > limits.get(count, 96):
                    continue
                itype = _instance_type(
                    "gcp",
                    spec,
                    settings,
                    name=f"{name}+{count}x{gpu['gce_name']}",
                    attached_gpus=count,
                    gpu_model=gpu["model"],
                    gpu_manufacturer="nvidia",
                    accelerator=Accelerator(gpu["gce_name"], count),
                )
                machine_spot = spot_prices.get(name)
                spot = None if machine_spot is None else machine_spot + count * gpu["preemptible_price"]
                add(itype, prices[name] + count * gpu["price"], spot)
    return offerings


def _azure(region: str, settings: CatalogSettings) -> list[Offering]:
    data = raw_catalog("azure")
    if region not in data["prices"]:
        raise CatalogError(f"unknown Azure region {region!r}; known: {', '.join(sorted(data['prices']))}")
    prices = data["prices"][region]
    offerings = []
    for spec in data["instance_types"]:
        name = spec["name"]
        if name not in prices or (AZURE_SPECIAL_SIZE.search(name) and not settings.special_sizes):
            continue
        itype = _instance_type("azure", spec, settings)
        price = prices[name]
        spot_note = "on-demand x spotPriceRatioEstimate"
        for zone in _offered_in("azure", region, name):
            offerings.append(Offering(itype, zone, ON_DEMAND, price))
            offerings.append(
                Offering(itype, zone, SPOT, _spot_from_ratio(price, settings), True, spot_note, (AKS_SPOT_TAINT,))
            )
    return offerings


def oci_flex_shapes(settings: CatalogSettings = CatalogSettings(), data: dict[str, Any] | None = None) -> list[FlexShape]:
    """OCI's flexible shapes as data; the planner sizes each node of one to its pods."""
    data = data or raw_catalog("oci")
    overhead = settings.vm_memory_overhead
    shapes = []
    for flex in data.get("flex_shapes", []):
        low_gb, high_gb = flex["memory_gb_per_ocpu"]
        shapes.append(
            FlexShape(
                name=flex["name"],
                family=flex.get("family") or flex["name"],
                arch=flex["arch"],
                vcpu_per_ocpu=int(flex["vcpu_per_ocpu"]),
                ocpu_price=float(flex["ocpu_price"]),
                memory_gb_price=float(flex["memory_gb_price"]),
                min_ocpus=int(flex["min_ocpus"]),
                max_ocpus=int(flex["max_ocpus"]),
                min_memory_gb=int(flex.get("min_memory_gb", 1)),
                max_memory_gb=int(flex.get("max_memory_gb", flex["max_ocpus"] * high_gb)),
                min_gb_per_ocpu=float(low_gb),
                max_gb_per_ocpu=float(high_gb),
                preemptible_ratio=float(data.get("preemptible_ratio", 0.5)),
                max_pods=settings.max_pods or DEFAULT_MAX_PODS,
                vm_memory_overhead=DEFAULT_VM_MEMORY_OVERHEAD["oci"] if overhead is None else overhead,
            )
        )
    return shapes


def _oci(region: str, settings: CatalogSettings, data: dict[str, Any] | None = None) -> list[Offering]:
    data = data or raw_catalog("oci")
    ratio = data.get("preemptible_ratio", 0.5)
    prices = data["prices"]["*"]
    offerings = []

    def add(itype: InstanceType, price: float, note: str = "") -> None:
        nvidia = itype.gpu_count and itype.gpu_resource == "nvidia.com/gpu"
        taints = (GPU_TAINT,) if nvidia else ()  # OKE taints its NVIDIA GPU nodes
        for zone in _offered_in("oci", region, itype.name):
            offerings.append(Offering(itype, zone, ON_DEMAND, round(price, 6), price_note=note, taints=taints))
            if itype.name.startswith("VM."):  # OCI offers preemptible capacity on VM shapes, not bare metal
                offerings.append(Offering(itype, zone, SPOT, round(price * ratio, 6), price_note=note, taints=taints))

    for spec in data["instance_types"]:
        if spec["name"] in prices:
            add(_instance_type("oci", spec, settings, ocpus=int(spec.get("ocpus", 0))), prices[spec["name"]])
    # A flexible shape is one offering at its largest size and its smallest price: a template
    # the planner sizes to the pods (OptionBook.sized_for); the launch carries the chosen size.
    for shape in oci_flex_shapes(settings, data):
        smallest = shape.min_ocpus
        add(shape.largest(), shape.price(smallest, shape.memory_range(smallest)[0]), "flexible: sized to the pods")
    return offerings


_BUILDERS = {"aws": _aws, "gcp": _gcp, "azure": _azure, "oci": _oci}


@lru_cache(maxsize=64)
def region_catalog(cloud: str, region: str, settings: CatalogSettings = CatalogSettings()) -> RegionCatalog:
    """Every offering of `cloud` in `region`, cached per process."""
    if cloud not in _BUILDERS:
        raise CatalogError(f"unknown cloud {cloud!r}; known: {', '.join(CLOUDS)}")
    flex_shapes = tuple(oci_flex_shapes(settings)) if cloud == "oci" else ()

    def build() -> RegionCatalog:
        check_region(cloud, region)  # a compiled catalog exists only for a region that was built
        data = raw_catalog(cloud)
        return RegionCatalog(
            cloud=cloud,
            region=region,
            offerings=tuple(_BUILDERS[cloud](region, settings)),
            sources=_source_lines(data),
            notes=tuple(data.get("notes", [])),
            flex_shapes=flex_shapes,
        )

    return cached_catalog(cloud, region, settings_key(settings), build, flex_shapes)


# ---- live prices over the embedded catalog


def with_live_prices(catalog: RegionCatalog, prices: Mapping[tuple[str, str], float], note: str) -> RegionCatalog:
    """The catalog with the live prices a cloud's price API gave, keyed (type, capacity type).
    An offering without a live price keeps its embedded one; a spot estimate derived from the
    on-demand price follows the live on-demand price (still marked estimated)."""
    if not prices:
        return catalog
    embedded_on_demand = {o.instance_type.name: o.price for o in catalog.offerings if o.capacity_type == ON_DEMAND}
    offerings = []
    for offering in catalog.offerings:
        name = offering.instance_type.name
        live = prices.get((name, offering.capacity_type))
        if live is not None:
            offering = replace(offering, price=live, price_estimated=False, price_note=note)
        elif offering.capacity_type == SPOT and offering.price_estimated and (name, ON_DEMAND) in prices:
            base = embedded_on_demand.get(name) or 0.0
            if base > 0:
                offering = replace(offering, price=round(offering.price * prices[(name, ON_DEMAND)] / base, 6))
        offerings.append(offering)
    return replace(catalog, offerings=tuple(offerings), notes=(*catalog.notes, note))
