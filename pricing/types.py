"""What a cloud sells: instance types and priced offerings of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from autoscaler.resources import Resources

ON_DEMAND = "on-demand"
SPOT = "spot"
CAPACITY_TYPES = (ON_DEMAND, SPOT)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def describe(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class Accelerator:
    """A GPU attached to a machine type at launch (GCP n1 + T4/P4/V100/P100)."""

    cloud_name: str  # e.g. nvidia-tesla-t4, as the cloud API names it
    count: int


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    family: str
    vcpu: int
    memory_mib: int
    arch: str = "amd64"
    gpu_count: int = 0  # whole physical GPUs; 0 when the size carries only a fraction of one
    gpu_fractional: bool = False
    gpu_model: str | None = None
    gpu_manufacturer: str | None = None
    gpu_memory_mib: int | None = None
    max_pods: int = 110
    # What the kubelet would report: `capacity` as the node's capacity and `allocatable`
    # after the cloud's documented kube/system reservation and eviction threshold.
    capacity: Resources = field(default_factory=Resources)
    allocatable: Resources = field(default_factory=Resources)
    machine_type: str = ""  # the cloud's base machine type when `name` adds attached GPUs
    accelerator: Accelerator | None = None
    reservation_note: str = ""
    ocpus: int = 0  # OCI: the shape's OCPUs (x86 and A2: 2 vCPU each, A1: 1)
    flexible: bool = False  # OCI Flex shape: OCPUs and memory chosen per node

    @property
    def display_name(self) -> str:
        """`VM.Standard.E5.Flex (4 OCPU, 32 GB)` for a sized flexible shape, else the name."""
        if self.flexible and self.ocpus:
            return f"{self.name} ({self.ocpus} OCPU, {self.memory_mib // 1024} GB)"
        return self.name

    @property
    def has_gpu(self) -> bool:
        return self.gpu_count > 0 or self.gpu_fractional

    @property
    def gpu_resource(self) -> str | None:
        if not self.has_gpu:
            return None
        return "amd.com/gpu" if (self.gpu_manufacturer or "").lower() == "amd" else "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class Offering:
    """One way to get a node: an instance type, in a zone, as on-demand or spot, at a price."""

    instance_type: InstanceType
    zone: str
    capacity_type: str
    price: float  # USD per hour
    price_estimated: bool = False
    price_note: str = ""
    taints: tuple[Taint, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.instance_type.name, self.capacity_type, self.zone)


class ZoneOffer(NamedTuple):
    """An offering's zone, price and where the price came from (a part of an OfferGroup)."""

    zone: str
    price: float
    estimated: bool
    note: str


@dataclass(frozen=True, slots=True)
class OfferGroup:
    """One instance type in one capacity type, with the zones offering it, cheapest first."""

    instance_type: InstanceType
    capacity_type: str
    taints: tuple[Taint, ...]
    zones: tuple[ZoneOffer, ...]


def group_offerings(offerings: Sequence[Offering]) -> tuple[OfferGroup, ...]:
    """Offerings grouped by (type, capacity type), in the order each pair first appears."""
    grouped: dict[tuple[str, str], list[Offering]] = {}
    for offering in offerings:
        grouped.setdefault((offering.instance_type.name, offering.capacity_type), []).append(offering)
    result = []
    for items in grouped.values():
        items.sort(key=lambda o: (o.price, o.zone))
        first = items[0]
        zones = tuple(ZoneOffer(o.zone, o.price, o.price_estimated, o.price_note) for o in items)
        result.append(OfferGroup(first.instance_type, first.capacity_type, first.taints, zones))
    return tuple(result)


class LazyOfferings(Sequence):
    """A tuple of offerings made on first use: a catalog loaded in its compiled form
    (pricing/compiled.py) comes with its offer groups, and most runs never need the 12,000
    Offering objects themselves."""

    __slots__ = ("_make", "_items")

    def __init__(self, make: Callable[[], tuple[Offering, ...]]) -> None:
        self._make: Callable[[], tuple[Offering, ...]] | None = make
        self._items: tuple[Offering, ...] | None = None

    @property
    def items(self) -> tuple[Offering, ...]:
        if self._items is None:
            assert self._make is not None
            self._items, self._make = self._make(), None
        return self._items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def __iter__(self):
        return iter(self.items)

    def __contains__(self, value: object) -> bool:
        return value in self.items

    def __eq__(self, other: object) -> bool:
        return self.items == (other.items if isinstance(other, LazyOfferings) else other)

    def __hash__(self) -> int:
        return hash(self.items)

    def __add__(self, other: Sequence[Offering]) -> tuple[Offering, ...]:
        return self.items + tuple(other)

    def __repr__(self) -> str:
        return repr(self.items)


@dataclass(frozen=True)
class RegionCatalog:
    """Every offering of one cloud region, with where its figures come from."""

    cloud: str
    region: str
    offerings: Sequence[Offering]  # a tuple; LazyOfferings when loaded compiled
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Flexible shapes (pricing.flex.FlexShape) whose offerings are templates the planner sizes.
    flex_shapes: tuple = ()

    @property
    def groups(self) -> tuple[OfferGroup, ...]:
        """The offerings by (type, capacity type), each group's zones cheapest first; made once
        per catalog object (a compiled catalog comes with them)."""
        groups = self.__dict__.get("_groups")
        if groups is None:
            groups = group_offerings(self.offerings)
            object.__setattr__(self, "_groups", groups)
        return groups

    @property
    def zones(self) -> tuple[str, ...]:
        """Every zone some offering is in, sorted."""
        zones = self.__dict__.get("_zones")
        if zones is None:
            zones = tuple(sorted({z.zone for group in self.groups for z in group.zones}))
            object.__setattr__(self, "_zones", zones)
        return zones
