"""Node options: the offerings a pod may be given, filtered and ordered by price.

A NodeOption is one instance type in one capacity type, with the zones where it can be had
now (allowed by the pod's constraints, not backed off) at its lowest price. Its allocatable
resources already account for the cloud's reservation, the DaemonSet pods that would run on
it, and GPU time-slicing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from autoscaler.config import Config
from autoscaler.planner.backoffs import Backoffs, as_backoffs
from pricing.option_store import CandidateStore, entry_key
from autoscaler.model import NodeAffinity, PodConstraints, Toleration, tolerates_all
from autoscaler.nodelabels import ARCH, CAPACITY_LABEL_KEYS, ZONE, node_labels
from autoscaler.regex import compile_user_regex
from autoscaler.resources import Resources
from pricing.devices import carries_devices, catalog_devices
from pricing.types import ON_DEMAND, SPOT, InstanceType, OfferGroup, RegionCatalog, Taint, ZoneOffer

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
OfferingKey = tuple[str, str, str]  # (instance type, capacity type, zone; "" = every zone)


@dataclass(frozen=True, slots=True)
class DaemonSetOverhead:
    """What one DaemonSet's pod takes on every node it runs on."""

    name: str
    requests: Resources
    affinity: NodeAffinity = NodeAffinity()
    tolerations: tuple[Toleration, ...] = ()
    host_ports: frozenset = frozenset()


@dataclass(frozen=True, slots=True, eq=False)
class NodeOption:
    instance_type: InstanceType
    capacity_type: str
    price: float
    zones: tuple[str, ...]
    allocatable: Resources
    price_estimated: bool = False
    price_note: str = ""
    taints: tuple[Taint, ...] = ()
    gpu_time_slices: int = 1
    host_ports: frozenset = frozenset()  # taken by the DaemonSet pods that would run on it

    @property
    def name(self) -> str:
        return self.instance_type.name

    @property
    def size_key(self) -> tuple[int, int, int, str]:
        itype = self.instance_type
        return (itype.vcpu, itype.memory_mib, itype.gpu_count, itype.name)

    @property
    def order_key(self) -> tuple[float, tuple[int, int, int, str], int]:
        # cheapest first; on a tie the smaller node; on-demand before spot at equal price
        return (self.price, self.size_key, 0 if self.capacity_type == ON_DEMAND else 1)


@dataclass
class Rejections:
    """Why offerings were ruled out for a pod class, for a message a person understands."""

    total: int = 0
    static: int = 0
    constraints: int = 0
    over_cost: int = 0
    backed_off: list[str] | None = None


def _stored_option(offers: OfferGroup, price: float, zones: tuple[str, ...], allocatable: Resources,
                   estimated: bool, note: str, slices: int, host_ports: frozenset) -> NodeOption:
    return NodeOption(offers.instance_type, offers.capacity_type, price, zones, allocatable, estimated, note,
                      offers.taints, slices, host_ports)


