"""List+watch caches, one thread per resource, on the official client's raw responses.

Responses are read as JSON lines (`_preload_content=False`), never deserialized into the
client's models: that is several times slower and heavier on 50,000 pods. Each object is
turned into a small record by a `convert` function as it arrives.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, TypeVar

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from autoscaler.kube.api import TRANSPORT_ERRORS, describe_error, error_code, read_json
from autoscaler.kube.convert import object_key

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CacheOptions:
    page_size: int = 500  # list in chunks, as client-go does
    watch_timeout: int = 300  # seconds the server keeps one watch open
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # for a list page; a watch waits watch_timeout + this
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


class Changes:
    """A counter bumped on every change of any cache, with a way to wait for the next one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.count = 0

    def bump(self) -> None:
        with self._condition:
            self.count += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until the counter differs from `seen` or `timeout` passes; True on a change."""
        with self._condition:
            return self._condition.wait_for(lambda: self.count != seen, max(0.0, timeout))


class Backoff:
    """Exponential back-off: initial, doubling up to maximum; reset after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): list again from scratch."""


class WatchError(Exception):
    """An ERROR event in a watch stream."""


def _identity(item: Any) -> Any:
    return item


class WatchCache(Generic[T]):
    """Keeps every object of one resource, converted, current by list + watch.

    `list_call` is a list function of the client (e.g. `CoreV1Api.list_node`, perhaps with a
    selector bound); `convert` turns one object dict into a record and may raise, in which
    case the object is logged and left out. `signature` picks what counts as a change
    (e.g. a node's record without its resourceVersion, so heartbeats wake nobody).
    """

    def __init__(
        self,
        resource: str,
        list_call: Callable[..., Any],
        convert: Callable[[Mapping[str, Any]], T],
        changes: Changes | None = None,
        options: CacheOptions = CacheOptions(),
        signature: Callable[[T], Any] = _identity,
        on_invalid: Callable[[Mapping[str, Any], Exception], None] | None = None,
        on_error: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.resource = resource
        self._on_invalid = on_invalid
        self._on_error = on_error  # (verb, resource, code) of every failed list or watch
        self.synced = threading.Event()
        self.last_error = ""
        self._list = list_call
        self._convert = convert
        self._changes = changes or Changes()
        self._options = options
        self._signature = signature
        self._backoff = Backoff(options.backoff_initial, options.backoff_max)
        self._store: dict[str, T] = {}
        self._resource_version = ""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._retry = threading.Event()  # cuts a back-off short: the API server answers again
        self._response: Any = None
        self._thread: threading.Thread | None = None

    # ---- reading

    def items(self) -> tuple[T, ...]:
        with self._lock:
            return tuple(self._store.values())

    def get(self, key: str) -> T | None:
        with self._lock:
            return self._store.get(key)

    @property
    def resource_version(self) -> str:
        return self._resource_version

    # ---- running

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"watch-{self.resource}", daemon=True)
            self._thread.start()

    def retry_now(self) -> None:
        """Try again at once instead of at the end of the back-off (the API server is back)."""
        self._retry.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._retry.set()
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()  # unblocks the thread's read at once
            except Exception:  # noqa: BLE001 - already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        needs_list = True
        while not self._stopping.is_set():
            try:
                if needs_list:
                    self._relist()
                    needs_list = False
                self._watch()
            except _Gone as err:
                log.info("%s: watch expired (%s); listing again", self.resource, err)
                needs_list = True
            except Exception as err:  # noqa: BLE001 - the thread must outlive any failure
                if self._stopping.is_set():
                    break
                self._failed("list" if needs_list else "watch", err)

    def _failed(self, call: str, err: Exception) -> None:
        self.last_error = f"{call} {self.resource}: {describe_error(err)}"
        delay = self._backoff.next()
        unexpected = not isinstance(err, (ApiException, WatchError, *TRANSPORT_ERRORS))
        log.warning("%s; retrying in %.1fs", self.last_error, delay, exc_info=unexpected)
        if self._on_error is not None:
            self._on_error(call, self.resource, "watch-error" if isinstance(err, WatchError) else error_code(err))
        self._retry.wait(delay)
        self._retry.clear()

    def _converted(self, obj: Mapping[str, Any]) -> T | None:
        try:
            return self._convert(obj)
        except Exception as err:  # noqa: BLE001 - one bad object must not stop the others
            log.warning("%s %s skipped: %s", self.resource, object_key(obj).lstrip("/"), err)
            if self._on_invalid is not None:
                try:
                    self._on_invalid(obj, err)
                except Exception:  # noqa: BLE001 - reporting must not stop the watch
                    log.exception("reporting the invalid %s %s failed", self.resource, object_key(obj))
            return None

    def _relist(self) -> None:
        store: dict[str, T] = {}
        token = ""
        while True:
            kwargs: dict[str, Any] = {"limit": self._options.page_size}
            if token:
                kwargs["_continue"] = token
            page = read_json(
                self._list(
                    _preload_content=False,
                    _request_timeout=(self._options.connect_timeout, self._options.read_timeout),
                    **kwargs,
                )
            )
            for obj in page.get("items") or ():
                item = self._converted(obj)
                if item is not None:
                    store[object_key(obj)] = item
            metadata = page.get("metadata") or {}
            token = str(metadata.get("continue") or "")
            if not token:
                break
        with self._lock:
            changed = store != self._store
            self._store = store
            self._resource_version = str(metadata.get("resourceVersion") or "")
        log.info("%s: listed %d at resourceVersion %s", self.resource, len(store), self._resource_version)
        self._backoff.reset()
        self.last_error = ""
        self.synced.set()
        if changed:
            self._changes.bump()

    def _watch(self) -> None:
        options = self._options
        started = time.monotonic()
        try:
            response = self._list(
                watch=True,
                resource_version=self._resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=options.watch_timeout,
                _preload_content=False,
                _request_timeout=(options.connect_timeout, options.watch_timeout + options.read_timeout),
            )
        except ApiException as err:
            if err.status == 410:
                raise _Gone(describe_error(err)) from None
            raise
        with self._lock:
            self._response = response
        self.last_error = ""  # the server answers: the cache is current again from here
        events = 0
        try:
            if self._stopping.is_set():  # stop() came before the response was there to shut down
                return
            for line in iter_resp_lines(response):
                if self._stopping.is_set():
                    return
                if line.strip():
                    self._apply(json.loads(line))
                    events += 1
                    self._backoff.reset()
        finally:
            with self._lock:
                self._response = None
            response.close()
            response.release_conn()
        if not events and time.monotonic() - started < 1.0:
            raise WatchError("the server closed the watch at once")  # do not hammer it in a loop

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone(f"410 {obj.get('reason') or 'Gone'}: {obj.get('message') or ''}")
            raise WatchError(f"{obj.get('code')} {obj.get('reason') or ''}: {obj.get('message') or ''}")
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind not in ("ADDED", "MODIFIED", "DELETED"):  # BOOKMARK: only the resourceVersion moves on
            if version:
                self._resource_version = version
            return
        key = object_key(obj)
        item = None if kind == "DELETED" else self._converted(obj)
        with self._lock:
            old = self._store.pop(key, None) if item is None else self._store.get(key)
            if item is not None:
                self._store[key] = item
            if version:
                self._resource_version = version
        if (old is None) != (item is None) or (
            old is not None and item is not None and self._signature(old) != self._signature(item)
        ):
            self._changes.bump()
