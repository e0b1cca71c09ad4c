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
* with `use_alternatives`, a request whose type is stocked out gets its first alternative in
  stock instead (as one AWS CreateFleet call with overrides would);
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
* spot interruptions (`interrupt`): a notice the loop reads through `interruption_notices`
  (handed out again until the loop says it was handled, as an SQS message is redelivered
  until deleted), then the instance reclaimed at the notice's deadline (`on_terminate`);
* optionally, persistence of instances, request ids and faults in a JSON file, so a daemon
  killed between launch and registration and started again finds the same cloud.

What it does not model: prices, instances that fail after booting,
partial failures or leaked instances, API latency and throttling, eventual consistency of
list calls, per-account vCPU arithmetic (a quota fault is all or nothing), and several
processes sharing one state file at the same time (the file is read only at construction).
Time comes from the Clock passed in; nothing happens between calls -- call `tick()` each
loop (list_instances does too).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable

from autoscaler.clock import Clock
from autoscaler.sim.cloud_state import read_state, request_from_json, request_to_json, write_state
from autoscaler.sim.faults import CloudFaults, FaultInjection, Quota, Stockout
from autoscaler.sim.kubelet import KWOK_ANNOTATION, node_manifest, node_name_for
from pricing.types import RegionCatalog
from providers.interruptions import SPOT_INTERRUPTION, InterruptionNotice, NoticeBatch
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

__all__ = ["KWOK_ANNOTATION", "Quota", "SimulatedProvider", "Stockout", "node_manifest", "node_name_for"]


@dataclass(slots=True)
class _Launch:
    """An instance, the request it came from (None when added by hand), `boot_at` None = never."""

    instance: Instance
    request: LaunchRequest | None
    boot_at: float | None


class SimulatedProvider(FaultInjection):
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
        use_alternatives: bool = False,
    ) -> None:
        self.clock = clock
        self.call_time = call_time
        self.use_alternatives = use_alternatives
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
        self.faults = CloudFaults()
        self.notices: list[InterruptionNotice] = []  # not yet handled by the loop
        self._reclaim_at: dict[str, float] = {}  # instance id -> when the cloud takes it back
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
            quota = self.faults.quota(itype, capacity_type, now)
            if quota is not None:
                raise QuotaExceeded(
                    f"vCPU limit reached for {capacity_type} {itype.family} instances in {self.region}",
                    code="VcpuLimitExceeded",
                    scopes=(quota.scope(itype, self.family_members.get(itype.family, set()), self.region),),
                )
            try:
                zone = self.faults.zone_in_stock(request, self.region, now)
            except InsufficientCapacity:
                fallback = self.faults.alternative_in_stock(request, self.region, now) if self.use_alternatives else None
                if fallback is None:
                    raise
                request, zone = fallback
                itype = request.instance_type
            instance = self._new_instance(request, zone, now)
            delay = self.faults.slow.get(itype.name, self.launch_delay)
            boot_at = None if itype.name in self.faults.never_boots else now + delay
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
                except Exception as err:  # noqa: BLE001 - e.g. the API server is down while the node is deleted
                    log.warning("simulated instance %s terminated, but its node could not be removed (%s)",
                                instance_id, _described(err))
                    log.debug("on_terminate failed", exc_info=True)

    def call_latency(self, kind: str) -> float:
        """Seconds of simulated time a call takes to answer: `call_time` for launch and
        terminate calls, none for listing and reading notices."""
        return self.call_time if kind not in ("list", "notices") else 0.0

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

    def interruption_notices(self, handled: tuple[str, ...] = ()) -> NoticeBatch:
        """The notices not handled yet (each handed out again until it is, like an SQS
        message until deleted)."""
        with self._lock:
            done = set(handled)
            self.notices = [n for n in self.notices if n.receipt not in done]
            return NoticeBatch(tuple(self.notices))

    # ---- simulation

    def interrupt(self, instance_id: str, notice: float = 120.0, kind: str = SPOT_INTERRUPTION) -> InterruptionNotice:
        """The cloud takes the instance back `notice` seconds from now, and says so now."""
        with self._lock:
            now = self.clock.now()
            number = len(self._reclaim_at) + len(self.notices) + 1
            message = InterruptionNotice(
                f"sim-notice-{instance_id}-{number}", kind, instance_id, now + notice,
                f"simulated {kind} of {instance_id}", receipt=f"sim-receipt-{instance_id}-{number}",
            )
            self.notices.append(message)
            if kind != "rebalance-recommendation":
                self._reclaim_at[instance_id] = now + notice
            return message

    def interrupt_spot(
        self, count: int = 1, instance_type: str = "", notice: float = 120.0, kind: str = SPOT_INTERRUPTION,
    ) -> list[str]:
        """Interrupt up to `count` running spot instances (of a type, if given), oldest first."""
        with self._lock:
            chosen = [
                launch.instance.instance_id for launch in self._launches.values()
                if launch.instance.state == "running" and launch.instance.capacity_type == "spot"
                and instance_type in ("", launch.instance.instance_type)
                and launch.instance.instance_id not in self._reclaim_at
            ][:count]
            for instance_id in chosen:
                self.interrupt(instance_id, notice, kind)
            return chosen

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
                for instance_id, at in list(self._reclaim_at.items()):
                    if at <= now:
                        del self._reclaim_at[instance_id]
                        self.terminate(instance_id)
            finally:
                self._ticking = False

    def _boot(self, launch: _Launch) -> None:
        running = replace(launch.instance, state="running")
        if self.on_boot is not None and launch.request is not None:
            try:
                self.on_boot(running, self.faults.as_registered(launch.request))
            except Exception as err:  # noqa: BLE001 - e.g. the API server is down: the node registers next tick
                log.warning("simulated instance %s could not register its node yet (%s); retrying next tick",
                            running.instance_id, _described(err))
                log.debug("on_boot failed", exc_info=True)
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

    def _change(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            self._save()

    # ---- helpers

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
        write_state(self.state_file, {
            "next_id": self._next_id,
            "launches": [
                {"instance": asdict(launch.instance), "request": request_to_json(launch.request), "boot_at": launch.boot_at}
                for launch in self._launches.values()
            ],
            "requests": self._by_request,
            "faults": self.faults.to_json(),
        })

    def _load(self, path: str) -> None:
        state = read_state(path)
        self._next_id = int(state["next_id"])
        for item in state["launches"]:
            instance = Instance(**item["instance"])
            request = request_from_json(item["request"])
            self._launches[instance.instance_id] = _Launch(instance, request, item["boot_at"])
        self._by_request = dict(state["requests"])
        self.faults = CloudFaults.from_json(state.get("faults", {}))


def _described(err: Exception) -> str:
    """One line for a failed node registration or removal (an API server's answer or any other error)."""
    from autoscaler.kube.api import describe_error  # the kubernetes client, only when one failed

    return (describe_error(err).splitlines() or [type(err).__name__])[0]
