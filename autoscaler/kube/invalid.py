"""Warning events for API objects the daemon cannot read (SPEC §9): the object is left out of
planning ("planned as if absent" for a pod, "skipped" for a DaemonSet's overhead) and its
owner learns why from an Event naming the field, while every other object is served as usual.

Events are sent from a small worker thread so that a watch never waits on the API server to
report a bad object; one event per object and message (a changed message is reported again).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

from autoscaler.cluster import ObjectRef

log = logging.getLogger(__name__)

INVALID_POD = "InvalidPodSpec"
INVALID_DAEMONSET = "InvalidDaemonSet"
_MAX_REMEMBERED = 10_000
_QUEUE_SIZE = 1_000

SendEvent = Callable[[ObjectRef, str, str, str], None]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _needs_a_node(obj: Mapping[str, Any]) -> bool:
    """Only a pod still waiting for a node is reported: a bound or finished one needs nothing."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    status = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    return not spec.get("nodeName") and status.get("phase") in (None, "Pending")


class InvalidObjectReporter:
    def __init__(self, send: SendEvent) -> None:
        self._send = send
        self._reported: dict[str, str] = {}  # uid or key -> message last reported
        self._queue: queue.Queue[tuple[ObjectRef, str, str]] = queue.Queue(_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def pod(self, obj: Mapping[str, Any], err: Exception) -> None:
        if _needs_a_node(obj):
            self._report(obj, "Pod", "v1", INVALID_POD,
                         f"smart-autoscaler plans as if this pod were absent (no node is added for it): {err}")

    def daemonset(self, obj: Mapping[str, Any], err: Exception) -> None:
        self._report(obj, "DaemonSet", "apps/v1", INVALID_DAEMONSET,
                     f"smart-autoscaler skips this DaemonSet: its pods' requests are not counted on new nodes: {err}")

    def _report(self, obj: Mapping[str, Any], kind: str, api_version: str, reason: str, message: str) -> None:
        meta = _meta(obj)
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
        if not name:
            return
        key = str(meta.get("uid") or f"{kind}/{namespace}/{name}")
        with self._lock:
            if self._reported.get(key) == message:
                return
            if len(self._reported) >= _MAX_REMEMBERED:
                self._reported.clear()
            self._reported[key] = message
        ref = ObjectRef(kind, namespace, name, str(meta.get("uid") or ""), api_version)
        try:
            self._queue.put_nowait((ref, reason, message))
        except queue.Full:
            log.warning("too many invalid objects to report at once; no event for %s %s/%s", kind, namespace, name)
            return
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="invalid-object-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            ref, reason, message = self._queue.get()
            try:
                self._send(ref, "Warning", reason, message)
            except Exception as err:  # noqa: BLE001 - a ClusterError or anything else: reporting must never stop
                log.error("creating event %s on %s %s/%s failed: %s", reason, ref.kind, ref.namespace, ref.name, err)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until queued events are sent (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
