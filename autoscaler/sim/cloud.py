"""A simulated cloud: the Provider that `simulate`, the loop tests and the end-to-end tests use.

It is a simulator, not a cloud. What it models:

* launching one instance per request, idempotent by request id (like AWS ClientToken),
  tagged with the request's tags, the request id and the cluster id;
* zones tried in the request's order, skipping stocked-out ones; typed failures
  (InsufficientCapacity "InsufficientInstanceCapacity", QuotaExceeded "VcpuLimitExceeded")
  from injected faults, which may end at a given time, each with the scope it covers, as a
  real provider gives it: a stock-out covers the type in the zones it names, a quota fault
  the type or the whole family it was injected for (every zone), and a node that never
  registers backs off its type in every zone (`registration_timeout_scope`);
* call latency: `call_time` seconds of simulated time for a launch or terminate call to
  answer (`call_latency(kind)`; the loop's SimulatedCalls executor honours it);
* boot: an instance is "pending" for `launch_delay` seconds (or an injected slow-launch
  delay), then "running", and `on_boot(instance, request)` is called once -- that is where
  the caller registers the Node, as a kubelet would (in-memory cluster, or a real API server
  with kwok playing the kubelet, see `node_manifest`). An injected "never boots" type stays
  pending for ever, as a machine whose kubelet cannot join; an injected "short allocatable"
  type registers with less allocatable than the catalog says;
* terminate, with `on_terminate(instance)` called once (the cloud-node-lifecycle
  controller's job of deleting the Node);
* optionally, persistence of instances, request ids and faults in a JSON file, so a daemon
  killed between launch and registration and started again finds the same cloud.

What it does not model: prices, spot interruptions, instances that fail after booting,
partial failures or leaked instances, API latency and throttling, eventual consistency of
list calls, per-account vCPU arithmetic (a quota fault is all or nothing), and several
processes sharing one state file at the same time (the file is read only at construction).
Time comes from the Clock passed in; nothing happens between calls -- call `tick()` each
loop (list_instances does too).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from autoscaler.clock import Clock
from autoscaler.resources import Resources
from pricing.types import ON_DEMAND, Accelerator, InstanceType, RegionCatalog, Taint
from providers.base import (
    TAG_CLUSTER,
    TAG_REQUEST,
    FailureScope,
    Instance,
    InsufficientCapacity,
    LaunchRequest,
    QuotaExceeded,
)

log = logging.getLogger(__name__)

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
_STATE_VERSION = 1
_NODE_INFO_FIELDS = (
    "architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID",
)


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


@dataclass(slots=True)
class _Launch:
    """An instance, the request it came from (None when added by hand), `boot_at` None = never."""

    instance: Instance
    request: LaunchRequest | None
    boot_at: float | None


class SimulatedProvider:
    name = "simulated"

    def __init__(
        self,
        clock: Clock,
        cluster_id: str,
        region: str = "us-east-1",
        launch_delay: float = 60.0,
        on_boot: Callable[[Instance, LaunchRequest], None] | None = None,
        on_terminate: Callable[[Instance], None] | None = None,
        state_file: str | None = None,
        call_time: float = 0.0,
        catalog: RegionCatalog | None = None,
    ) -> None:
        self.clock = clock
        self.call_time = call_time
        # The types of each family, for the scope of a family quota fault (the catalog's).
        self.family_members: dict[str, set[str]] = {}
        for offering in catalog.offerings if catalog else ():
            self.family_members.setdefault(offering.instance_type.family, set()).add(offering.instance_type.name)
        self.cluster_id = cluster_id
        self.region = region
        self.launch_delay = launch_delay
        self.on_boot = on_boot
        self.on_terminate = on_terminate
        self.state_file = state_file
        self.launch_calls = 0
        self.launched: list[Instance] = []
        self._launches: dict[str, _Launch] = {}  # by instance id, in launch order
        self._by_request: dict[str, str] = {}  # request id -> instance id
        self._next_id = 1
        self._stockouts: list[Stockout] = []
        self._quotas: list[Quota] = []
        self._slow: dict[str, float] = {}
        self._never_boots: set[str] = set()
        self._short: dict[str, Resources] = {}  # type -> what its kubelet reserves beyond the catalog
        self._lock = threading.RLock()
        self._ticking = False
        if state_file and os.path.exists(state_file):
            self._load(state_file)

    # ---- Provider

    def launch(self, request: LaunchRequest) -> Instance:
        with self._lock:
            self.launch_calls += 1
            known = self._by_request.get(request.request_id)
            if known is not None:
                return self._launches[known].instance
            now = self.clock.now()
            itype, capacity_type = request.instance_type, request.capacity_type
            quota = next((q for q in self._quotas if q.blocks(itype, capacity_type, now)), None)
            if quota is not None:
                raise QuotaExceeded(
                    f"vCPU limit reached for {capacity_type} {itype.family} instances in {self.region}",
                    code="VcpuLimitExceeded",
                    scopes=(self._quota_scope(quota, itype),),
                )
            zone = self._first_zone_in_stock(request, now)
            instance = self._new_instance(request, zone, now)
            delay = self._slow.get(itype.name, self.launch_delay)
            boot_at = None if itype.name in self._never_boots else now + delay
            self._launches[instance.instance_id] = _Launch(instance, request, boot_at)
            self._by_request[request.request_id] = instance.instance_id
            self.launched.append(instance)
            self._save()
            return instance

    def terminate(self, instance_id: str) -> None:
        with self._lock:
            launch = self._launches.get(instance_id)
            if launch is None or launch.instance.state == "terminated":
                return
            launch.instance = replace(launch.instance, state="terminated")
            self._save()
            if self.on_terminate is not None:
                try:
                    self.on_terminate(launch.instance)
                except Exception:
                    log.exception("on_terminate failed for simulated instance %s", instance_id)

    def call_latency(self, kind: str) -> float:
        """Seconds of simulated time a call takes to answer: `call_time` for launch and
        terminate calls, none for listing."""
        return self.call_time if kind != "list" else 0.0

    def registration_timeout_scope(self, instance: Instance) -> FailureScope:
        """A node that never registers here is the type's fault (`inject_never_boots` is per
        type): back off the type in every zone."""
        return FailureScope(
            frozenset({instance.instance_type}), instance.capacity_type, None,
            f"{instance.instance_type}/{instance.capacity_type}/every zone",
        )

    def list_instances(self) -> list[Instance]:
        with self._lock:
            self.tick()
            return [
                launch.instance
                for launch in self._launches.values()
                if launch.instance.alive and launch.instance.tags.get(TAG_CLUSTER) == self.cluster_id
            ]

    # ---- simulation

    def tick(self) -> None:
        """Boot the instances whose time has come, calling `on_boot` for each.

        When `on_boot` raises (API server unreachable), the instance stays pending and the
        next tick tries again, as a kubelet retries registering.
        """
        with self._lock:
            if self._ticking:  # on_boot calling back into the provider
                return
            self._ticking = True
            try:
                now = self.clock.now()
                for launch in list(self._launches.values()):
                    if launch.instance.state == "pending" and launch.boot_at is not None and launch.boot_at <= now:
                        self._boot(launch)
            finally:
                self._ticking = False

    def _boot(self, launch: _Launch) -> None:
        running = replace(launch.instance, state="running")
        if self.on_boot is not None and launch.request is not None:
            request = launch.request
            short = self._short.get(request.instance_type.name)
            if short is not None:  # the node registers with less than the catalog promised
                itype = request.instance_type
                request = replace(request, instance_type=replace(itype, allocatable=(itype.allocatable - short).clamp_zero()))
            try:
                self.on_boot(running, request)
            except Exception:
                log.exception("on_boot failed for simulated instance %s; retrying next tick", running.instance_id)
                return
        launch.instance = running
        self._save()

    def instance(self, instance_id: str) -> Instance | None:
        """The instance in its current state (terminated ones too), or None."""
        launch = self._launches.get(instance_id)
        return launch.instance if launch else None

    def add_instance(self, instance: Instance) -> None:
        """Put an instance in the cloud as launched elsewhere (another cluster, by hand).

        It keeps the state given and never boots by itself."""
        with self._lock:
            self._launches[instance.instance_id] = _Launch(instance, None, None)
            if instance.request_id:
                self._by_request[instance.request_id] = instance.instance_id
            self._save()

    # ---- fault injection

    def inject_stockout(
        self, instance_type: str, capacity_type: str = ON_DEMAND, zone: str = "", until: float | None = None
    ) -> None:
        """No capacity for this type in `zone` ("" = every zone) until `until` (None = for ever)."""
        self._change(lambda: self._stockouts.append(Stockout(instance_type, capacity_type, zone, until)))

    def inject_quota(
        self, instance_type_or_family: str, capacity_type: str = ON_DEMAND, until: float | None = None
    ) -> None:
        """Launches of this type or family fail with QuotaExceeded in every zone."""
        self._change(lambda: self._quotas.append(Quota(instance_type_or_family, capacity_type, until)))

    def inject_slow_launch(self, instance_type: str, delay: float) -> None:
        self._change(lambda: self._slow.__setitem__(instance_type, delay))

    def inject_never_boots(self, instance_type: str) -> None:
        """Instances of this type launch but never become running (no node registers)."""
        self._change(lambda: self._never_boots.add(instance_type))

    def inject_short_allocatable(self, instance_type: str, cpu: int = 0, memory: int = 0) -> None:
        """Nodes of this type register with `cpu` millicores and `memory` bytes less allocatable
        than the catalog says (a kubelet or image that reserves more than the cloud's formula):
        a pod planned to fill the type then never fits on it."""
        self._change(lambda: self._short.__setitem__(instance_type, Resources(cpu, memory)))

    def clear_faults(self) -> None:
        def clear() -> None:
            self._stockouts.clear()
            self._quotas.clear()
            self._slow.clear()
            self._never_boots.clear()
            self._short.clear()

        self._change(clear)

    def _change(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            self._save()

    # ---- helpers

    def _quota_scope(self, quota: Quota, itype: InstanceType) -> FailureScope:
        if quota.instance_type_or_family == itype.name:
            types = frozenset({itype.name})
            label = f"{itype.name}/{quota.capacity_type} quota in {self.region}"
        else:
            types = frozenset(self.family_members.get(itype.family, ())) | {itype.name}
            label = f"{quota.capacity_type} vCPU quota of family {itype.family} in {self.region}"
        return FailureScope(types, quota.capacity_type, None, label)

    def _first_zone_in_stock(self, request: LaunchRequest, now: float) -> str:
        zones = request.zones or (f"{self.region}a",)
        name, capacity_type = request.instance_type.name, request.capacity_type
        for zone in zones:
            if not any(out.blocks(name, capacity_type, zone, now) for out in self._stockouts):
                return zone
        raise InsufficientCapacity(
            f"no {capacity_type} capacity for {name} in {', '.join(zones)}",
            code="InsufficientInstanceCapacity",
            zone=zones[0] if len(zones) == 1 else "",
            scopes=tuple(FailureScope.offering(name, capacity_type, zone) for zone in zones),
        )

    def _new_instance(self, request: LaunchRequest, zone: str, now: float) -> Instance:
        instance_id = f"i-{self._next_id:08d}"
        self._next_id += 1
        return Instance(
            instance_id=instance_id,
            provider_id=f"sim:///{zone}/{instance_id}",
            instance_type=request.instance_type.name,
            capacity_type=request.capacity_type,
            zone=zone,
            state="pending",
            launched_at=now,
            request_id=request.request_id,
            tags={**request.tags, TAG_REQUEST: request.request_id, TAG_CLUSTER: self.cluster_id},
        )

    # ---- persistence

    def _save(self) -> None:
        if not self.state_file:
            return
        state = {
            "version": _STATE_VERSION,
            "next_id": self._next_id,
            "launches": [
                {
                    "instance": asdict(launch.instance),
                    "request": _request_to_json(launch.request),
                    "boot_at": launch.boot_at,
                }
                for launch in self._launches.values()
            ],
            "requests": self._by_request,
            "faults": {
                "stockouts": [asdict(s) for s in self._stockouts],
                "quotas": [asdict(q) for q in self._quotas],
                "slow": self._slow,
                "never_boots": sorted(self._never_boots),
                "short": {name: [r.cpu, r.memory] for name, r in self._short.items()},
            },
        }
        directory = os.path.dirname(os.path.abspath(self.state_file))
        fd, temp = tempfile.mkstemp(prefix=".simulated-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.state_file)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"simulated cloud state file {path}: unsupported version {state.get('version')!r}")
        self._next_id = int(state["next_id"])
        for item in state["launches"]:
            instance = Instance(**item["instance"])
            request = _request_from_json(item["request"])
            self._launches[instance.instance_id] = _Launch(instance, request, item["boot_at"])
        self._by_request = dict(state["requests"])
        faults = state.get("faults", {})
        self._stockouts = [Stockout(**s) for s in faults.get("stockouts", [])]
        self._quotas = [Quota(**q) for q in faults.get("quotas", [])]
        self._slow = {k: float(v) for k, v in faults.get("slow", {}).items()}
        self._never_boots = set(faults.get("never_boots", []))
        self._short = {name: Resources(int(cpu), int(memory)) for name, (cpu, memory) in faults.get("short", {}).items()}


def _request_to_json(request: LaunchRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    data = asdict(request)
    data["labels"], data["tags"] = dict(request.labels), dict(request.tags)
    return data


def _request_from_json(data: dict[str, Any] | None) -> LaunchRequest | None:
    if data is None:
        return None
    itype = dict(data["instance_type"])
    itype["capacity"] = Resources(**itype["capacity"])
    itype["allocatable"] = Resources(**itype["allocatable"])
    itype["accelerator"] = Accelerator(**itype["accelerator"]) if itype.get("accelerator") else None
    return LaunchRequest(
        request_id=data["request_id"],
        instance_type=InstanceType(**itype),
        capacity_type=data["capacity_type"],
        zones=tuple(data["zones"]),
        labels=data["labels"],
        taints=tuple(Taint(**t) for t in data["taints"]),
        tags=data["tags"],
    )


# ---- the Node a kubelet would register, for a real API server with kwok as the kubelet


def node_name_for(instance: Instance) -> str:
    """A DNS-1123 node name for an instance, e.g. sim-i-00000001."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"sim-{instance.instance_id}".lower())
    return name[:63].strip("-") or "sim"


def node_manifest(instance: Instance, request: LaunchRequest, node_name: str) -> dict:
    """A core/v1 Node (plain dict) as the instance's kubelet would register it; kwok keeps it Ready."""
    itype = request.instance_type
    capacity = _node_resources(itype, itype.capacity)
    allocatable = _node_resources(itype, itype.allocatable) if itype.allocatable != Resources() else dict(capacity)
    labels = {
        **request.labels,
        "kubernetes.io/hostname": node_name,
        "node.kubernetes.io/instance-type": itype.name,
        "topology.kubernetes.io/zone": instance.zone,
        "kubernetes.io/arch": itype.arch,
        "kubernetes.io/os": "linux",
    }
    spec: dict[str, Any] = {"providerID": instance.provider_id}
    if request.taints:
        spec["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in request.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            # every nodeInfo field is required by the client's model; kwok fills the empty ones
            "nodeInfo": {**{f: "" for f in _NODE_INFO_FIELDS}, "architecture": itype.arch, "operatingSystem": "linux"},
        },
    }


def _node_resources(itype: InstanceType, amounts: Resources) -> dict[str, str]:
    """Kubernetes quantity strings; an instance type without figures gets its listed size."""
    if amounts == Resources():
        amounts = Resources(itype.vcpu * 1000, itype.memory_mib * 2**20, itype.gpu_count, itype.max_pods)
    result = {"cpu": f"{amounts.cpu}m", "memory": str(amounts.memory), "pods": str(amounts.pods)}
    gpus = amounts.gpu or itype.gpu_count
    if gpus > 0:
        result[itype.gpu_resource or "nvidia.com/gpu"] = str(gpus)
    if amounts.ephemeral > 0:
        result["ephemeral-storage"] = str(amounts.ephemeral)
    return result
