"""What a cloud sells: instance types and priced offerings of them."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class RegionCatalog:
    """Every offering of one cloud region, with where its figures come from."""

    cloud: str
    region: str
    offerings: tuple[Offering, ...]
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Flexible shapes (pricing.flex.FlexShape) whose offerings are templates the planner sizes.
    flex_shapes: tuple = ()
