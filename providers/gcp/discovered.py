"""Machine types Compute Engine lists in the region that the embedded catalog lacks (A3,
newer families): offered when the Billing Catalog prices their vCPUs, memory and GPUs.

machineTypes.aggregatedList gives each type's vCPUs, memory and bundled accelerators; the
GPU model comes from the accelerator's name (nvidia-h100-80gb -> H100 with 80 GB).
Shared-core and deprecated types are left out, as the embedded catalog leaves them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from pricing.catalog import GPU_TAINT, CatalogSettings, instance_type_from_spec
from pricing.types import ON_DEMAND, SPOT, Offering
from providers.gcp.prices import RegionPrices

_ARM_FAMILIES = ("t2a", "c4a", "n4a")
_GPU_NAME = re.compile(r"^nvidia-(?:tesla-)?([a-z0-9]+?)(?:-mega)?(?:-(\d+)gb)?$")


@dataclass(frozen=True)
class MachineSpec:
    name: str
    vcpu: int
    memory_mib: int
    accelerator: str = ""  # bundled GPUs (a2, a3, g2): their GCE name
    accelerator_count: int = 0


def machine_spec(machine_type) -> MachineSpec | None:
    """A listed MachineType (SDK message) -> spec, None for shared-core or deprecated ones."""
    if machine_type.is_shared_cpu or (machine_type.deprecated and machine_type.deprecated.state):
        return None
    accelerators = list(machine_type.accelerators)
    first = accelerators[0] if accelerators else None
    return MachineSpec(
        machine_type.name,
        int(machine_type.guest_cpus),
        int(machine_type.memory_mb),
        first.guest_accelerator_type if first else "",
        int(first.guest_accelerator_count) if first else 0,
    )


def extra_offerings(
    specs: Iterable[MachineSpec],
    known: set[str],
    prices: RegionPrices,
    zones: dict[str, tuple[str, ...]],
    settings: CatalogSettings,
) -> list[Offering]:
    offerings = []
    for spec in specs:
        if spec.name in known or not zones.get(spec.name):
            continue
        family = spec.name.split("-")[0]
        raw = {"name": spec.name, "family": family, "vcpu": spec.vcpu, "memory_mib": spec.memory_mib,
               "arch": "arm64" if family in _ARM_FAMILIES else "amd64"}
        match = _GPU_NAME.match(spec.accelerator) if spec.accelerator else None
        if spec.accelerator and not match:
            continue  # a GPU we cannot name
        if match:
            raw.update(gpu_count=spec.accelerator_count, gpu_model=match.group(1).upper(), gpu_manufacturer="nvidia",
                       gpu_memory_mib=int(match.group(2)) * 1024 if match.group(2) else None)
        itype = instance_type_from_spec("gcp", raw, settings)
        taints = (GPU_TAINT,) if itype.gpu_count else ()
        on_demand = prices.price(itype, ON_DEMAND)
        if on_demand is None:
            continue
        spot = prices.price(itype, SPOT)
        spot_price, estimated = (spot, False) if spot is not None else (round(on_demand * settings.spot_price_ratio, 6), True)
        for zone in zones[spec.name]:
            offerings.append(Offering(itype, zone, ON_DEMAND, on_demand, False, "Cloud Billing Catalog", taints))
            offerings.append(Offering(itype, zone, SPOT, spot_price, estimated, "" if not estimated else "on-demand x spotPriceRatioEstimate", taints))
    return offerings
