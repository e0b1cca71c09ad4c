"""OKE nodes through node pools: one pool per offering, grown by one node per launch.

A launch finds (or creates) the pool of its offering in an availability domain, grows it by
one under an etag, and waits for the new node's instance — or for the error OKE reports for it
("Out of host capacity." in the work request and the node). A stock-out or a per-AD limit moves
to the next availability domain in the same call; what every AD refused is raised with the
scopes that cover it, so the loop falls back to the next shape at once. Terminate deletes the
named node and shrinks its pool; a pool left with no node is deleted. Each pool records the
launch attempts (request ids) that grew it in its freeform tags: a retried attempt does not
grow it twice. Thread-safe: one lock per pool for the read-modify-write of its size.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from cachetools import TTLCache

from autoscaler.config import Config
from providers.base import TAG_CAPACITY as BASE_TAG_CAPACITY
from providers.base import TAG_REQUEST
from providers.base import TAG_ROLE as BASE_TAG_ROLE
from providers.base import FailureScope, Instance, InsufficientCapacity, LaunchRequest, ProviderError, QuotaExceeded
from providers.interruptions import NoticeBatch
from providers.live_prices import LivePriceMethods
from providers.oci.clients import OciClients
from providers.oci.errors import zone_of
from providers.oci.nodepools import NodePools, PoolRef, _plain_failure
from providers.oci.preemptions import Preemptions
from providers.oci.pools import TAG_CAPACITY, TAG_ROLE, PoolSpec, ledger_key, pool_labels, pool_taints, with_ledger_entry
from pricing.flex import FLEX_MEMORY_KEY, FLEX_OCPUS_KEY
from pricing.types import InstanceType

log = logging.getLogger(__name__)

_NODE_STATES = {"CREATING": "pending", "UPDATING": "running", "ACTIVE": "running", "DELETING": "terminating",
                "FAILING": "pending", "INACTIVE": "pending", "NEEDS_ATTENTION": "running"}
_ROLE_LABEL = "smart-autoscaler.io/node-type"


class OciProvider(LivePriceMethods):  # live_catalog, price_ages, close: see providers/live_prices.py
    name = "oci"

    def __init__(
        self,
        config: Config,
        clients: OciClients,
        models: Any,
        service_error: type[Exception],
        known_shapes: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 2.0,
        prices: Any = None,
        start_prices: bool = True,
    ) -> None:
        self.config = config
        self.prices = prices  # providers.oci.prices.LivePrices, or None
        self._start_prices = start_prices
        self.settings = config.oci
        self.clients = clients
        self.service_error = service_error
        self.pools = NodePools(config, clients, models, service_error, known_shapes, sleep)
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        # request id -> instance, this process (a retried attempt answers at once)
        self._launched: TTLCache = TTLCache(maxsize=10_000, ttl=max(3600.0, 2 * config.scale_up_timeout))
        self._requests: dict[str, str] = {}  # instance id -> request id, this process
        self._first_seen: dict[str, float] = {}  # instance id -> when this process first saw it
        self._ads: tuple[str, ...] | None = None
        self._version: str | None = None
        self._preemptible: set[str] = set()  # node instance ids of preemptible pools, as last listed
        self._terminating: set[str] = set()  # instances this process asked to terminate

    # ---- the provider interface

    def launch(self, request: LaunchRequest) -> Instance:
        with self._lock:
            done = self._launched.get(request.request_id)
        if done is not None:
            return done
        refused: list[ProviderError] = []
        ads = self._ads_for(request.zones)
        for ad in ads:
            try:
                instance = self._launch_in(self._spec(request, ad), request)
            except (InsufficientCapacity, QuotaExceeded) as err:
                if err.kind == QuotaExceeded.kind and any(scope.zone is None for scope in err.scopes):
                    raise  # a regional quota: no other AD helps
                log.info("OKE launch of %s in %s refused: %s", request.instance_type.name, ad, err)
                refused.append(err)
                continue
            with self._lock:
                self._launched[request.request_id] = instance
            return instance
        if not refused:
            raise ProviderError("no availability domain to launch in (oci.availabilityDomains is empty)", "NoAvailabilityDomain")
        raise _every_ad_refused(request, refused, every_ad=ads == self._availability_domains())

    def terminate(self, instance_id: str) -> None:
        found = self.pools.find_node(instance_id)
        if found is None:
            return  # already gone
        ref, _ = found
        with self._lock:
            self._terminating.add(instance_id)
        with self.pools.lock(ref.name):
            self.pools.delete_node(ref, instance_id)
            self.pools.remove_if_idle(ref)

    def list_instances(self) -> list[Instance]:
        """Every node of this cluster's pools that has an instance; pools left empty (a crash
        between a failed launch and its clean-up) are removed on the way."""
        instances = []
        for summary in self.pools.ours():
            pool = self.pools.read(summary.id)
            if pool is None:
                continue
            tags = pool.freeform_tags or {}
            live = [node for node in pool.nodes or [] if node.lifecycle_state not in ("DELETED", "DELETING")]
            if not live and (pool.node_config_details is None or not pool.node_config_details.size):
                self._remove_empty(pool)
                continue
            instances.extend(self._instance(node, pool, tags) for node in live if node.id)
        with self._lock:
            self._preemptible = {i.instance_id for i in instances if i.capacity_type == "spot"}
        return instances

    def interruption_notices(self, handled: tuple[str, ...] = ()) -> NoticeBatch:
        """Preemptible nodes OCI is reclaiming (providers/oci/preemptions.py)."""
        with self._lock:
            nodes, ours = set(self._preemptible), set(self._terminating)
        if not nodes or self.clients.compute is None:
            return NoticeBatch()
        try:
            return Preemptions(self.clients.compute, self.settings.compartment_id, self.clients.read_retry, self.clock).read(nodes, ours)
        except self.service_error as err:
            raise ProviderError(f"ListInstances (TERMINATING) failed: {getattr(err, 'message', err)}", code=str(getattr(err, "code", ""))) from None

    def _remove_empty(self, pool: Any) -> None:
        ref = self.pools.ref_of(pool)
        with self.pools.lock(ref.name):
            self.pools.remove_if_idle(ref)

    # ---- launching in one availability domain

    def _launch_in(self, spec: PoolSpec, request: LaunchRequest) -> Instance:
        started = self.clock()
        work_request, before = "", set()
        with self.pools.lock(spec.name):
            ref = self.pools.ref(spec)
            if ref is None:
                tags = with_ledger_entry(self.pools.tags_for(spec), request.request_id, started)
                ref, work_request = self.pools.create(spec, tags, self._kubernetes_version(), request.request_id)
            else:
                pool, etag = self.pools.read_with_etag(ref.pool_id)
                tags = pool.freeform_tags or {}
                if ledger_key(request.request_id) in tags:
                    # this attempt grew the pool already (a retry, or a restart): take its node,
                    # or wait for it below; never grow the pool twice for one attempt
                    node = self.pools.newest_unclaimed(pool, ref)
                    if node is not None and node.id:
                        ref.claimed.add(node.name)
                        return self._instance(node, pool, tags, request.request_id, started)
                    before = {other.name for other in pool.nodes or [] if node is None or other.name != node.name}
                else:
                    before = {node.name for node in pool.nodes or []}
                    work_request = self.pools.grow(ref, pool, etag, with_ledger_entry(tags, request.request_id, started))
        return self._await_node(ref, before, work_request, request, started)

    def _await_node(self, ref: PoolRef, before: set[str], work_request: str, request: LaunchRequest, started: float) -> Instance:
        """Poll the pool until the new node has its instance, or OKE reports why it has none."""
        deadline = started + self.settings.launch_timeout
        while True:
            failure = self.pools.work_request_failure(work_request, ref.spec)
            pool = self.pools.read(ref.pool_id)
            with self.pools.lock(ref.name):
                node = None
                for candidate in pool.nodes or [] if pool else []:
                    if candidate.name not in before and candidate.name not in ref.claimed:
                        node = candidate
                        break
                if node is not None and node.node_error is not None and (node.node_error.code or node.node_error.message):
                    failure = failure or self.pools.failure(node.node_error, ref.spec)
                if failure is None and node is not None and node.id:
                    ref.claimed.add(node.name)
                    return self._instance(node, pool, pool.freeform_tags or {}, request.request_id, started)
                if failure is not None:
                    if node is not None:
                        ref.claimed.add(node.name)
                    self.pools.shrink_after_failure(ref, node)
                    raise failure
            if self.clock() >= deadline:
                raise ProviderError(
                    f"OKE node pool {ref.spec.name} gave no node within {self.settings.launch_timeout:g}s", "LaunchTimeout"
                )
            self.sleep(self.poll_interval)

    # ---- what a launch asks for

    def _spec(self, request: LaunchRequest, ad: str) -> PoolSpec:
        itype = request.instance_type
        return PoolSpec(
            cluster_name=self.config.cluster_name,
            shape=itype.machine_type or itype.name,
            ocpus=itype.ocpus if itype.flexible else 0,
            memory_gb=itype.memory_mib // 1024 if itype.flexible else 0,
            capacity_type=request.capacity_type,
            availability_domain=ad,
            subnet_id=self.settings.subnet_id,
            image_id=self._image_for(itype),
            labels=pool_labels(request.labels),
            taints=pool_taints(request.taints, bool(itype.gpu_count)),
            role=request.labels.get(_ROLE_LABEL, ""),
            boot_volume_gb=request.root_volume_gib if request.root_volume_gib > (self.settings.boot_volume_size_gb or 50) else 0,
        )

    def _image_for(self, itype: InstanceType) -> str:
        if itype.gpu_count:
            image, option = self.settings.image_id_gpu, "oci.imageIdGpu"
        elif itype.arch == "arm64":
            image, option = self.settings.image_id_arm, "oci.imageIdArm"
        else:
            image, option = self.settings.image_id, "oci.imageId"
        if not image:
            raise ProviderError(f"{option} is not set: no OKE worker image for {itype.name}", "ImageNotConfigured")
        return image

    def _ads_for(self, zones: tuple[str, ...]) -> tuple[str, ...]:
        """The ADs of the planned zones (the AD name without its tenancy prefix is the zone label
        OKE nodes carry); every AD, in order, when the plan named only the region."""
        ads = self._availability_domains()
        wanted = {zone.upper() for zone in zones if zone and zone != self.config.region}
        if not wanted:
            return ads
        named = tuple(ad for ad in ads if zone_of(ad).upper() in wanted)
        if not named:
            # launching elsewhere would break the zone spread or anti-affinity it was planned for
            raise ProviderError(
                f"planned availability domain {', '.join(sorted(wanted))} is not one of this cluster's "
                f"({', '.join(zone_of(ad) for ad in ads) or 'none'}; oci.availabilityDomains)",
                "NoAvailabilityDomain",
                next(iter(sorted(wanted))),
            )
        return named

    def _availability_domains(self) -> tuple[str, ...]:
        if self._ads is None:
            if self.settings.availability_domains:
                self._ads = tuple(self.settings.availability_domains)
            else:
                try:
                    listed = self.clients.identity.list_availability_domains(
                        self.settings.compartment_id, retry_strategy=self.clients.read_retry
                    ).data
                except self.service_error as err:
                    raise _plain_failure(err, "listing availability domains") from None
                self._ads = tuple(sorted(ad.name for ad in listed))
        return self._ads

    def _kubernetes_version(self) -> str:
        if self._version is None:
            if self.settings.kubernetes_version:
                self._version = self.settings.kubernetes_version
            else:
                try:
                    cluster = self.clients.container_engine.get_cluster(
                        self.settings.cluster_id, retry_strategy=self.clients.read_retry
                    ).data
                except self.service_error as err:
                    raise _plain_failure(err, "reading the cluster") from None
                self._version = cluster.kubernetes_version
        return self._version

    def _instance(self, node: Any, pool: Any, tags: dict[str, str], request_id: str = "", launched_at: float | None = None) -> Instance:
        capacity = tags.get(TAG_CAPACITY, "")
        with self._lock:
            if request_id:
                self._requests[node.id] = request_id
            request_id = self._requests.get(node.id, "")
            first_seen = self._first_seen.setdefault(node.id, launched_at if launched_at is not None else self.clock())
        return Instance(
            instance_id=node.id,
            provider_id=f"oci://{node.id}",  # nodes may carry the bare OCID: see provider_id_key
            instance_type=pool.node_shape,
            capacity_type=capacity,
            zone=zone_of(node.availability_domain or ""),
            state=_NODE_STATES.get(node.lifecycle_state or "", "pending"),
            launched_at=first_seen,
            request_id=request_id,
            tags={TAG_REQUEST: request_id, BASE_TAG_ROLE: tags.get(TAG_ROLE, ""), BASE_TAG_CAPACITY: capacity,
                  "oci-node-pool": pool.id or "", "oci-node-name": node.name or "", **_shape_config_tags(pool)},
        )


def _shape_config_tags(pool: Any) -> dict[str, str]:
    """A Flex node's size, for whoever adopts the instance (the shape name alone does not say it)."""
    config = pool.node_shape_config
    if config is None or not config.ocpus:
        return {}
    return {FLEX_OCPUS_KEY: f"{config.ocpus:g}", FLEX_MEMORY_KEY: f"{config.memory_in_gbs:g}"}


def _every_ad_refused(request: LaunchRequest, refused: list[ProviderError], every_ad: bool) -> ProviderError:
    """One failure for a launch every availability domain refused. When every AD of the region
    was tried, its scopes cover the whole region: the catalog offers OCI shapes region-wide."""
    kind = InsufficientCapacity if all(e.kind == InsufficientCapacity.kind for e in refused) else QuotaExceeded
    scopes = tuple(scope for err in refused for scope in err.scopes)
    if every_ad:
        where = "every availability domain"
        scopes = tuple(
            dict.fromkeys(
                FailureScope(scope.instance_types, scope.capacity_type, None, scope.label.rsplit("/", 1)[0] + f"/{where}")
                if kind is InsufficientCapacity
                else FailureScope(scope.instance_types, scope.capacity_type, None, scope.label)
                for scope in scopes
            )
        )
    message = "; ".join(str(err) for err in refused)
    return kind(f"every availability domain refused {request.instance_type.name}: {message}", refused[-1].code, "", scopes)
