"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Safety rests on two things: every write carries the resourceVersion it read (a racing
writer gets 409), and a leader stops believing it leads `renew_deadline` after its last
successful renewal, while others wait `lease_duration` (longer) before taking over.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from kubernetes.client import ApiClient, CoordinationV1Api

from autoscaler.clock import Clock, SystemClock
from autoscaler.kube.api import ApiCallError, call_json, micro_time
from autoscaler.podspec import parse_timestamp

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("leader election needs lease_duration > renew_deadline > retry_period > 0")
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self._api = CoordinationV1Api(api_client)
        self._clock = clock or SystemClock()
        self._leader_until = 0.0
        self._observed: tuple[str, str] = ("", "")  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._what = f"lease {namespace}/{name}"

    @property
    def is_leader(self) -> bool:
        return self._clock.now() < self._leader_until

    def acquire_or_renew(self) -> bool:
        """One attempt to take or keep the lease; True while this elector leads."""
        now = self._clock.now()
        try:
            lease = self._read()
            if lease is None:
                if self._create(now):
                    return self._won(now)
                lease = self._read()  # another replica created it first
                if lease is None:
                    return self.is_leader
            if not self._may_take(lease, now):
                self._leader_until = 0.0  # someone else holds it
                return False
            self._update(lease, now)
            return self._won(now)
        except ApiCallError as err:
            if err.status == 409:
                log.info("%s: another replica wrote it first", self._what)
            else:
                log.warning("leader election: %s", err)
            return self.is_leader

    def release(self) -> None:
        """Give the lease up at once so another replica need not wait for it to expire."""
        if not self.is_leader:
            return
        self._leader_until = 0.0
        try:
            lease = self._read()
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = lease.setdefault("spec", {})
                spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=micro_time(self._clock.now()))
                spec["acquireTime"] = micro_time(parse_timestamp(spec.get("acquireTime")) or self._clock.now())
                call_json(f"release {self._what}", self._api.replace_namespaced_lease, self.name, self.namespace, lease)
        except ApiCallError as err:
            log.warning("leader election: %s", err)

    def run_in_background(
        self, on_started: Callable[[], None], on_stopped: Callable[[], None]
    ) -> threading.Thread:
        """Try every retry_period; on_started when leadership is gained, on_stopped when it is lost."""

        def loop() -> None:
            leading = False
            while not self._stopping.is_set():
                try:
                    self.acquire_or_renew()
                except Exception:  # noqa: BLE001 - a dead loop would hide a lost lease; is_leader lapses anyway
                    log.exception("leader election: %s", self._what)
                if self.is_leader != leading:
                    leading = not leading
                    log.info("%s: %s leader", self._what, "became" if leading else "is no longer")
                    (on_started if leading else on_stopped)()
                self._stopping.wait(self.retry_period)
            if leading:
                self.release()
                on_stopped()

        self._stopping.clear()
        self._thread = threading.Thread(target=loop, name="leader-election", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """End the background loop; a leader releases the lease."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- one step each

    def _read(self) -> dict[str, Any] | None:
        try:
            return call_json(f"read {self._what}", self._api.read_namespaced_lease, self.name, self.namespace)
        except ApiCallError as err:
            if err.status == 404:
                return None
            raise

    def _create(self, now: float) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(now, acquired=now, transitions=0),
        }
        try:
            call_json(f"create {self._what}", self._api.create_namespaced_lease, self.namespace, body)
        except ApiCallError as err:
            if err.status == 409:
                return False
            raise
        return True

    def _may_take(self, lease: dict[str, Any], now: float) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if not holder or holder == self.identity:
            return True
        observed = (holder, str(spec.get("renewTime") or ""))
        if observed != self._observed:
            self._observed, self._observed_at = observed, now
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        # Expired by the holder's renewTime and by our own observation: the latter guards against clock skew.
        return now >= parse_timestamp(spec.get("renewTime")) + duration and now >= self._observed_at + duration

    def _update(self, lease: dict[str, Any], now: float) -> None:
        spec = lease.get("spec") or {}
        mine = spec.get("holderIdentity") == self.identity
        acquired = parse_timestamp(spec.get("acquireTime")) if mine else now
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = {**spec, **self._spec(now, acquired or now, transitions)}
        call_json(f"update {self._what}", self._api.replace_namespaced_lease, self.name, self.namespace, lease)

    def _spec(self, now: float, acquired: float, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": micro_time(acquired),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    def _won(self, now: float) -> bool:
        if not self.is_leader:
            log.info("%s: %s holds it", self._what, self.identity)
        self._leader_until = now + self.renew_deadline
        return True
