"""Faults injected into the simulated cloud, and the scopes it gives for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from autoscaler.resources import Resources
from autoscaler.sim.kubelet import ADVERTISED_DEVICES
from pricing.devices import devices_of as type_devices
from pricing.types import ON_DEMAND, InstanceType, Taint
from providers.base import FailureScope, InsufficientCapacity, LaunchRequest


@dataclass(frozen=True, slots=True)
class Stockout:
    instance_type: str
    capacity_type: str
    zone: str  # "" = every zone
    until: float | None = None

    def blocks(self, instance_type: str, capacity_type: str, zone: str, now: float) -> bool:
        return (
            self.instance_type == instance_type
            and self.capacity_type == capacity_type
            and self.zone in ("", zone)
            and (self.until is None or now < self.until)
        )


@dataclass(frozen=True, slots=True)
class Quota:
    instance_type_or_family: str
    capacity_type: str
    until: float | None = None

    def blocks(self, itype: InstanceType, capacity_type: str, now: float) -> bool:
        return (
            self.instance_type_or_family in (itype.name, itype.family)
            and self.capacity_type == capacity_type
            and (self.until is None or now < self.until)
        )

    def scope(self, itype: InstanceType, family: set[str], region: str) -> FailureScope:
        """A quota on a type covers that type; one on a family every type of it, in every zone."""
        if self.instance_type_or_family == itype.name:
            return FailureScope(frozenset({itype.name}), self.capacity_type, None, f"{itype.name}/{self.capacity_type} quota in {region}")
        return FailureScope(
            frozenset(family) | {itype.name}, self.capacity_type, None,
            f"{self.capacity_type} vCPU quota of family {itype.family} in {region}",
        )


@dataclass
class CloudFaults:
    stockouts: list[Stockout] = field(default_factory=list)
    quotas: list[Quota] = field(default_factory=list)
    slow: dict[str, float] = field(default_factory=dict)  # type -> boot delay
    never_boots: set[str] = field(default_factory=set)
    short: dict[str, Resources] = field(default_factory=dict)  # type -> what its kubelet reserves beyond the catalog
    taints: dict[str, tuple[Taint, ...]] = field(default_factory=dict)  # type -> taints its image adds
    # Device plugins running on every node (besides NVIDIA's and AMD's GPU plugins, which the
    # simulated kubelet always has): the nodes of types carrying their devices advertise them.
    device_plugins: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.stockouts.clear()
        self.quotas.clear()
        self.slow.clear()
        self.never_boots.clear()
        self.short.clear()
        self.taints.clear()
        self.device_plugins.clear()

    def quota(self, itype: InstanceType, capacity_type: str, now: float) -> Quota | None:
        return next((q for q in self.quotas if q.blocks(itype, capacity_type, now)), None)

    def stocked_out(self, instance_type: str, capacity_type: str, zone: str, now: float) -> bool:
        return any(out.blocks(instance_type, capacity_type, zone, now) for out in self.stockouts)

    def zone_in_stock(self, request: LaunchRequest, region: str, now: float) -> str:
        zones = request.zones or (f"{region}a",)
        name, capacity_type = request.instance_type.name, request.capacity_type
        for zone in zones:
            if not self.stocked_out(name, capacity_type, zone, now):
                return zone
        raise InsufficientCapacity(
            f"no {capacity_type} capacity for {name} in {', '.join(zones)}",
            code="InsufficientInstanceCapacity",
            zone=zones[0] if len(zones) == 1 else "",
            scopes=tuple(FailureScope.offering(name, capacity_type, zone) for zone in zones),
        )

    def alternative_in_stock(self, request: LaunchRequest, region: str, now: float) -> tuple[LaunchRequest, str] | None:
        """The first of the request's alternatives with capacity, as one call with overrides
        (AWS CreateFleet) would deliver it: the request as delivered, and its zone."""
        for alt in request.alternatives:
            if self.quota(alt.instance_type, alt.capacity_type, now) is not None:
                continue
            delivered = replace(
                request, instance_type=alt.instance_type, capacity_type=alt.capacity_type, zones=alt.zones,
                price=alt.price, alternatives=(),
            )
            try:
                return delivered, self.zone_in_stock(delivered, region, now)
            except InsufficientCapacity:
                continue
        return None

    def as_registered(self, request: LaunchRequest) -> LaunchRequest:
        """The request as the node registers it: with less allocatable for a "short" type, with
        the taints its image adds."""
        itype = request.instance_type
        short = self.short.get(itype.name)
        if short is not None:
            itype = replace(itype, allocatable=(itype.allocatable - short).clamp_zero())
        devices = {name: n for name in sorted(self.device_plugins) if (n := type_devices(name, itype.name))}
        tags = {**request.tags, ADVERTISED_DEVICES: ",".join(f"{k}={v}" for k, v in devices.items())} if devices else request.tags
        return replace(request, instance_type=itype, taints=request.taints + self.taints.get(itype.name, ()), tags=tags)

    def to_json(self) -> dict[str, Any]:
        return {
            "stockouts": [asdict(s) for s in self.stockouts],
            "quotas": [asdict(q) for q in self.quotas],
            "slow": self.slow,
            "never_boots": sorted(self.never_boots),
            "short": {name: [r.cpu, r.memory] for name, r in self.short.items()},
            "taints": {name: [[t.key, t.value, t.effect] for t in taints] for name, taints in self.taints.items()},
            "device_plugins": sorted(self.device_plugins),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CloudFaults:
        return cls(
            stockouts=[Stockout(**s) for s in data.get("stockouts", [])],
            quotas=[Quota(**q) for q in data.get("quotas", [])],
            slow={k: float(v) for k, v in data.get("slow", {}).items()},
            never_boots=set(data.get("never_boots", [])),
            short={name: Resources(int(cpu), int(memory)) for name, (cpu, memory) in data.get("short", {}).items()},
            taints={name: tuple(Taint(*t) for t in taints) for name, taints in data.get("taints", {}).items()},
            device_plugins=set(data.get("device_plugins", [])),
        )


class FaultInjection:
    """The fault-injection methods of the simulated cloud (it holds `faults`, `_change`)."""

    faults: CloudFaults

    def _change(self, change: Callable[[], None]) -> None:
        raise NotImplementedError

    def inject_stockout(
        self, instance_type: str, capacity_type: str = ON_DEMAND, zone: str = "", until: float | None = None
    ) -> None:
        """No capacity for this type in `zone` ("" = every zone) until `until` (None = for ever)."""
        self._change(lambda: self.faults.stockouts.append(Stockout(instance_type, capacity_type, zone, until)))

    def inject_quota(
        self, instance_type_or_family: str, capacity_type: str = ON_DEMAND, until: float | None = None
    ) -> None:
        """Launches of this type or family fail with QuotaExceeded in every zone."""
        self._change(lambda: self.faults.quotas.append(Quota(instance_type_or_family, capacity_type, until)))

    def inject_slow_launch(self, instance_type: str, delay: float) -> None:
        self._change(lambda: self.faults.slow.__setitem__(instance_type, delay))

    def inject_never_boots(self, instance_type: str) -> None:
        """Instances of this type launch but never become running (no node registers)."""
        self._change(lambda: self.faults.never_boots.add(instance_type))

    def inject_short_allocatable(self, instance_type: str, cpu: int = 0, memory: int = 0) -> None:
        """Nodes of this type register with `cpu` millicores and `memory` bytes less allocatable
        than the catalog says (a kubelet or image that reserves more than the cloud's formula):
        a pod planned to fill the type then never fits on it."""
        self._change(lambda: self.faults.short.__setitem__(instance_type, Resources(cpu, memory)))

    def inject_registration_taint(self, instance_type: str, taint: Taint) -> None:
        """Nodes of this type register with a taint the catalog does not know of (an image that
        taints its nodes): pods that do not tolerate it are never placed there."""
        self._change(lambda: self.faults.taints.__setitem__(instance_type, self.faults.taints.get(instance_type, ()) + (taint,)))

    def install_device_plugin(self, resource: str) -> None:
        """From now on nodes of types that carry `resource` (aws.amazon.com/neuron on inf/trn)
        register advertising it, as with its device plugin DaemonSet running; without it they
        register without it (the Neuron device plugin is not part of the EKS AMI's kubelet)."""
        self._change(lambda: self.faults.device_plugins.add(resource))

    def clear_faults(self) -> None:
        self._change(self.faults.clear)
