"""One pod set cannot stop the loop (issue 19, item 6).

The planner is pure and tested, but a bug in it (an exception on one pattern of constraints)
must not leave every pod in the cluster without a node. Planning runs as usual, all pods
together; only when it raises are the pod sets planned one by one to find the ones it fails
on. Those get a `PlanningFailed` Warning naming the error, are counted
(`smart_autoscaler_planning_errors_total`) and are left out of planning for a back-off that
doubles from `FIRST_RETRY` up to `LAST_RETRY` while the error lasts; every other set is then
planned together, exactly as if the failing sets were not there, so their launches do not
change.

A test hook (`fault`) raises for chosen pods, as a planner bug would: the daemon sets it from
the environment variable SMART_AUTOSCALER_INJECT_PLANNER_FAULT=`label=value` (pods carrying
that label), for fault tests against a real control plane; nothing sets it otherwise.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

from autoscaler.loop.events import EventReporter
from autoscaler.metrics import Metrics
from autoscaler.model import Pod
from autoscaler.planner import Plan

log = logging.getLogger("smart_autoscaler.loop.contain")

PLANNING_FAILED = "PlanningFailed"
FIRST_RETRY = 30.0  # seconds
LAST_RETRY = 600.0
FAULT_ENV = "SMART_AUTOSCALER_INJECT_PLANNER_FAULT"

PodSetOf = Callable[[Pod], Hashable]


class InjectedPlannerError(RuntimeError):
    """Raised by the test hook, as a bug in the planner would raise."""


def fault_from_env(environ: dict[str, str] | None = None) -> Callable[[Pod], bool] | None:
    """The test hook named by SMART_AUTOSCALER_INJECT_PLANNER_FAULT=label=value, or None."""
    text = (environ if environ is not None else os.environ).get(FAULT_ENV, "")
    key, sep, value = text.partition("=")
    if not sep or not key:
        return None
    log.warning("test hook on: planning fails for pods labelled %s=%s (%s)", key, value, FAULT_ENV)
    return lambda pod: pod.labels.get(key) == value


@dataclass
class _Failing:
    error: str
    retry_at: float
    delay: float


@dataclass
class PlanGuard:
    reporter: EventReporter
    metrics: Metrics
    set_of: PodSetOf
    fault: Callable[[Pod], bool] | None = None
    failing: dict[Hashable, _Failing] = field(default_factory=dict)

    def plan(self, pods: Sequence[Pod], planner: Callable[[list[Pod]], Plan], now: float) -> Plan:
        """`planner` over the pods, with every pod set it fails on left out (and reported)."""
        eligible = [pod for pod in pods if not self._waiting(self.set_of(pod), now)]
        try:
            decided = self._run(planner, eligible)
        except Exception:  # noqa: BLE001 - a planner bug: find the sets it fails on
            pass
        else:
            self._recovered({self.set_of(pod) for pod in eligible})
            return decided
        by_set: dict[Hashable, list[Pod]] = {}
        for pod in eligible:
            by_set.setdefault(self.set_of(pod), []).append(pod)
        failed: dict[Hashable, Exception] = {}
        for key, members in by_set.items():
            try:
                self._run(planner, members)
            except Exception as err:  # noqa: BLE001 - contained to this set
                failed[key] = err
        if not failed:  # fails only together: nothing to single out, so every set waits
            failed = {key: RuntimeError("planning these pods with the others failed") for key in by_set}
        for key, err in failed.items():
            self._failed(key, by_set[key], err, now)
        healthy = [pod for pod in eligible if self.set_of(pod) not in failed]
        self._recovered({self.set_of(pod) for pod in healthy})
        try:
            return self._run(planner, healthy) if healthy else Plan()
        except Exception:  # noqa: BLE001 - should not happen: each set alone planned fine
            log.exception("planning %d pod(s) failed again after the failing sets were left out", len(healthy))
            return Plan()

    def forget_gone(self, pods: Sequence[Pod]) -> None:
        """Drop the failures of pod sets no longer waiting (call with every pod planned this loop)."""
        present = {self.set_of(pod) for pod in pods}
        for key in [k for k in self.failing if k not in present]:
            del self.failing[key]

    def _run(self, planner: Callable[[list[Pod]], Plan], pods: list[Pod]) -> Plan:
        if self.fault is not None:
            hit = next((pod for pod in pods if self.fault(pod)), None)
            if hit is not None:
                raise InjectedPlannerError(f"injected planner fault for pod {hit.key} ({FAULT_ENV})")
        return planner(pods)

    def _waiting(self, key: Hashable, now: float) -> bool:
        failing = self.failing.get(key)
        return failing is not None and now < failing.retry_at

    def _failed(self, key: Hashable, pods: list[Pod], err: Exception, now: float) -> None:
        before = self.failing.get(key)
        delay = FIRST_RETRY if before is None else min(LAST_RETRY, before.delay * 2)
        error = f"{type(err).__name__}: {err}"
        self.failing[key] = _Failing(error, now + delay, delay)
        self.metrics.planning_errors.labels(type(err).__name__).inc()
        log.error("planning failed for the pod set of %s (%d pod(s)); retry in %gs: %s", pods[0].key, len(pods), delay, error)
        log.debug("planner error for %s", pods[0].key, exc_info=(type(err), err, err.__traceback__))
        message = (
            f"smart-autoscaler could not plan a node for this pod (an internal error: {error}); other pods are "
            f"planned as usual, and this pod's set is tried again in {delay:g}s"
        )
        for pod in pods:
            self.reporter.pod(pod, PLANNING_FAILED, message)
        self.reporter.note("planning-failed", f"{len(pods)} pod(s) of the set of {pods[0].key} not planned: {error}")

    def _recovered(self, planned: set[Hashable]) -> None:
        for key in planned & set(self.failing):
            del self.failing[key]