class OptionBook:
    """Builds and caches the ordered candidate options for each class of pod in one plan."""

    def __init__(
        self,
        catalog: RegionCatalog,
        config: Config,
        backoffs: Backoffs | Mapping[OfferingKey, str] | None = None,
        daemonsets: Sequence[DaemonSetOverhead] = (),
        store: CandidateStore | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store  # candidate lists kept on disk by earlier processes (pricing/option_store.py)
        self.config = config
        self.backoffs = as_backoffs(backoffs)
        self.daemonsets = tuple(daemonsets)
        self._types = catalog.groups
        self._cache: dict[tuple, tuple[list[NodeOption], Rejections]] = {}
        # flexible shapes (planner/flexsize.py): option lists sized per need, and what each
        # candidate list was made for (its price ceiling applies to the sized nodes too)
        self.flex_shapes = {shape.name: shape for shape in catalog.flex_shapes}
        self.flex_cache: dict[tuple, list[NodeOption]] = {}
        self.made_for: dict[int, PodConstraints] = {}

    # ---- filters

    def capacity_types(self, constraints: PodConstraints, default: tuple[str, ...]) -> tuple[str, ...]:
        if constraints.selection.capacity_types is not None:
            return constraints.selection.capacity_types
        if constraints.affinity.keys() & CAPACITY_LABEL_KEYS:
            return (ON_DEMAND, SPOT)  # the pod's own affinity picks among them
        return default

    def _arch_allowed(self, arch: str, constraints: PodConstraints) -> bool:
        if arch == "amd64" or self.config.include_arm_instance:
            return True
        return ARCH in constraints.affinity.keys()

    def _static_ok(self, offers: OfferGroup, constraints: PodConstraints, capacity_types: tuple[str, ...]) -> bool:
        itype = offers.instance_type
        config = self.config
        if offers.capacity_type not in capacity_types:
            return False
        if itype.vcpu * 1000 < config.min_node_cpu or itype.memory_mib * 2**20 < config.min_node_memory:
            return False
        if not self._arch_allowed(itype.arch, constraints):
            return False
        if constraints.gpu_resource is None:
            if itype.has_gpu or carries_devices(self.catalog.cloud, itype.name):
                return False  # a pod that asks for no accelerator never gets an accelerator node
        elif constraints.gpu_resource in GPU_RESOURCES:
            if itype.gpu_count == 0 or itype.gpu_resource != constraints.gpu_resource:
                return False
        elif self.devices(itype, constraints.gpu_resource) == 0:
            return False
        for name, count in constraints.extra_devices:
            if self.devices(itype, name) < count:
                return False
        selection = constraints.selection
        if selection.type_regexp is not None and not compile_user_regex(selection.type_regexp).search(itype.name):
            return False
        family = itype.family.lower()
        if selection.family_inclusions is not None and family not in selection.family_inclusions:
            return False
        if family in selection.family_exclusions:
            return False
        if selection.gpu_skus is not None and (itype.gpu_model or "").upper() not in selection.gpu_skus:
            return False
        if selection.max_gpus is not None and itype.gpu_count > selection.max_gpus:
            return False
        return tolerates_all(constraints.tolerations, offers.taints)

    def devices(self, itype: InstanceType, resource: str) -> int:
        """How many `resource` devices a node of this type advertises (GPUs by vendor; other
        extended resources from the `extendedResources` option or the catalog)."""
        if resource in GPU_RESOURCES:
            return itype.gpu_count if itype.gpu_resource == resource else 0
        for name, pattern, count in self.config.extended_resources:
            if name == resource and compile_user_regex(pattern).search(itype.name):
                return count
        return catalog_devices(self.catalog.cloud, resource, itype.name)

    def _time_slices(self, itype: InstanceType, constraints: PodConstraints) -> int:
        if itype.gpu_resource != "nvidia.com/gpu":
            return 1
        return constraints.gpu_time_slices or self.config.nvidia_gpu_time_slices

    def _daemonset_overhead(self, labels: Mapping[str, str], taints: tuple[Taint, ...]) -> tuple[Resources, frozenset]:
        total = Resources()
        ports: frozenset = frozenset()
        for ds in self.daemonsets:
            if ds.affinity.matches(labels) and tolerates_all(ds.tolerations, taints):
                total += ds.requests
                ports = ports | ds.host_ports
        return total, ports

    def _zone_offers(self, offers: OfferGroup, constraints: PodConstraints) -> tuple[ZoneOffer, ...]:
        """The zones to consider. Where the catalog knows only the region (GCP, Azure, OCI), a
        pod that names zones of that region (e.g. us-central1-a) gets those zones, at the
        region's price: the cloud offers the type region-wide as far as we know."""
        region = self.catalog.region
        if len(offers.zones) != 1 or offers.zones[0].zone != region:
            return offers.zones
        asked = sorted(
            {
                value
                for term in constraints.affinity.terms
                for req in term
                if req.key == ZONE and req.operator == "In"
                for value in req.values
                if value.startswith(f"{region}-")
            }
        )
        if not asked:
            return offers.zones
        regional = offers.zones[0]
        return tuple(ZoneOffer(zone, regional.price, regional.estimated, regional.note) for zone in asked)

    def _backed_off(self, itype: str, capacity_type: str, zone: str) -> str | None:
        return self.backoffs.reason(itype, capacity_type, zone)

    def zone_price(self, option: NodeOption, zone: str) -> float | None:
        """The option's price in one zone, or None when it is not offered there or backed off."""
        index = getattr(self, "_zone_prices", None)
        if index is None:  # type -> its offers; each type's zone prices made when first asked
            index = self._zone_prices = {(offers.instance_type.name, offers.capacity_type): offers for offers in self._types}
        offers = index.get((option.name, option.capacity_type))
        if offers is not None and not isinstance(offers, dict):
            offers = index[(option.name, option.capacity_type)] = {z.zone: z.price for z in offers.zones}
        price = (offers or {}).get(zone)
        if price is None or self._backed_off(option.name, option.capacity_type, zone):
            return None
        if option.instance_type.flexible:
            return option.price  # a sized flexible node: its size's price, not the shape's smallest
        return price

    # ---- candidates

    def candidates(
        self,
        constraints: PodConstraints,
        role: str,
        default_capacity_types: tuple[str, ...] = (ON_DEMAND,),
    ) -> tuple[list[NodeOption], Rejections]:
        """Options a pod with these constraints may get, cheapest first (before resource fit)."""
        key = (constraints, role, default_capacity_types)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stored_key = entry_key(*key) if self.store is not None else None
        stored = self.store.get(stored_key, _stored_option) if stored_key is not None else None
        if stored is not None:
            options, (total, static, ruled_out, over_cost, backed_off) = stored
            found = self._cache[key] = (options, Rejections(total, static, ruled_out, over_cost, list(backed_off)))
            self.made_for[id(options)] = constraints
            return found
        capacity_types = self.capacity_types(constraints, default_capacity_types)
        config, catalog = self.config, self.catalog
        rejections = Rejections(total=len(self._types), backed_off=[])
        max_cost = constraints.selection.max_cost
        options = []
        for offers in self._types:
            if not self._static_ok(offers, constraints, capacity_types):
                rejections.static += 1
                continue
            itype = offers.instance_type
            slices = self._time_slices(itype, constraints)
            needs_labels = bool(constraints.affinity.terms or self.daemonsets)
            base_labels = (
                node_labels(
                    catalog.cloud,
                    catalog.region,
                    itype,
                    offers.capacity_type,
                    "",
                    role,
                    dict(config.node_labels),
                    slices if constraints.gpu_time_slices else None,
                )
                if needs_labels
                else {}
            )
            zones = []
            over_cost = False
            for zone_offer in self._zone_offers(offers, constraints):
                if needs_labels:
                    base_labels[ZONE] = zone_offer.zone
                    if not constraints.affinity.matches(base_labels):
                        continue
                if max_cost is not None and zone_offer.price > max_cost:
                    over_cost = True
                    continue
                reason = self._backed_off(itype.name, offers.capacity_type, zone_offer.zone)
                if reason:
                    rejections.backed_off.append(
                        f"{itype.name}/{offers.capacity_type}/{zone_offer.zone} ({reason})"
                    )
                    continue
                zones.append(zone_offer)
            if not zones:
                if over_cost:
                    rejections.over_cost += 1
                else:
                    rejections.constraints += 1
                continue
            cheapest = zones[0].price
            at_price = tuple(z.zone for z in zones if z.price == cheapest)
            overhead, ds_ports = (
                self._daemonset_overhead(base_labels, offers.taints) if self.daemonsets else (Resources(), frozenset())
            )
            allocatable = itype.allocatable - overhead if self.daemonsets else itype.allocatable
            if constraints.gpu_resource is not None and constraints.gpu_resource not in GPU_RESOURCES:
                allocatable = Resources(
                    allocatable.cpu, allocatable.memory, self.devices(itype, constraints.gpu_resource),
                    allocatable.pods, allocatable.ephemeral,
                )
            if slices > 1:
                allocatable = Resources(
                    allocatable.cpu, allocatable.memory, itype.gpu_count * slices, allocatable.pods, allocatable.ephemeral
                )
            options.append(
                NodeOption(
                    instance_type=itype,
                    capacity_type=offers.capacity_type,
                    price=cheapest,
                    zones=at_price,
                    allocatable=allocatable.clamp_zero(),
                    price_estimated=zones[0].estimated,
                    price_note=zones[0].note,
                    taints=offers.taints,
                    gpu_time_slices=slices,
                    host_ports=ds_ports,
                )
            )
        options.sort(key=lambda option: option.order_key)
        self._cache[key] = (options, rejections)
        if stored_key is not None:
            self.store.put(stored_key, options, (rejections.total, rejections.static, rejections.constraints,
                                                 rejections.over_cost, tuple(rejections.backed_off or ())))
        self.made_for[id(options)] = constraints
        return options, rejections
