"""Flexible shapes (OCI `*.Flex`): the node is sized to the pods instead of picked from fixed sizes.

A flexible shape lets the launch choose its OCPUs and memory within the shape's limits and a
memory-per-OCPU range, at a price linear in both. `cheapest_config` finds the OCPU/memory pair
that satisfies a monotone predicate (the node must offer what the pods need) at the lowest
price. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping

from autoscaler.resources import Resources
from pricing.allocatable import node_resources
from pricing.types import ON_DEMAND, InstanceType

_EPSILON = 1e-9
# The size of a flexible-shape node, as a label on its Node and a tag on its instance: the shape
# name alone does not say it, and its price and room (after a restart) depend on it.
FLEX_OCPUS_KEY = "smart-autoscaler.io/flex-ocpus"
FLEX_MEMORY_KEY = "smart-autoscaler.io/flex-memory-gb"
MIB_PER_GB = 1024  # OCI's "GB" of memory is 1024 MiB (memoryInGBs)


@dataclass(frozen=True, slots=True)
class FlexConfig:
    """One size of a flexible shape and its hourly price."""

    ocpus: int
    memory_gb: int
    price: float


@dataclass(frozen=True, slots=True)
class FlexShape:
    name: str
    family: str
    arch: str
    vcpu_per_ocpu: int
    ocpu_price: float  # USD per OCPU-hour, on demand
    memory_gb_price: float  # USD per GB-hour, on demand
    min_ocpus: int
    max_ocpus: int
    min_memory_gb: int
    max_memory_gb: int
    min_gb_per_ocpu: float
    max_gb_per_ocpu: float
    preemptible_ratio: float = 0.5
    cloud: str = "oci"
    max_pods: int = 110
    vm_memory_overhead: float = 0.0

    def memory_range(self, ocpus: int) -> tuple[int, int]:
        """(lowest, highest) whole GB of memory allowed with this many OCPUs; low > high when none."""
        low = max(self.min_memory_gb, math.ceil(ocpus * self.min_gb_per_ocpu - _EPSILON))
        high = min(self.max_memory_gb, math.floor(ocpus * self.max_gb_per_ocpu + _EPSILON))
        return low, high

    def price(self, ocpus: int, memory_gb: int, capacity_type: str = ON_DEMAND) -> float:
        hourly = ocpus * self.ocpu_price + memory_gb * self.memory_gb_price
        if capacity_type != ON_DEMAND:
            hourly *= self.preemptible_ratio
        return round(hourly, 6)

    def vcpu(self, ocpus: int) -> int:
        return ocpus * self.vcpu_per_ocpu

    def instance_type(self, ocpus: int, memory_gb: int) -> InstanceType:
        """The node this size makes, with the cloud's reservation taken off for allocatable."""
        return _sized_instance_type(self, ocpus, memory_gb)

    def largest(self) -> InstanceType:
        return self.instance_type(self.max_ocpus, self.memory_range(self.max_ocpus)[1])


@lru_cache(maxsize=65536)
def _sized_instance_type(shape: FlexShape, ocpus: int, memory_gb: int) -> InstanceType:
    vcpu, memory_mib = shape.vcpu(ocpus), memory_gb * MIB_PER_GB
    capacity, allocatable, note = node_resources(shape.cloud, vcpu, memory_mib, 0, shape.max_pods, shape.vm_memory_overhead)
    return InstanceType(
        name=shape.name,
        family=shape.family,
        vcpu=vcpu,
        memory_mib=memory_mib,
        arch=shape.arch,
        max_pods=shape.max_pods,
        capacity=capacity,
        allocatable=allocatable,
        machine_type=shape.name,
        reservation_note=note,
        ocpus=ocpus,
        flexible=True,
    )


def cheapest_config(
    shape: FlexShape, fits: Callable[[int, int], bool], capacity_type: str = ON_DEMAND
) -> FlexConfig | None:
    """The cheapest (OCPUs, GB) of `shape` for which `fits(ocpus, memory_gb)` holds; on a price
    tie the fewer OCPUs. `fits` must not turn false when memory grows (for a given OCPU count).
    None when no allowed size fits."""
    best: FlexConfig | None = None
    for ocpus in range(shape.min_ocpus, shape.max_ocpus + 1):
        low, high = shape.memory_range(ocpus)
        if low > high:
            continue
        if best is not None and shape.price(ocpus, low, capacity_type) >= best.price - _EPSILON:
            break  # every larger OCPU count costs at least this much already
        if not fits(ocpus, high):
            continue
        while low < high:  # smallest memory that fits
            middle = (low + high) // 2
            if fits(ocpus, middle):
                high = middle
            else:
                low = middle + 1
        price = shape.price(ocpus, low, capacity_type)
        if best is None or price < best.price - _EPSILON:
            best = FlexConfig(ocpus, low, price)
    return best


def size_for_allocatable(
    shape: FlexShape,
    need: Resources,
    capacity_type: str = ON_DEMAND,
    min_cpu: int = 0,
    min_memory: int = 0,
) -> FlexConfig | None:
    """The cheapest size whose allocatable (after the cloud's reservation) holds `need`, and
    whose listed size is at least `min_cpu` millicores and `min_memory` bytes (minNodeCpu,
    minNodeMemory). A flexible shape carries no GPU: a need for GPUs gets None."""
    if need.gpu > 0 or need.pods > shape.max_pods:
        return None

    def fits(ocpus: int, memory_gb: int) -> bool:
        if shape.vcpu(ocpus) * 1000 < min_cpu or memory_gb * MIB_PER_GB * 2**20 < min_memory:
            return False
        return need.fits_in(shape.instance_type(ocpus, memory_gb).allocatable)

    return cheapest_config(shape, fits, capacity_type)


def size_for_listed(
    shape: FlexShape, cpu: int, memory: int, capacity_type: str = ON_DEMAND
) -> FlexConfig | None:
    """The cheapest size whose listed vCPUs and memory reach `cpu` millicores and `memory`
    bytes (the bin-pack node shape is compared with listed sizes, SPEC §2)."""
    return cheapest_config(
        shape,
        lambda ocpus, memory_gb: shape.vcpu(ocpus) * 1000 >= cpu and memory_gb * MIB_PER_GB * 2**20 >= memory,
        capacity_type,
    )


def flex_size(itype: InstanceType) -> dict[str, str]:
    """The size labels/tags of a sized flexible instance type ({} for any other type)."""
    if not (itype.flexible and itype.ocpus):
        return {}
    return {FLEX_OCPUS_KEY: str(itype.ocpus), FLEX_MEMORY_KEY: str(itype.memory_mib // MIB_PER_GB)}


def sized_from_tags(
    shapes: tuple[FlexShape, ...], name: str, capacity_type: str, tags: Mapping[str, str]
) -> tuple[InstanceType, float] | None:
    """The sized instance type and price of a node of flexible shape `name` whose labels or tags
    say its size; None when `name` is not flexible or they do not say."""
    shape = next((s for s in shapes if s.name == name), None)
    try:
        ocpus, memory_gb = int(float(tags[FLEX_OCPUS_KEY])), int(float(tags[FLEX_MEMORY_KEY]))
    except (KeyError, ValueError):
        return None
    if shape is None or ocpus <= 0 or memory_gb <= 0:
        return None
    return shape.instance_type(ocpus, memory_gb), shape.price(ocpus, memory_gb, capacity_type)
