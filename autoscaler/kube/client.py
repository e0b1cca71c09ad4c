"""`KubeCluster`: the Cluster of autoscaler/cluster.py on a real API server, via the official client."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import replace
from functools import partial
from typing import Any, Callable, Iterable, Mapping

from kubernetes import config
from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    Configuration,
    CoreV1Api,
    PolicyV1Api,
    StorageV1Api,
    V1Eviction,
    V1ObjectMeta,
    VersionApi,
)

from autoscaler.clock import Clock, SystemClock
from autoscaler.cluster import ClusterError, ClusterView, EvictionOutcome, KubeNode, ObjectRef
from autoscaler.kube.api import ApiCallError, api_time, call_json, micro_time, read_json
from autoscaler.kube.cache import CacheOptions, Changes, WatchCache
from autoscaler.kube.invalid import InvalidObjectReporter
from autoscaler.validate.kubeconfig import KubeconfigError, check_client_configuration
from autoscaler.kube.convert import daemonset_from_api, node_from_api, pdb_from_api, taint_to_api, taints_from_api
from autoscaler.podrecord import read_pod
from autoscaler.podspec import DEFAULT_PREFIXES
from autoscaler.volumes import NarrowedPods, claim_from_api, storage_class_from_api, volume_from_api
from pricing.types import Taint

log = logging.getLogger(__name__)

COMPONENT = "smart-autoscaler"
# Finished pods hold no resources; leaving them out keeps the cache small (Jobs leave many).
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
PATCH_ATTEMPTS = 5
PROBE_INTERVAL = 1.0  # seconds between looks at an API server the caches cannot reach


def _without_version(node: KubeNode) -> KubeNode:
    return replace(node, resource_version="")


def _clip(text: str, limit: int) -> str:
    """At most `limit` bytes, as the API server counts them."""
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "..."


def _selector_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _describe(ref: ObjectRef) -> str:
    return f"{ref.kind.lower()} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def client_configuration(kubeconfig: str | None = None, context: str | None = None) -> Configuration:
    """In-cluster config inside a pod (unless a kubeconfig or context is given), else the
    kubeconfig; ClusterError says what is wrong with it."""
    configuration = Configuration()
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        else:
            check_client_configuration(kubeconfig, context)
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except KubeconfigError as err:
        raise ClusterError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - the client raises many kinds on a broken file
        raise ClusterError(f"load Kubernetes client configuration: {type(err).__name__}: {err}") from None
    return configuration


class KubeCluster:
    """List+watch caches for pods, nodes, DaemonSets, PDBs and the pods' volumes (claims,
    volumes, storage classes), and the actions the daemon takes."""

    def __init__(
        self,
        api_client: ApiClient,
        annotation_prefixes: Iterable[str] = DEFAULT_PREFIXES,
        *,
        cache_options: CacheOptions = CacheOptions(),
        clock: Clock | None = None,
        instance: str | None = None,
    ) -> None:
        self.api_client = api_client
        self._core = CoreV1Api(api_client)
        self._clock = clock or SystemClock()
        self._instance = _clip(instance or socket.gethostname() or COMPONENT, 128)
        self._changes = Changes()
        self._seen = 0
        # (verb, resource, code) of every failed request, caches' lists and watches included;
        # the daemon counts them (smart_autoscaler_kube_api_request_errors_total).
        self.on_api_error: Callable[[str, str, str], None] | None = None
        self._probed = 0.0  # when api_error() last looked at the API server (monotonic)
        prefixes = tuple(annotation_prefixes)
        apps, policy = AppsV1Api(api_client), PolicyV1Api(api_client)
        cache = partial(WatchCache, changes=self._changes, options=cache_options, on_error=self._api_failed)
        self.invalid = InvalidObjectReporter(self.create_event)  # Warning events for unreadable objects
        self.pods = cache(
            "pods",
            partial(self._core.list_pod_for_all_namespaces, field_selector=LIVE_PODS),
            partial(read_pod, prefixes=prefixes),  # bound pods are kept even when unreadable
            on_invalid=self.invalid.pod,
        )
        self.nodes = cache(
            "nodes", self._core.list_node, partial(node_from_api, prefixes=prefixes), signature=_without_version
        )
        self.daemonsets = cache(
            "daemonsets", apps.list_daemon_set_for_all_namespaces, daemonset_from_api, on_invalid=self.invalid.daemonset
        )
        self.pdbs = cache(
            "poddisruptionbudgets", policy.list_pod_disruption_budget_for_all_namespaces, pdb_from_api
        )
        self.claims = cache(
            "persistentvolumeclaims", self._core.list_persistent_volume_claim_for_all_namespaces, claim_from_api
        )
        self.volumes = cache("persistentvolumes", self._core.list_persistent_volume, volume_from_api)
        self.storage_classes = cache(
            "storageclasses", StorageV1Api(api_client).list_storage_class, storage_class_from_api
        )
        self._caches: tuple[WatchCache[Any], ...] = (
            self.pods, self.nodes, self.daemonsets, self.pdbs, self.claims, self.volumes, self.storage_classes
        )
        self._narrowed = NarrowedPods()  # pods with their volumes' topology, kept while nothing changes

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        annotation_prefixes: Iterable[str] = DEFAULT_PREFIXES,
        sync_timeout: float = 120.0,
    ) -> KubeCluster:
        """In-cluster config inside a pod (unless a kubeconfig or context is given), else the kubeconfig;
        starts the caches and waits for their first list."""
        cluster = cls(ApiClient(client_configuration(kubeconfig, context)), annotation_prefixes)
        cluster.start()
        if not cluster.wait_synced(sync_timeout):
            unsynced = cluster.unsynced()
            cluster.stop()
            raise ClusterError(f"caches not filled after {sync_timeout:.0f}s: {unsynced}")
        return cluster

    # ---- caches

    def start(self) -> None:
        for cache in self._caches:
            cache.start()

    def stop(self) -> None:
        for cache in self._caches:
            cache.stop()

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(cache.synced.wait(max(0.0, deadline - time.monotonic())) for cache in self._caches)

    def unsynced(self) -> str:
        """The caches not listed yet, with their last error ('' when all are)."""
        missing = [c for c in self._caches if not c.synced.is_set()]
        return ", ".join(f"{c.resource} ({c.last_error})" if c.last_error else c.resource for c in missing)

    def api_error(self) -> str:
        """Why the caches may be out of date now ('' when every one is current): a list or watch
        failing. When a cache waits out a back-off, a quick look at the API server decides
        whether it answers again; if so, every cache retries at once, so the daemon learns the
        API is back within a second, not at the end of a back-off of up to 30 s."""
        failing = [cache for cache in self._caches if cache.last_error]
        if not failing:
            return ""
        now = time.monotonic()
        if now - self._probed < PROBE_INTERVAL:  # the loop and /readyz both ask: one look suffices
            return "; ".join(cache.last_error for cache in failing)
        self._probed = now
        try:
            read_json(VersionApi(self.api_client).get_code(_preload_content=False, _request_timeout=(2.0, 2.0)))
        except Exception:  # noqa: BLE001 - any failure: still unreachable
            pass
        else:
            for cache in failing:
                cache.retry_now()
        return "; ".join(cache.last_error for cache in failing)

    def _api_failed(self, verb: str, resource: str, code: str) -> None:
        if self.on_api_error is not None:
            try:
                self.on_api_error(verb, resource, code)
            except Exception:  # noqa: BLE001 - counting must never stop a call's own handling
                log.exception("counting a failed API call failed")

    def _call(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """call_json, counting a failure under its verb and resource ('patch node n1' -> patch, nodes)."""
        try:
            return call_json(what, call, *args, **kwargs)
        except ApiCallError as err:
            verb, _, rest = what.partition(" ")
            noun = rest.split(" ", 1)[0]
            self._api_failed(verb, noun if noun.endswith("s") else noun + "s", err.code)
            raise

    def view(self) -> ClusterView:
        missing = self.unsynced()
        if missing:
            raise ClusterError(f"cluster view: caches not filled yet: {missing}")
        self._seen = self._changes.count
        pods = self._narrowed(self.pods.items(), self.claims, self.volumes, self.storage_classes)
        return ClusterView(
            pods=pods, nodes=self.nodes.items(), daemonsets=self.daemonsets.items(), pdbs=self.pdbs.items()
        )

    def wait_for_change(self, timeout: float) -> bool:
        """True as soon as anything changed since the last view() (or the last wait)."""
        changed = self._changes.wait(self._seen, timeout)
        self._seen = self._changes.count
        return changed

    def wake(self) -> None:
        """End a wait_for_change early: something outside the caches changed (a cloud call answered)."""
        self._changes.bump()

    # ---- events

    def create_event(self, ref: ObjectRef, event_type: str, reason: str, message: str) -> None:
        namespace = ref.namespace or "default"  # cluster-scoped objects (Nodes) report in default
        now = self._clock.now()
        involved = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            involved["namespace"] = ref.namespace
        if ref.uid:
            involved["uid"] = ref.uid
        reason = _clip(reason, 128)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": namespace},
            "involvedObject": involved,
            "type": event_type,
            "reason": reason,
            "message": _clip(message, 1024),
            "count": 1,
            "firstTimestamp": api_time(now),
            "lastTimestamp": api_time(now),
            # With eventTime set, validation also wants action, reportingComponent and reportingInstance.
            "eventTime": micro_time(now),
            "action": reason,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        }
        self._call(f"create event {reason} for {_describe(ref)}", self._core.create_namespaced_event, namespace, body)

    def has_event(self, ref: ObjectRef, reason: str) -> bool:
        if ref.uid:
            fields = {"involvedObject.uid": ref.uid}
        else:
            fields = {"involvedObject.kind": ref.kind, "involvedObject.name": ref.name}
        fields["reason"] = _clip(reason, 128)
        found = self._call(
            f"list events {reason} of {_describe(ref)}",
            self._core.list_namespaced_event,
            ref.namespace or "default",
            field_selector=",".join(f"{key}={_selector_value(value)}" for key, value in fields.items()),
        )
        return bool(found.get("items"))

    # ---- nodes and pods

    def patch_node(
        self,
        name: str,
        labels: Mapping[str, str | None] | None = None,
        add_taints: tuple[Taint, ...] = (),
        remove_taint_keys: tuple[str, ...] = (),
    ) -> None:
        """A JSON merge patch. Taint changes are applied to the node as read just before, and the
        patch carries that resourceVersion, so a taint another writer set meanwhile is never lost."""
        if not labels and not add_taints and not remove_taint_keys:
            return
        what = f"patch node {name}"
        for attempt in range(1, PATCH_ATTEMPTS + 1):
            body = self._node_patch(what, name, labels, add_taints, remove_taint_keys)
            try:
                self._call(what, self._core.patch_node, name, body, _content_type="application/merge-patch+json")
                return
            except ApiCallError as err:
                if err.status != 409 or attempt == PATCH_ATTEMPTS:
                    raise
                log.info("%s: conflict (attempt %d of %d); reading it again", what, attempt, PATCH_ATTEMPTS)

    def _node_patch(
        self,
        what: str,
        name: str,
        labels: Mapping[str, str | None] | None,
        add_taints: tuple[Taint, ...],
        remove_taint_keys: tuple[str, ...],
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        patch: dict[str, Any] = {"metadata": metadata}
        if labels:
            metadata["labels"] = dict(labels)  # None becomes null: the key is removed
        if add_taints or remove_taint_keys:
            live = self._call(what, self._core.read_node, name)
            metadata["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
            current = taints_from_api((live.get("spec") or {}).get("taints"))
            replaced = {t.key for t in add_taints} | set(remove_taint_keys)
            wanted = tuple(t for t in current if t.key not in replaced) + tuple(add_taints)
            patch["spec"] = {"taints": _taints_body(wanted, (live.get("spec") or {}).get("taints") or ())}
        return patch

    def evict_pod(self, namespace: str, name: str) -> str:
        meta = V1ObjectMeta(name=name, namespace=namespace)
        body = V1Eviction(api_version="policy/v1", kind="Eviction", metadata=meta)
        try:
            self._call(f"evict pod {namespace}/{name}", self._core.create_namespaced_pod_eviction, name, namespace, body)
        except ApiCallError as err:
            if err.status == 429:
                log.info("%s", err)
                return EvictionOutcome.BLOCKED
            if err.status == 404:
                return EvictionOutcome.GONE
            raise
        return EvictionOutcome.EVICTED

    def delete_node(self, name: str) -> None:
        try:
            self._call(f"delete node {name}", self._core.delete_node, name)
        except ApiCallError as err:
            if err.status != 404:
                raise


def _taints_body(taints: tuple[Taint, ...], live: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The taints as the API writes them, keeping timeAdded of those already there (NoExecute timing)."""
    added = {(t.get("key"), t.get("value") or "", t.get("effect")): t.get("timeAdded") for t in live}
    body = []
    for taint in taints:
        item = taint_to_api(taint)
        stamp = added.get((taint.key, taint.value, taint.effect))
        if stamp:
            item["timeAdded"] = stamp
        body.append(item)
    return body
