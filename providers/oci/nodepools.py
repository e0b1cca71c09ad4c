"""The Container Engine calls on autoscaler-made node pools: find, create, grow, shrink, delete.

Every write goes without SDK retries (a 5xx is an answer, not a glitch); reads retry 429s.
A grow is a read-modify-write of the pool's size under its etag and this process's lock for
the pool, so concurrent launches never lose a node. A pool busy with another change (CREATING,
UPDATING) answers 409 Conflict, a stale etag 412 PreconditionFailed: both are read again and
retried after a growing, jittered pause (OCI's SDK retry guide: exponential back-off with
jitter for 409 IncorrectState). Errors come back as typed failures.

Nodes are deleted the way the Cluster Autoscaler's OCI node-pool code does it, having drained
them itself: DeleteNode names the instance and decrements the pool's size, with
`overrideEvictionGraceDuration=PT0M` and `isForceDeletionAfterOverrideGraceDuration=true`
(OKE API reference, DeleteNode: "PT0M will indicate you want to delete the node without cordon
and drain"), so OKE adds no drain of its own (the pool default waits up to 60 minutes).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from autoscaler.config import Config
from providers.base import ProviderError
from providers.oci.clients import OciClients
from providers.oci.errors import failure, from_service_error
from providers.oci.pools import TAG_CAPACITY, TAG_CLUSTER, TAG_ROLE, PoolSpec, create_details

log = logging.getLogger(__name__)

NO_OKE_DRAIN = "PT0M"  # the autoscaler drained the node itself
BUSY_RETRIES = 6  # 409/412 answers to one grow before it gives up
BUSY_FIRST_PAUSE = 0.5  # seconds, doubled per retry up to BUSY_MAX_PAUSE, plus up to half again
BUSY_MAX_PAUSE = 8.0


@dataclass
class PoolRef:
    pool_id: str
    spec: PoolSpec
    name: str  # the pool's name (the spec's, for pools this process made or found by spec)
    claimed: set[str] = field(default_factory=set)  # node names already handed to a launch


@dataclass
class _Err:
    status: int
    code: str
    message: str


class NodePools:
    def __init__(self, config: Config, clients: OciClients, models: Any, service_error: type[Exception], known_shapes: frozenset[str],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep
        self.config = config
        self.settings = config.oci
        self.clients = clients
        self.models = models
        self.service_error = service_error
        self.known_shapes = known_shapes
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._refs: dict[str, PoolRef] = {}  # by pool name

    def failure(self, err: Any, spec: PoolSpec) -> ProviderError:
        return from_service_error(err, spec.shape, spec.capacity_type, spec.availability_domain, self.known_shapes)

    def create(self, spec: PoolSpec, tags: dict[str, str], kubernetes_version: str, request_id: str) -> tuple[PoolRef, str]:
        """A pool of one node for `spec`, and its work request. The retry token is the launch
        attempt's: a retried attempt makes no second pool, a later need (after the idle pool
        was removed) makes a new one."""
        details = create_details(
            self.models,
            spec,
            compartment_id=self.settings.compartment_id,
            cluster_id=self.settings.cluster_id,
            kubernetes_version=kubernetes_version,
            size=1,
            freeform_tags=tags,
            pod_subnet_id=self.settings.pod_subnet_id,
            nsg_ids=self.settings.nsg_ids,
            boot_volume_size_gb=self.settings.boot_volume_size_gb,
            ssh_public_key=self.settings.ssh_public_key,
        )
        try:
            response = self.clients.container_engine.create_node_pool(
                details, opc_retry_token=hashlib.sha256(f"{spec.name}|{request_id}".encode()).hexdigest()[:64], retry_strategy=self.clients.write_retry
            )
        except self.service_error as err:
            raise self.failure(err, spec) from None
        work_request = response.headers.get("opc-work-request-id", "")
        pool_id = self._id_from(work_request) or self._id_by_name(spec.name)
        if not pool_id:
            raise ProviderError(f"OKE accepted node pool {spec.name} but does not list it", "NodePoolNotFound")
        log.info("created OKE node pool %s (%s) for %s", spec.name, pool_id, spec.shape)
        ref = self._refs[spec.name] = PoolRef(pool_id, spec, spec.name)
        return ref, work_request

    def grow(self, ref: PoolRef, pool: Any, etag: str, tags: dict[str, str]) -> str:
        size = (pool.node_config_details.size if pool.node_config_details else len(pool.nodes or [])) + 1
        details = self.models.UpdateNodePoolDetails(
            node_config_details=self.models.UpdateNodePoolNodeConfigDetails(size=size), freeform_tags=tags
        )
        for attempt in range(BUSY_RETRIES + 1):
            try:
                response = self.clients.container_engine.update_node_pool(
                    ref.pool_id, details, if_match=etag, retry_strategy=self.clients.write_retry
                )
                return response.headers.get("opc-work-request-id", "")
            except self.service_error as err:
                if getattr(err, "status", 0) not in (409, 412):
                    raise self.failure(err, ref.spec) from None
                if attempt == BUSY_RETRIES:
                    break
                self.sleep(busy_pause(attempt))
                pool, etag = self.read_with_etag(ref.pool_id)  # busy or changed under us: read again
                size = pool.node_config_details.size + 1
                details.node_config_details.size = size
        raise ProviderError(f"node pool {ref.name} stayed busy (409/412) through {BUSY_RETRIES} retries while growing it", "Conflict")

    def work_request_failure(self, work_request: str, spec: PoolSpec) -> ProviderError | None:
        if not work_request:
            return None
        engine, reads = self.clients.container_engine, self.clients.read_retry
        try:
            status = engine.get_work_request(work_request, retry_strategy=reads).data.status
            if status not in ("FAILED", "CANCELED"):
                return None
            errors = engine.list_work_request_errors(self.settings.compartment_id, work_request, retry_strategy=reads).data
        except self.service_error as err:
            return self.failure(err, spec)
        first = errors[0] if errors else None
        return from_service_error(
            _Err(500 if first and "(500," in (first.message or "") else 400, first.code if first else "WorkRequestFailed",
                 first.message if first else f"work request {work_request} {status}"),
            spec.shape, spec.capacity_type, spec.availability_domain, self.known_shapes,
        )

    def shrink_after_failure(self, ref: PoolRef, failed: Any = None) -> None:
        """Take the failed node's place back, so the pool does not keep retrying it. A failed
        node that has an instance is deleted by name (a plain size decrease lets OKE pick which
        node goes, maybe a healthy one serving pods); one without an instance has nothing to
        name, and only the size goes down."""
        try:
            if failed is not None and getattr(failed, "id", None):
                self.delete_node(ref, failed.id)
                self.remove_if_idle(ref)
                return
            pool, etag = self.read_with_etag(ref.pool_id)
            size = max(0, pool.node_config_details.size - 1)
            details = self.models.UpdateNodePoolDetails(node_config_details=self.models.UpdateNodePoolNodeConfigDetails(size=size))
            self.clients.container_engine.update_node_pool(ref.pool_id, details, if_match=etag, retry_strategy=self.clients.write_retry)
            if size == 0:
                self.delete(ref)
        except (self.service_error, ProviderError) as err:
            log.warning("could not shrink node pool %s after a failed launch: %s", ref.name, err)

    # ---- pools

    def tags_for(self, spec: PoolSpec) -> dict[str, str]:
        tags = {TAG_CLUSTER: self.config.cluster_name, TAG_CAPACITY: spec.capacity_type}
        if spec.role:
            tags[TAG_ROLE] = spec.role
        return tags

    def ref(self, spec: PoolSpec) -> PoolRef | None:
        ref = self._refs.get(spec.name)
        if ref is not None:
            return ref
        pool_id = self._id_by_name(spec.name)
        if pool_id:
            ref = self._refs[spec.name] = PoolRef(pool_id, spec, spec.name)
        return ref

    def _id_by_name(self, name: str) -> str:
        pools = self._list(name=name)
        return pools[0].id if pools else ""

    def _id_from(self, work_request: str) -> str:
        if not work_request:
            return ""
        try:
            resources = self.clients.container_engine.get_work_request(work_request, retry_strategy=self.clients.read_retry).data.resources
        except self.service_error:
            return ""
        return next((r.identifier for r in resources or [] if (r.entity_type or "").lower() == "nodepool"), "")

    def _list(self, **filters: Any) -> list[Any]:
        import oci.pagination

        try:
            return oci.pagination.list_call_get_all_results(
                self.clients.container_engine.list_node_pools,
                self.settings.compartment_id,
                cluster_id=self.settings.cluster_id,
                retry_strategy=self.clients.read_retry,
                **filters,
            ).data
        except self.service_error as err:
            raise _plain_failure(err, "listing node pools") from None

    def ours(self) -> list[Any]:
        return [p for p in self._list() if (p.freeform_tags or {}).get(TAG_CLUSTER) == self.config.cluster_name
                and p.lifecycle_state not in ("DELETED", "DELETING")]

    def read(self, pool_id: str) -> Any:
        try:
            return self.clients.container_engine.get_node_pool(pool_id, retry_strategy=self.clients.read_retry).data
        except self.service_error as err:
            if getattr(err, "status", 0) == 404:
                return None
            raise _plain_failure(err, f"reading node pool {pool_id}") from None

    def read_with_etag(self, pool_id: str) -> tuple[Any, str]:
        try:
            response = self.clients.container_engine.get_node_pool(pool_id, retry_strategy=self.clients.read_retry)
        except self.service_error as err:
            raise _plain_failure(err, f"reading node pool {pool_id}") from None
        return response.data, response.headers.get("etag", "")

    def newest_unclaimed(self, pool: Any, ref: PoolRef) -> Any:
        nodes = [n for n in pool.nodes or [] if n.name not in ref.claimed and n.lifecycle_state not in ("DELETED", "DELETING")]
        return nodes[-1] if nodes else None

    def find_node(self, instance_id: str) -> tuple[PoolRef, Any] | None:
        for summary in self.ours():
            pool = self.read(summary.id)
            for node in (pool.nodes or []) if pool else []:
                if node.id == instance_id:
                    ref = self._refs.get(pool.name) or self.ref_of(pool)
                    return ref, node
        return None

    def ref_of(self, pool: Any) -> PoolRef:
        placement = pool.node_config_details.placement_configs[0]
        shape_config = pool.node_shape_config
        spec = PoolSpec(
            self.config.cluster_name, pool.node_shape, int(getattr(shape_config, "ocpus", 0) or 0),
            int(getattr(shape_config, "memory_in_gbs", 0) or 0), (pool.freeform_tags or {}).get(TAG_CAPACITY, ""),
            placement.availability_domain, placement.subnet_id, "", (), (),
        )
        ref = PoolRef(pool.id, spec, pool.name)
        self._refs.setdefault(pool.name, ref)
        return self._refs[pool.name]

    def remove_if_idle(self, ref: PoolRef) -> None:
        pool = self.read(ref.pool_id)
        if pool is not None and not [n for n in pool.nodes or [] if n.lifecycle_state not in ("DELETED", "DELETING")]:
            self.delete(ref)

    def delete_node(self, ref: PoolRef, node_id: str) -> None:
        """Delete the named node and shrink its pool by one, without OKE's own cordon and drain;
        quiet when it is already gone (404) or already being deleted (409), as the Cluster
        Autoscaler's OCI node-pool cache treats those answers."""
        try:
            self.clients.container_engine.delete_node(
                ref.pool_id,
                node_id,
                is_decrement_size=True,
                override_eviction_grace_duration=NO_OKE_DRAIN,
                is_force_deletion_after_override_grace_duration=True,
                retry_strategy=self.clients.write_retry,
            )
        except self.service_error as err:
            if getattr(err, "status", 0) not in (404, 409):
                raise self.failure(err, ref.spec) from None

    def delete(self, ref: PoolRef) -> None:
        try:
            self.clients.container_engine.delete_node_pool(ref.pool_id, retry_strategy=self.clients.write_retry)
            log.info("deleted idle OKE node pool %s", ref.name)
        except self.service_error as err:
            if getattr(err, "status", 0) != 404:
                log.warning("could not delete idle node pool %s: %s", ref.name, err)
        for name, known in list(self._refs.items()):
            if known.pool_id == ref.pool_id:
                del self._refs[name]

    def lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(name, threading.Lock())


def _plain_failure(err: Any, doing: str) -> ProviderError:
    mapped = failure(int(getattr(err, "status", 0) or 0), str(getattr(err, "code", "")), str(getattr(err, "message", "")), "", "")
    mapped.args = (f"{doing}: {mapped}",)
    return mapped


def busy_pause(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (0-based) of a write a busy pool refused."""
    pause = min(BUSY_MAX_PAUSE, BUSY_FIRST_PAUSE * 2**attempt)
    return pause + random.uniform(0, pause / 2)
