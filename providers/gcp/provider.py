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
    TAG_CAPACITY,
    TAG_CLUSTER,
    TAG_ROLE,
    Instance,
    LaunchRequest,
    ProviderError,
    Throttled,
)
from providers.gcp.calls import CallFailed
from providers.gcp.clients import GcpClients
from providers.gcp.launch import LaunchBook, Launcher, instance_state
from providers.gcp.livecatalog import LiveCatalog
from providers.gcp.errors import THROTTLE_CODES
from providers.gcp.migs import GONE_ACTIONS, Mig, MigOps
from providers.gcp.nodepools import NodePools
from providers.gcp.pools import mig_name, mig_zone
from providers.gcp.preemptions import Preemptions
from providers.interruptions import NoticeBatch
from providers.live_prices import LivePriceMethods

log = logging.getLogger(__name__)


class GcpProvider(LivePriceMethods):  # live_catalog, price_ages, close: see providers/live_prices.py
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
        self.book = LaunchBook()
        self._lock = threading.Lock()
        self._mig_by_instance: dict[str, Mig] = {}  # instance name -> the MIG a listing found it in
        self.launcher = Launcher(
            config, self.project, self.pools, self.migs, prices, self.book, self._known_types, self._now, self._instance, sleep
        )

    def _known_types(self) -> list[InstanceType]:
        """The embedded types, and those the live catalog learnt from Compute Engine (for quota scopes)."""
        known = dict(self.types)
        known.update((o.instance_type.name, o.instance_type) for o in self.prices.catalog(self.embedded).offerings)
        return list(known.values())

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def launch(self, request: LaunchRequest) -> Instance:
        return self.launcher.launch(request)

    # ---- terminate and list

    def terminate(self, instance_id: str) -> None:
        """Remove the instance from the MIG that holds it. The MIG is the one a listing found it
        in, whatever its name: GKE names the instances it makes itself (surge upgrades, auto-
        repair: `gke-<cluster>-<pool>-<hash>-<suffix>`), so the name does not say the pool."""
        mig = self._mig_of(instance_id)
        if mig is None:
            return  # in no MIG of ours: its pool is gone, and the instance with it
        try:
            errors = self.migs.delete_instance(mig, instance_id, time.monotonic() + self.gcp.call_timeout * 2)
        except CallFailed as failed:
            raise call_failure(f"deleting instance {instance_id}", failed) from None
        if errors:
            detail = "; ".join(f"{e.code}: {e.message}" for e in errors)
            raise ProviderError(f"deleting instance {instance_id}: {detail}", errors[0].code)
        self.book.forget(instance_id)
        with self._lock:
            self._mig_by_instance.pop(instance_id, None)

    def _mig_of(self, instance_id: str) -> Mig | None:
        with self._lock:
            known = self._mig_by_instance.get(instance_id)
        if known is not None:
            return known
        self.list_instances()  # not listed by this process yet: list, which notes every MIG
        with self._lock:
            return self._mig_by_instance.get(instance_id)

    def interruption_notices(self, handled: tuple[str, ...] = ()) -> NoticeBatch:
        """Preemptions of Spot VMs in the zones of the spot pools made here (providers/gcp/preemptions.py)."""
        zones = {mig_zone(url) for pool in self.pools.known() if pool.capacity_type == "spot" for url in pool.instance_group_urls}
        if not zones:
            return NoticeBatch()
        try:
            return Preemptions(self.clients, self.project, self.gcp.call_timeout, self._now).read(zones)
        except CallFailed as failed:
            raise call_failure("listing preemptions", failed) from None

    def list_instances(self) -> list[Instance]:
        try:
            pools = self.pools.listed()
        except CallFailed as failed:
            raise call_failure("listing node pools", failed) from None
        found: list[Instance] = []
        migs: dict[str, Mig] = {}
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
                    migs[item.name] = mig
                    if item.current_action in GONE_ACTIONS:
                        continue
                    tags = {TAG_CLUSTER: self.config.cluster_name, TAG_ROLE: pool.role, TAG_CAPACITY: pool.capacity_type}
                    found.append(self._instance(item.name, mig.zone, pool.instance_type, pool.capacity_type, instance_state(item), tags))
            self.pools.note_emptiness(pool, count == 0, now)
        self.book.keep_only({instance.instance_id for instance in found})  # the others are gone
        with self._lock:
            self._mig_by_instance = migs
        return found

    def _instance(self, name: str, zone: str, instance_type: str, capacity_type: str, state: str, tags: Any) -> Instance:
        request_id, launched_at = self.book.note(name, "", self._now())
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
