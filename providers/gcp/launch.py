"""Launching one node: into the first of the request's zones with capacity, through the
offering's node pool (created on first need) and its MIG, with the launch attempt's key as the
instance's name; whatever fails leaves nothing behind.

`LaunchBook` remembers, per instance name, the launch attempt and when it was first asked for
(a restarted provider knows neither: it lists the instance with the time it first saw it).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from autoscaler.config import Config
from pricing.types import InstanceType
from providers.base import FailureScope, Instance, InsufficientCapacity, LaunchRequest, LaunchTimeout, ProviderError
from providers.gcp.calls import CallFailed
from providers.gcp.errors import Offering, classify, classify_message
from providers.gcp.livecatalog import LiveCatalog
from providers.gcp.migs import GONE_ACTIONS, ManagedInstance, Mig, MigOps
from providers.gcp.nodepools import NodePools, PoolCreateFailed
from providers.gcp.pools import PoolInfo, instance_name, mig_name, mig_zone, pool_spec

log = logging.getLogger(__name__)


class LaunchBook:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, float]] = {}  # instance name -> (request id, first asked)
        self._lock = threading.Lock()

    def note(self, name: str, request_id: str, at: float) -> tuple[str, float]:
        with self._lock:
            return self._entries.setdefault(name, (request_id, at))

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def keep_only(self, names: set[str]) -> None:
        with self._lock:
            for name in [n for n in self._entries if n not in names]:
                del self._entries[name]


class Launcher:
    def __init__(
        self,
        config: Config,
        project: str,
        pools: NodePools,
        migs: MigOps,
        prices: LiveCatalog,
        book: LaunchBook,
        known_types: Callable[[], list[InstanceType]],
        now: Callable[[], float],
        instance_of: Callable[..., Instance],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.project = project
        self.region = config.region
        self.pools = pools
        self.migs = migs
        self.prices = prices
        self.book = book
        self.known_types = known_types
        self.now = now
        self.instance_of = instance_of
        self.sleep = sleep

    def launch(self, request: LaunchRequest) -> Instance:
        # Answer before the loop gives up on the call (cloudCallTimeout): an instance still being
        # created then is answered as pending, and the loop times it out after scaleUpTimeout.
        deadline = time.monotonic() + min(self.config.scale_up_timeout, 0.8 * self.config.cloud_call_timeout)
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
            request.instance_type, request.capacity_type, offering.zone, request.labels, request.taints, self.config.nvidia_gpu_time_slices,
            request.root_volume_gib if request.root_volume_gib > self.config.gcp.disk_size_gb else 0,
        )
        try:
            pool = self.pools.ensure(spec, deadline)
        except PoolCreateFailed as err:
            raise classify_message(f"node pool {spec.name}: {err}", offering, self.known_types()) from None
        except CallFailed as failed:
            raise self._failure(failed, offering) from None
        mig = pool_mig(self.project, pool, offering.zone)
        name = instance_name(pool.name, request.request_id)
        launched_at = self.now()
        first_asked = self.book.note(name, request.request_id, launched_at)[1]
        try:
            errors = self.migs.create_instance(mig, name, request.request_id, deadline)
            if errors:
                raise classify(errors, offering, self.known_types())
            state = self._await_vm(mig, name, offering, deadline, first_asked)
        except CallFailed as failed:
            raise self._failure(failed, offering) from None
        except ProviderError:
            self._cancel(mig, name)
            raise
        return self.instance_of(name, offering.zone, request.instance_type.name, request.capacity_type, state, request.tags)

    def _await_vm(self, mig: Mig, name: str, offering: Offering, deadline: float, first_asked: float) -> str:
        """Wait until the MIG has made the VM (state 'pending' or 'running'), or says why it cannot;
        still creating at the deadline: 'pending', unless first asked for scaleUpTimeout ago."""
        managed = self.migs.await_vm(mig, name, deadline)
        if managed is not None and managed.instance_status:
            return instance_state(managed)
        if managed is not None and managed.errors:
            raise classify(list(managed.errors), offering, self.known_types())
        answer_by = 0.8 * self.config.cloud_call_timeout
        if managed is not None and answer_by < self.config.scale_up_timeout and self.now() - first_asked < self.config.scale_up_timeout:
            return "pending"
        raise LaunchTimeout(
            f"instance {name} ({offering.instance_type.name} in {offering.zone}) still creating after "
            f"scaleUpTimeout={self.config.scale_up_timeout:g}s",
            "CREATING_TIMEOUT",
            offering.zone,
        )

    def _cancel(self, mig: Mig, name: str) -> None:
        """A launch that failed leaves nothing behind: the MIG stops retrying that instance."""
        try:
            self.migs.delete_instance(mig, name, time.monotonic() + self.config.gcp.call_timeout * 2)
        except CallFailed as failed:
            log.warning("cancelling instance %s failed (the next loop finds it): %s", name, failed)
        self.book.forget(name)

    def _failure(self, failed: CallFailed, offering: Offering) -> ProviderError:
        if failed.errors and any(e.code != str(failed.http_status) for e in failed.errors):
            error = classify(failed.errors, offering, self.known_types(), failed.http_status)
        else:
            error = classify_message(str(failed), offering, self.known_types(), failed.http_status)
        if type(error) is ProviderError:
            return ProviderError(f"{failed}", error.code, offering.zone)
        return error


def pool_mig(project: str, pool: PoolInfo, zone: str) -> Mig:
    for url in pool.instance_group_urls:
        if mig_zone(url) == zone:
            return Mig(project, zone, mig_name(url))
    raise ProviderError(f"node pool {pool.name} has no instance group in {zone}", "NO_MIG", zone)


def instance_state(managed: ManagedInstance) -> str:
    if managed.current_action in GONE_ACTIONS or managed.instance_status in ("STOPPING", "STOPPED", "TERMINATED", "SUSPENDED"):
        return "terminating"
    return "running" if managed.instance_status == "RUNNING" else "pending"
