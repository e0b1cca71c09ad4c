"""Cloud calls off the loop thread (autoscaler/loop/calls.py): bounded, timed out, never blocking.

ThreadedCalls is the daemon's executor (real threads); its timeouts are read from the clock
it is given, here a simulated one, so nothing waits on the wall clock. Calls that "hang"
block on an Event the test releases.
"""

from __future__ import annotations

import threading

from autoscaler.clock import SimClock
from autoscaler.daemon import DaemonError, DaemonOptions, _provider, provider_name
from autoscaler.config import Config
from autoscaler.loop.calls import SimulatedCalls, ThreadedCalls
from providers.base import InsufficientCapacity

import pytest


class HangingCloud:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[str] = []
        self.lock = threading.Lock()

    def launch(self, name: str) -> str:
        with self.lock:
            self.started.append(name)
        self.release.wait(30)
        return f"instance-of-{name}"


def wait_until(predicate, what: str) -> None:
    event = threading.Event()
    for _ in range(2000):
        if predicate():
            return
        event.wait(0.005)
    raise AssertionError(f"never happened: {what}")


def test_at_most_max_concurrent_calls_run_and_the_rest_wait_in_order():
    clock, cloud = SimClock(), HangingCloud()
    calls = ThreadedCalls(clock, max_concurrent=2, timeout=60)
    for name in ("a", "b", "c"):
        assert calls.submit("launch", name, lambda name=name: cloud.launch(name))
    wait_until(lambda: len(cloud.started) == 2, "two calls started")
    assert sorted(cloud.started) == ["a", "b"]
    assert [key for key, _ in calls.pending("launch")] == ["c", "a", "b"]  # queued first, then running
    assert not calls.submit("launch", "a", lambda: cloud.launch("a"))  # in flight: not sent twice
    cloud.release.set()
    wait_until(lambda: len(cloud.started) == 3, "the queued call started when a slot freed")
    outcomes = []
    wait_until(lambda: outcomes.extend(calls.collect()) or len(outcomes) == 3, "three answers")
    assert sorted(o.value for o in outcomes) == ["instance-of-a", "instance-of-b", "instance-of-c"]


def test_a_hung_call_is_given_up_after_its_timeout_and_frees_its_slot():
    """Given one slot and a call that never answers, when 60 s pass on the loop's clock, then the
    call is reported timed out, the next call runs, and the hung call's late answer is dropped."""
    clock, cloud = SimClock(), HangingCloud()
    calls = ThreadedCalls(clock, max_concurrent=1, timeout=60)
    calls.submit("launch", "hung", lambda: cloud.launch("hung"))
    calls.submit("launch", "next", lambda: "instance-of-next")
    wait_until(lambda: cloud.started == ["hung"], "the first call started")
    assert calls.collect() == []
    clock.advance(60)
    (timed_out,) = calls.collect()
    assert timed_out.key == "hung" and timed_out.timed_out and "no answer within 60s" in str(timed_out.error)
    outcomes = []
    wait_until(lambda: outcomes.extend(calls.collect()) or outcomes, "the next call answered")
    assert [(o.key, o.value) for o in outcomes] == [("next", "instance-of-next")]
    cloud.release.set()
    assert calls.collect() == []


def test_an_answer_wakes_the_loop():
    """The daemon passes its cluster's wake(): a launch answered (here, refused) ends the loop's
    wait at once, so the next cheapest offering is asked for without waiting out loopPeriod."""
    woken = threading.Event()
    calls = ThreadedCalls(SimClock(), max_concurrent=1, timeout=60, on_answer=woken.set)

    def refused():
        raise InsufficientCapacity("no capacity")

    calls.submit("launch", "a", refused)
    assert woken.wait(10)
    (outcome,) = calls.collect()
    assert outcome.error.kind == "insufficient-capacity"


def test_a_listing_is_not_held_up_by_launches_filling_their_slots():
    clock, cloud = SimClock(), HangingCloud()
    calls = ThreadedCalls(clock, max_concurrent=1, timeout=60)
    calls.submit("launch", "hung", lambda: cloud.launch("hung"))
    calls.submit("list", "list", lambda: ["i-1"])
    outcome = calls.wait("list", "list", 10)
    assert outcome is not None and outcome.value == ["i-1"]
    cloud.release.set()


def test_typed_failures_and_provider_bugs_come_back_as_failed_calls():
    calls = SimulatedCalls(SimClock())

    def stocked_out():
        raise InsufficientCapacity("no capacity", code="InsufficientInstanceCapacity")

    calls.submit("launch", "a", stocked_out)
    calls.submit("launch", "b", lambda: 1 / 0)
    a, b = calls.collect()
    assert a.error.kind == "insufficient-capacity" and a.error.code == "InsufficientInstanceCapacity"
    assert b.error.kind == "other" and "ZeroDivisionError" in str(b.error)


def test_shutdown_drops_queued_calls_and_abandons_hung_ones():
    clock, cloud = SimClock(), HangingCloud()
    calls = ThreadedCalls(clock, max_concurrent=1, timeout=60)
    calls.submit("launch", "hung", lambda: cloud.launch("hung"))
    calls.submit("launch", "queued", lambda: cloud.launch("queued"))
    wait_until(lambda: cloud.started == ["hung"], "the first call started")
    assert calls.shutdown(grace=0.0) == (0, 1)
    assert not calls.submit("launch", "late", lambda: "x")
    cloud.release.set()
    assert cloud.started == ["hung"]


def test_simulated_calls_answer_after_the_latency_the_simulated_cloud_gives():
    clock = SimClock()
    calls = SimulatedCalls(clock, max_concurrent=10, timeout=60, latency=lambda kind: 5.0)
    calls.submit("launch", "a", lambda: "instance")
    clock.advance(4.9)
    assert calls.collect() == []
    clock.advance(0.1)
    (outcome,) = calls.collect()
    assert outcome.value == "instance" and outcome.finished - outcome.started == 5.0


# ---- which cloud `run` acts on


def test_run_acts_on_the_configured_cloud_unless_a_provider_is_named():
    assert provider_name(Config(cloud="gcp"), DaemonOptions()) == "gcp"
    assert provider_name(Config(cloud="gcp"), DaemonOptions(provider="simulated")) == "simulated"


def test_without_provider_flag_the_daemon_never_falls_back_to_the_simulated_cloud(monkeypatch):
    """Pointed at a cluster with no --provider, it asks for the configured cloud's provider; when
    that cannot be built, start-up stops with the reason (no fake Nodes are ever registered)."""
    import providers.registry

    asked = []

    def create_provider(name, **kwargs):
        asked.append(name)
        raise ValueError(f"provider {name!r} is not available: No module named 'azure'")

    monkeypatch.setattr(providers.registry, "create_provider", create_provider)
    with pytest.raises(DaemonError, match=r"configuration key cloud: azure: provider 'azure' is not available"):
        _provider(Config(cloud="azure"), DaemonOptions(), cluster=None, clock=SimClock())
    assert asked == ["azure"]
