"""The GCP provider: GKE nodes through node pools made per offering and their MIGs.

launch: the offering's pool (created on first need) grows by one instance named after the
launch attempt's key, in the first of the request's zones that has capacity; terminate:
that named instance leaves its MIG, so the pool shrinks by exactly that node; list: every
instance of every pool the autoscaler made. Node names on GKE are the instance names, and
the Node's providerID is gce://<project>/<zone>/<name>.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from autoscaler.config import Config
from pricing.types import InstanceType, RegionCatalog
from providers.base import (
    FailureScope,
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_ROLE,
    Instance,
    InsufficientCapacity,
    LaunchRequest,
    LaunchTimeout,
    ProviderError,
    Throttled,
)
from providers.gcp.calls import CallFailed
from providers.gcp.clients import GcpClients
from providers.gcp.livecatalog import LiveCatalog
from providers.gcp.errors import THROTTLE_CODES, Offering, classify, classify_message
from providers.gcp.migs import GONE_ACTIONS, ManagedInstance, Mig, MigOps
from providers.gcp.nodepools import NodePools, PoolCreateFailed
from providers.gcp.pools import PoolInfo, instance_name, mig_name, mig_zone, pool_of_instance, pool_spec

log = logging.getLogger(__name__)


class GcpProvider:
    name = "gcp"

    def __init__(
        self,
        config: Config,
        clients: GcpClients,
        embedded: RegionCatalog,
        prices: LiveCatalog,
        clock: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        start_prices: bool = True,
    ) -> None:
        self.config = config
        self.gcp = config.gcp
        self.clients = clients
        self.project = clients.project
        self.region = config.region
        self.embedded = embedded
        self.types = {o.instance_type.name: o.instance_type for o in embedded.offerings}
        self.prices = prices  # zones and prices, refreshed off the loop
        self.clock = clock
        self.sleep = sleep
        self._start_prices = start_prices
        location = self.gcp.location or config.region
        self.pools = NodePools(clients, self.gcp, location, self.gcp.cluster or config.cluster_name, sleep)
        self.migs = MigOps(clients, self.gcp, sleep)
        self._launched: dict[str, tuple[str, float]] = {}  # instance name -> (request id, launched at)
        self._guard = threading.Lock()

    def live_catalog(self, base: RegionCatalog) -> RegionCatalog:
        """The loop's offerings: `base` per zone at live prices, as far as fetched (never waits).
        The first call starts the background refresh, so a provider built only to check the
        configuration starts no thread."""
        if self._start_prices:
            self.prices.start()
        return self.prices.catalog(base)

    def price_ages(self) -> dict[str, float]:
        return self.prices.ages()

    def close(self) -> None:
        self.prices.stop()

    def _known_types(self) -> list[InstanceType]:
        """The embedded types, and those the live catalog learnt from Compute Engine (for quota scopes)."""
        known = dict(self.types)
        known.update((o.instance_type.name, o.instance_type) for o in self.prices.catalog(self.embedded).offerings)
        return list(known.values())

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    # ---- launch

    def launch(self, request: LaunchRequest) -> Instance:
        deadline = time.monotonic() + self.config.scale_up_timeout
        failures: list[ProviderError] = []
        try:
            zones = self._zones(request)
        except CallFailed as failed:
            where = request.zones[0] if request.zones else self.region
            raise self._failure(failed, Offering(request.instance_type, request.capacity_type, where, self.region)) from None
        for zone in zones:
            offering = Offering(request.instance_type, request.capacity_type, zone, self.region)
            try:
                return self._launch_in(request, offering, deadline)
            except InsufficientCapacity as err:
                failures.append(err)  # the next zone may have capacity
                log.info("%s", err)
        if not failures:
            where = ", ".join(request.zones or (self.region,))
            raise ProviderError(f"{request.instance_type.name} is offered in no zone of {where} that the cluster's nodes may use", "NO_ZONE")
        scopes = tuple(scope for err in failures for scope in err.scopes)
        # The request may name the region (the embedded catalog knows no zones): out of stock
        # in every zone of it is out of stock for the regional offering the planner holds.
        tried = {err.zone for err in failures}
        scopes += tuple(
            FailureScope.offering(request.instance_type.name, request.capacity_type, where)
            for where in request.zones
            if where not in tried
        )
        zones = ", ".join(err.zone for err in failures)
        raise InsufficientCapacity(
            f"no capacity for {request.instance_type.name} {request.capacity_type} in {zones}: {failures[-1]}",
            failures[-1].code,
            failures[0].zone if len(failures) == 1 else "",
            scopes,
        )

    def _zones(self, request: LaunchRequest) -> list[str]:
        """The request's zones that offer the type and hold the cluster's nodes, in its order."""
        cluster = set(self.pools.cluster_zones())
        zones: list[str] = []
        for zone in request.zones or (self.region,):
            zones.extend(z for z in self.prices.zones_for(request.instance_type, zone) if z not in zones and (not cluster or z in cluster))
        return zones

    def _launch_in(self, request: LaunchRequest, offering: Offering, deadline: float) -> Instance:
        spec = pool_spec(
            request.instance_type, request.capacity_type, offering.zone, request.labels, request.taints, self.config.nvidia_gpu_time_slices
        )
        try:
            pool = self.pools.ensure(spec, deadline)
        except PoolCreateFailed as err:
            raise classify_message(f"node pool {spec.name}: {err}", offering, self._known_types()) from None
        except CallFailed as failed:
            raise self._failure(failed, offering) from None
        mig = self._mig(pool, offering.zone)
        name = instance_name(pool.name, request.request_id)
        launched_at = self._now()
        with self._guard:
            self._launched.setdefault(name, (request.request_id, launched_at))
        try:
            errors = self.migs.create_instance(mig, name, request.request_id, deadline)
            if errors:
                raise classify(errors, offering, self._known_types())
            state = self._await_vm(mig, name, offering, deadline)
        except CallFailed as failed:
            raise self._failure(failed, offering) from None
        except ProviderError:
            self._cancel(mig, name)
            raise
        return self._instance(name, offering.zone, request.instance_type.name, request.capacity_type, state, request.tags)

    def _await_vm(self, mig: Mig, name: str, offering: Offering, deadline: float) -> str:
        """Wait until the MIG has made the VM (state 'pending' or 'running'), or says why it cannot."""
        managed = self.migs.await_vm(mig, name, deadline)
        if managed is not None and managed.instance_status:
            return _state(managed)
        if managed is not None and managed.errors:
            raise classify(list(managed.errors), offering, self._known_types())
        raise LaunchTimeout(
            f"instance {name} ({offering.instance_type.name} in {offering.zone}) still creating after "
            f"scaleUpTimeout={self.config.scale_up_timeout:g}s",
            "CREATING_TIMEOUT",
            offering.zone,
        )

    def _cancel(self, mig: Mig, name: str) -> None:
        """A launch that failed leaves nothing behind: the MIG stops retrying that instance."""
        try:
            self.migs.delete_instance(mig, name, time.monotonic() + self.gcp.call_timeout * 2)
        except CallFailed as failed:
            log.warning("cancelling instance %s failed (the next loop finds it): %s", name, failed)
        with self._guard:
            self._launched.pop(name, None)

    def _failure(self, failed: CallFailed, offering: Offering) -> ProviderError:
        if failed.errors and any(e.code != str(failed.http_status) for e in failed.errors):
            error = classify(failed.errors, offering, self._known_types(), failed.http_status)
        else:
            error = classify_message(str(failed), offering, self._known_types(), failed.http_status)
        if type(error) is ProviderError:
            return ProviderError(f"{failed}", error.code, offering.zone)
        return error

    # ---- terminate and list

    def terminate(self, instance_id: str) -> None:
        pool = self._pool(pool_of_instance(instance_id))
        if pool is None:
            return  # its pool is gone, and the instance with it
        for url in pool.instance_group_urls:
            mig = Mig(self.project, mig_zone(url), mig_name(url))
            try:
                errors = self.migs.delete_instance(mig, instance_id, time.monotonic() + self.gcp.call_timeout * 2)
            except CallFailed as failed:
                raise call_failure(f"deleting instance {instance_id}", failed) from None
            if errors:
                detail = "; ".join(f"{e.code}: {e.message}" for e in errors)
                raise ProviderError(f"deleting instance {instance_id}: {detail}", errors[0].code)
        with self._guard:
            self._launched.pop(instance_id, None)

    def list_instances(self) -> list[Instance]:
        try:
            pools = self.pools.listed()
        except CallFailed as failed:
            raise call_failure("listing node pools", failed) from None
        found: list[Instance] = []
        now = self._now()
        for pool in pools:
            count = 0
            for url in pool.instance_group_urls:
                mig = Mig(self.project, mig_zone(url), mig_name(url))
                try:
                    managed = self.migs.instances(mig)
                except CallFailed as failed:
                    if failed.not_found:
                        continue  # the pool is being deleted
                    raise call_failure(f"listing instances of pool {pool.name}", failed) from None
                for item in managed:
                    count += 1
                    if item.current_action in GONE_ACTIONS:
                        continue
                    tags = {TAG_CLUSTER: self.config.cluster_name, TAG_ROLE: pool.role, TAG_CAPACITY: pool.capacity_type}
                    found.append(self._instance(item.name, mig.zone, pool.instance_type, pool.capacity_type, _state(item), tags))
            self.pools.note_emptiness(pool, count == 0, now)
        listed = {instance.instance_id for instance in found}
        with self._guard:
            for name in [n for n in self._launched if n not in listed]:
                del self._launched[name]  # gone (its pool deleted, or removed by hand)
        return found

    def _pool(self, name: str) -> PoolInfo | None:
        try:
            return self.pools.get(name)
        except CallFailed as failed:
            raise call_failure(f"reading node pool {name}", failed) from None

    def _mig(self, pool: PoolInfo, zone: str) -> Mig:
        for url in pool.instance_group_urls:
            if mig_zone(url) == zone:
                return Mig(self.project, zone, mig_name(url))
        raise ProviderError(f"node pool {pool.name} has no instance group in {zone}", "NO_MIG", zone)

    def _instance(self, name: str, zone: str, instance_type: str, capacity_type: str, state: str, tags: Any) -> Instance:
        with self._guard:
            request_id, launched_at = self._launched.setdefault(name, ("", self._now()))
        return Instance(
            instance_id=name,
            provider_id=f"gce://{self.project}/{zone}/{name}",
            instance_type=instance_type,
            capacity_type=capacity_type,
            zone=zone,
            state=state,
            launched_at=launched_at,
            request_id=request_id,
            tags=dict(tags),
        )


def call_failure(what: str, failed: CallFailed) -> ProviderError:
    """A failed call that is not a launch: throttled when the API said so, else other."""
    codes = {e.code.upper() for e in failed.errors}
    kind = Throttled if failed.http_status == 429 or codes & THROTTLE_CODES else ProviderError
    code = next(iter(failed.errors)).code if failed.errors else str(failed.http_status)
    return kind(f"{what}: {failed}", code)


def _state(managed: ManagedInstance) -> str:
    if managed.current_action in GONE_ACTIONS or managed.instance_status in ("STOPPING", "STOPPED", "TERMINATED", "SUSPENDED"):
        return "terminating"
    return "running" if managed.instance_status == "RUNNING" else "pending"
