from __future__ import annotations

import logging
from typing import Iterator

import pytest
from kubernetes.client import CoreV1Api

from autoscaler.kube.cache import Backoff, CacheOptions, Changes, WatchCache
from autoscaler.podspec import pod_from_manifest
from tests.kube.fakeapi import HOLD, FakeApiServer, Reply, eventually, listing, status, stream
from tests.kube.objects import bookmark, error_event, event, pod

PODS = "/api/v1/pods"
FAST = CacheOptions(backoff_initial=0.02, backoff_max=0.1, watch_timeout=5)


@pytest.fixture
def cache(api: FakeApiServer) -> Iterator[WatchCache]:
    watch = WatchCache("pods", CoreV1Api(api.api_client()).list_pod_for_all_namespaces, pod_from_manifest, Changes(), FAST)
    yield watch
    watch.stop()


def names(cache: WatchCache) -> set[str]:
    return {p.name for p in cache.items()}


def test_list_then_watch_applies_added_modified_deleted_and_bookmark(api, cache):
    api.on("GET", PODS, listing([pod("p0", "5"), pod("p1", "6")], "10"), watch=False)
    api.on(
        "GET",
        PODS,
        stream(
            event("ADDED", pod("p2", "11")),
            event("MODIFIED", pod("p1", "12", labels={"tier": "web"})),
            event("DELETED", pod("p0", "13")),
            bookmark("20"),
        ),
        HOLD,
        watch=True,
    )
    cache.start()
    eventually(lambda: len(api.sent("GET", PODS, watch=True)) == 2)
    assert cache.synced.is_set()
    assert names(cache) == {"p1", "p2"}
    assert cache.get("default/p1").labels["tier"] == "web"
    first, second = api.sent("GET", PODS, watch=True)
    assert first.query["resourceVersion"] == "10" and first.query["allowWatchBookmarks"] == "true"
    assert int(first.query["timeoutSeconds"]) == FAST.watch_timeout
    assert second.query["resourceVersion"] == "20"  # the bookmark moved it on
    assert len(api.sent("GET", PODS, watch=False)) == 1


def test_lists_in_pages(api, cache):
    api.on("GET", PODS, listing([pod("p0")], "10", token="next-page"), listing([pod("p1")], "10"), watch=False)
    api.on("GET", PODS, HOLD, watch=True)
    cache.start()
    eventually(cache.synced.is_set)
    assert names(cache) == {"p0", "p1"}
    first, second = api.sent("GET", PODS, watch=False)
    assert first.query["limit"] == "500" and "continue" not in first.query
    assert second.query["continue"] == "next-page"


@pytest.mark.parametrize(
    "gone",
    [
        status(410, "Expired", "too old resource version: 10 (300)"),
        stream(error_event(410, "Expired", "too old resource version: 10 (300)")),
    ],
    ids=["http-410", "error-event-410"],
)
def test_gone_lists_again_and_replaces_the_store(api, cache, gone):
    api.on("GET", PODS, listing([pod("p0"), pod("p1")], "10"), listing([pod("p1"), pod("p9")], "300"), watch=False)
    api.on("GET", PODS, gone, HOLD, watch=True)
    cache.start()
    eventually(lambda: len(api.sent("GET", PODS, watch=True)) == 2)
    assert names(cache) == {"p1", "p9"}
    assert len(api.sent("GET", PODS, watch=False)) == 2
    assert api.sent("GET", PODS, watch=True)[1].query["resourceVersion"] == "300"


def test_server_error_and_dropped_stream_reconnect_with_backoff(api, cache, caplog):
    caplog.set_level(logging.WARNING)
    api.on("GET", PODS, listing([pod("p0", "5")], "10"), watch=False)
    api.on(
        "GET",
        PODS,
        status(500, "InternalError", "etcd leader changed"),
        stream(event("ADDED", pod("p1", "11")), end="drop"),
        stream(event("ADDED", pod("p2", "12"))),
        HOLD,
        watch=True,
    )
    cache.start()
    eventually(lambda: len(api.sent("GET", PODS, watch=True)) == 4)
    assert names(cache) == {"p0", "p1", "p2"}
    versions = [r.query["resourceVersion"] for r in api.sent("GET", PODS, watch=True)]
    assert versions == ["10", "10", "11", "12"]  # resumed where it was, no new list
    assert len(api.sent("GET", PODS, watch=False)) == 1
    assert "watch pods: 500 Internal Server Error: etcd leader changed; retrying in" in caplog.text
    assert "watch pods: ProtocolError" in caplog.text


def test_failed_list_is_retried_and_reported(api, cache):
    api.on(
        "GET",
        PODS,
        status(403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods"'),
        listing([pod("p0")], "10"),
        watch=False,
    )
    api.on("GET", PODS, HOLD, watch=True)
    cache.start()
    eventually(cache.synced.is_set)
    assert names(cache) == {"p0"}


def test_unreadable_pod_is_skipped_with_a_warning(api, cache, caplog):
    bad = pod("bad")
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "plenty"
    api.on("GET", PODS, listing([pod("good"), bad], "10"), watch=False)
    api.on("GET", PODS, stream(event("ADDED", bad), event("ADDED", pod("later", "11"))), HOLD, watch=True)
    cache.start()
    eventually(lambda: "later" in names(cache))
    assert names(cache) == {"good", "later"}
    assert "pods default/bad skipped: pod default/bad: spec.containers[0].resources.requests.cpu: is not a Kubernetes quantity" in caplog.text


def test_changes_wake_a_waiter_only_on_a_real_change(api):
    changes = Changes()
    watch = WatchCache("pods", CoreV1Api(api.api_client()).list_pod_for_all_namespaces, pod_from_manifest, changes, FAST)
    api.on("GET", PODS, listing([pod("p0", "5")], "10"), watch=False)
    same_again = pod("p0", "11")
    api.on("GET", PODS, stream(event("MODIFIED", same_again), event("ADDED", pod("p1", "12"))), HOLD, watch=True)
    try:
        seen = changes.count
        watch.start()
        assert changes.wait(seen, 2.0)
        eventually(lambda: watch.resource_version == "12")
        assert changes.count == seen + 2  # the list and p1; the unchanged p0 woke nobody
        assert not changes.wait(changes.count, 0.05)
    finally:
        watch.stop()


def test_stop_ends_a_watch_at_once(api, cache):
    api.on("GET", PODS, listing([], "10"), watch=False)
    api.on("GET", PODS, Reply(events=[], end="hold", hold=30), watch=True)
    cache.start()
    eventually(lambda: api.sent("GET", PODS, watch=True))
    cache.stop(timeout=2)
    assert not cache._thread.is_alive()


def test_backoff_doubles_to_the_ceiling_and_resets():
    backoff = Backoff(0.5, 30)
    assert [backoff.next() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5
