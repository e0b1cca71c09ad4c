"""Cloud calls off the loop thread: bounded, with a timeout each, outcomes read by the next loop.

The loop submits a call (launch, terminate, list) under a key (the request id, the instance
id) and goes on; `collect()` hands back the outcomes that have arrived since — an answer,
a typed ProviderError, or a timeout — and the loop acts on them. At most `max_concurrent`
calls of a kind run at once; more wait in a queue (a queued call has not reached the cloud). A key
already submitted and not yet collected is not submitted twice.

Two executors keep that contract:

* `ThreadedCalls` — the daemon's: each call runs on a thread of its own. A call that has not
  answered within `timeout` is reported as timed out and abandoned: its slot is freed, so a
  hung cloud call never blocks the loop or the other calls, and whatever it eventually
  returns is dropped (a launch it made anyway carries the cluster's tags and is adopted by
  the instance lifecycle, or terminated when it never becomes a node).
* `SimulatedCalls` — `simulate`'s and the loop tests': no threads, time from the simulated
  clock. A call runs at once when it starts (the simulated cloud's effect is immediate),
  and its outcome is handed back by the first `collect()` at or after start + the latency
  the simulated cloud gives for that operation (`latency(kind)`), or as a timeout at start +
  `timeout` when the latency is longer. The same scenario thus gives the same timeline on
  every run, and a cloud whose launch takes 5 s behaves, as the loop sees it, like a real
  one that answers after 5 s.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from autoscaler.clock import Clock
from providers.base import ProviderError

log = logging.getLogger("smart_autoscaler.loop.calls")


class CallTimedOut(ProviderError):
    """The cloud did not answer in time; what the call did is unknown."""


@dataclass(frozen=True)
class CallOutcome:
    kind: str  # launch, terminate, list
    key: str
    context: Any
    started: float
    finished: float
    value: Any = None
    error: ProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, CallTimedOut)


@dataclass
class _Call:
    kind: str
    key: str
    run: Callable[[], Any]
    context: Any
    started: float = 0.0
    due: float = 0.0  # simulated: when the outcome is handed back
    outcome: CallOutcome | None = field(default=None, repr=False)


class CallExecutor(Protocol):
    def submit(self, kind: str, key: str, run: Callable[[], Any], context: Any = None) -> bool: ...

    def pending(self, kind: str) -> list[tuple[str, Any]]:
        """(key, context) of every call of this kind submitted and not yet collected."""
        ...

    def collect(self) -> list[CallOutcome]: ...

    def wait(self, kind: str, key: str, timeout: float) -> CallOutcome | None:
        """The outcome of this call if it arrives within `timeout`, else None (it stays in flight)."""
        ...

    def shutdown(self, grace: float) -> tuple[int, int]:
        """Stop: drop queued calls, wait up to `grace` for running ones; (finished, abandoned)."""
        ...


def _outcome(call: _Call, finished: float, value: Any = None, error: ProviderError | None = None) -> CallOutcome:
    return CallOutcome(call.kind, call.key, call.context, call.started, finished, value, error)


def _invoke(call: _Call) -> tuple[Any, ProviderError | None]:
    try:
        return call.run(), None
    except ProviderError as err:
        return None, err
    except Exception as err:  # a provider bug must not kill the loop: report it as a failed call
        log.exception("%s %s raised an unexpected error", call.kind, call.key)
        return None, ProviderError(f"{type(err).__name__}: {err}")


class _Base:
    def __init__(self, clock: Clock, max_concurrent: int, timeout: float) -> None:
        self.clock = clock
        self.max_concurrent = max(1, max_concurrent)
        self.timeout = timeout
        self._lock = threading.Condition()
        self._queue: deque[_Call] = deque()
        self._running: dict[tuple[str, str], _Call] = {}
        self._done: dict[tuple[str, str], CallOutcome] = {}
        self._closed = False

    def _known(self, kind: str, key: str) -> bool:
        ident = (kind, key)
        return ident in self._running or ident in self._done or any((c.kind, c.key) == ident for c in self._queue)

    def submit(self, kind: str, key: str, run: Callable[[], Any], context: Any = None) -> bool:
        with self._lock:
            if self._closed or self._known(kind, key):
                return False
            self._queue.append(_Call(kind, key, run, context))
            self._pump()
            return True

    def pending(self, kind: str) -> list[tuple[str, Any]]:
        with self._lock:
            calls = [*self._queue, *self._running.values()]
            found = [(c.key, c.context) for c in calls if c.kind == kind]
            return found + [(o.key, o.context) for o in self._done.values() if o.kind == kind]

    def _pump(self) -> None:
        """Start queued calls in order while their kind has a free slot (each kind has
        `max_concurrent`: a burst of launches never holds up a listing or a termination)."""
        busy: dict[str, int] = {}
        for kind, _ in self._running:
            busy[kind] = busy.get(kind, 0) + 1
        for call in list(self._queue):
            if busy.get(call.kind, 0) >= self.max_concurrent:
                continue
            self._queue.remove(call)
            busy[call.kind] = busy.get(call.kind, 0) + 1
            call.started = self.clock.now()
            self._running[(call.kind, call.key)] = call
            self._start(call)

    def _start(self, call: _Call) -> None:
        raise NotImplementedError

    def _take(self, ident: tuple[str, str]) -> CallOutcome | None:
        return self._done.pop(ident, None)


class ThreadedCalls(_Base):
    """Each call on a daemon thread of its own; a call past its timeout is abandoned.
    `on_answer` is called (on the call's thread) when an answer arrives, e.g. to wake the loop
    so that a failed launch's next cheapest offering is asked for at once."""

    def __init__(
        self, clock: Clock, max_concurrent: int, timeout: float, on_answer: Callable[[], None] | None = None
    ) -> None:
        super().__init__(clock, max_concurrent, timeout)
        self.on_answer = on_answer

    def _start(self, call: _Call) -> None:
        threading.Thread(target=self._run, args=(call,), name=f"cloud-{call.kind}", daemon=True).start()

    def _run(self, call: _Call) -> None:
        value, error = _invoke(call)
        with self._lock:
            ident = (call.kind, call.key)
            answered = self._running.get(ident) is call  # not abandoned meanwhile
            if answered:
                del self._running[ident]
                self._done[ident] = _outcome(call, self.clock.now(), value, error)
                self._pump()
            self._lock.notify_all()
        if answered and self.on_answer is not None and call.kind != "list":  # the loop waits for lists itself
            self.on_answer()

    def _expire(self) -> None:
        now = self.clock.now()
        for ident, call in list(self._running.items()):
            if now - call.started >= self.timeout:
                del self._running[ident]
                self._done[ident] = _outcome(
                    call, now, error=CallTimedOut(f"{call.kind} {call.key}: no answer within {self.timeout:g}s")
                )
                log.warning("%s %s: no answer from the cloud within %gs; abandoned", call.kind, call.key, self.timeout)
        self._pump()

    def collect(self) -> list[CallOutcome]:
        with self._lock:
            self._expire()
            outcomes = list(self._done.values())
            self._done.clear()
            return outcomes

    def wait(self, kind: str, key: str, timeout: float) -> CallOutcome | None:
        ident = (kind, key)
        with self._lock:
            self._lock.wait_for(lambda: ident in self._done or not self._known(*ident), timeout)
            self._expire()
            return self._take(ident)

    def shutdown(self, grace: float) -> tuple[int, int]:
        with self._lock:
            self._closed = True
            self._queue.clear()  # never reached the cloud: safe to drop
            running = len(self._running)
            self._lock.wait_for(lambda: not self._running, grace)
            abandoned = len(self._running)
            self._running.clear()
            return running - abandoned, abandoned


class SimulatedCalls(_Base):
    """Deterministic: runs a call when it starts, hands its outcome back at start + latency."""

    def __init__(
        self, clock: Clock, max_concurrent: int = 10, timeout: float = 120.0, latency: Callable[[str], float] | None = None
    ) -> None:
        super().__init__(clock, max_concurrent, timeout)
        self.latency = latency or (lambda kind: 0.0)

    def _start(self, call: _Call) -> None:
        value, error = _invoke(call)
        delay = self.latency(call.kind)
        if delay >= self.timeout:
            call.due = call.started + self.timeout
            error = CallTimedOut(f"{call.kind} {call.key}: no answer within {self.timeout:g}s")
            value = None
        else:
            call.due = call.started + delay
        call.outcome = _outcome(call, call.due, value, error)

    def _settle(self) -> None:
        now = self.clock.now()
        while True:
            due = [ident for ident, call in self._running.items() if call.due <= now]
            if not due:
                return
            for ident in due:
                call = self._running.pop(ident)
                assert call.outcome is not None
                self._done[ident] = call.outcome
            self._pump()  # freed slots start queued calls now, which may be due at once

    def collect(self) -> list[CallOutcome]:
        with self._lock:
            self._settle()
            outcomes = sorted(self._done.values(), key=lambda o: (o.finished, o.started))
            self._done.clear()
            return outcomes

    def wait(self, kind: str, key: str, timeout: float) -> CallOutcome | None:
        with self._lock:  # simulated time does not pass while the loop waits
            self._settle()
            return self._take((kind, key))

    def shutdown(self, grace: float) -> tuple[int, int]:
        with self._lock:
            self._closed = True
            self._queue.clear()
            abandoned = len(self._running)
            self._running.clear()
            return 0, abandoned
