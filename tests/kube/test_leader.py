from __future__ import annotations

import copy
import re
import threading
from typing import Any, Callable

import pytest

from autoscaler.clock import SimClock
from autoscaler.kube.leader import LeaderElector
from tests.kube.fakeapi import FakeApiServer, Reply, Request, eventually, status

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
LEASE = LEASES + "/smart-autoscaler"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")


class LeaseStore:
    """The API server's side of one Lease: create, get and replace with resourceVersion checks."""

    def __init__(self, api: FakeApiServer) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.before_put: Callable[[], None] | None = None  # another writer sneaking in
        self.hide_once = False  # answer one GET with 404 although the Lease exists (a stale read)
        self._lock = threading.Lock()
        api.on("GET", LEASE, self.get)
        api.on("POST", LEASES, self.post)
        api.on("PUT", LEASE, self.put)

    def get(self, _: Request) -> Reply:
        with self._lock:
            if self.lease is None or self.hide_once:
                self.hide_once = False
                return status(404, "NotFound", 'leases.coordination.k8s.io "smart-autoscaler" not found')
            return Reply(200, copy.deepcopy(self.lease))

    def post(self, request: Request) -> Reply:
        with self._lock:
            if self.lease is not None:
                return status(409, "AlreadyExists", 'leases.coordination.k8s.io "smart-autoscaler" already exists')
            return self._store(request.body, 201)

    def put(self, request: Request) -> Reply:
        if self.before_put:
            hook, self.before_put = self.before_put, None
            hook()
        with self._lock:
            if request.body["metadata"].get("resourceVersion") != str(self.version):
                return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version")
            return self._store(request.body, 200)

    def write(self, holder: str) -> None:
        with self._lock:
            spec = dict(self.lease["spec"], holderIdentity=holder)
            self._store({**self.lease, "spec": spec}, 200)

    def _store(self, body: dict[str, Any], code: int) -> Reply:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return Reply(code, copy.deepcopy(self.lease))

    @property
    def spec(self) -> dict[str, Any]:
        return self.lease["spec"]


@pytest.fixture
def store(api: FakeApiServer) -> LeaseStore:
    return LeaseStore(api)


def elector(api: FakeApiServer, identity: str, clock: SimClock | None = None, **kwargs: Any) -> LeaderElector:
    return LeaderElector(api.api_client(), "kube-system", "smart-autoscaler", identity, clock=clock, **kwargs)


def test_one_leader_then_takeover_only_after_the_lease_expires(api, store):
    clock = SimClock(1_700_000_000.0)
    a, b = elector(api, "a", clock), elector(api, "b", clock)

    def never_both() -> None:
        assert not (a.is_leader and b.is_leader)

    assert a.acquire_or_renew() and a.is_leader
    assert not b.acquire_or_renew() and not b.is_leader
    assert store.spec["holderIdentity"] == "a" and store.spec["leaseTransitions"] == 0
    assert store.spec["leaseDurationSeconds"] == 15
    assert MICRO_TIME.match(store.spec["renewTime"]) and MICRO_TIME.match(store.spec["acquireTime"])
    acquired = store.spec["acquireTime"]

    clock.advance(5)
    assert a.acquire_or_renew()  # a renews
    assert not b.acquire_or_renew()
    assert store.spec["acquireTime"] == acquired and store.spec["renewTime"] != acquired
    never_both()

    clock.advance(11)  # a stops renewing: it no longer believes it leads, the lease is not expired yet
    assert not a.is_leader
    assert not b.acquire_or_renew()
    never_both()

    clock.advance(4.5)  # 15.5 s after a's last renewal
    assert b.acquire_or_renew() and b.is_leader
    never_both()
    assert store.spec["holderIdentity"] == "b" and store.spec["leaseTransitions"] == 1
    assert not a.acquire_or_renew() and not a.is_leader


def test_losing_the_create_race_reads_the_winner(api, store):
    clock = SimClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.acquire_or_renew()
    store.hide_once = True  # b's first read misses a's fresh Lease: its create gets 409
    assert not b.acquire_or_renew() and not b.is_leader
    assert len(api.sent("POST", LEASES)) == 2 and len(api.sent("GET", LEASE)) == 3
    assert store.spec["holderIdentity"] == "a"


def test_losing_the_update_race_is_not_leading(api, store):
    clock = SimClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.acquire_or_renew()
    assert not b.acquire_or_renew()
    clock.advance(16)
    store.before_put = lambda: store.write("c")  # c takes the expired lease between b's read and b's write
    assert not b.acquire_or_renew() and not b.is_leader
    assert store.spec["holderIdentity"] == "c"


def test_release_lets_another_take_over_at_once(api, store):
    clock = SimClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.acquire_or_renew()
    a.release()
    assert not a.is_leader
    assert store.spec.get("holderIdentity") is None and store.spec["leaseDurationSeconds"] == 1
    assert b.acquire_or_renew() and store.spec["leaseTransitions"] == 1


def test_api_errors_are_not_leadership(api):
    api.on("GET", LEASE, status(403, "Forbidden", 'leases.coordination.k8s.io "smart-autoscaler" is forbidden'))
    assert not elector(api, "a", SimClock()).acquire_or_renew()


def test_background_loop_reports_start_and_stop(api, store):
    started, stopped = threading.Event(), threading.Event()
    a = elector(api, "a", retry_period=0.02, renew_deadline=1)
    a.run_in_background(started.set, stopped.set)
    assert started.wait(2)
    eventually(lambda: len(api.sent("PUT", LEASE)) >= 2)  # renewing
    a.stop()
    assert stopped.is_set() and not a.is_leader
    assert store.spec.get("holderIdentity") is None
