"""The scenario file of `simulate`: its schema (pydantic v2, strict; unknown keys refused) and
its bounds. Simulated time is capped (MAX_SIMULATED_DAYS, MAX_STEPS), a step must be more
than zero and at most the duration, every fault names the instance type it hits, and the
manifests of `apply`/`file` events are read and checked when the scenario is loaded, not
half-way through the run."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from autoscaler.config import parse_duration
from autoscaler.validate.problems import FieldProblem
from autoscaler.validate.pydantic_errors import problems_of

from autoscaler.validate.scenario_bounds import MAX_DURATION, MAX_SIMULATED_DAYS, MAX_STEPS  # noqa: F401
ACTIONS = (
    "apply", "file", "delete", "release", "stockout", "quota", "slowLaunch", "neverBoots", "clearFaults", "usage",
    "interrupt",
)


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if len(str(value)) > 40:
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        if "at most" in str(err):
            raise ValueError(f"must be at most {MAX_SIMULATED_DAYS}d") from None
        raise ValueError(str(err)) from None
    if seconds != seconds or seconds == float("inf"):
        raise ValueError("expected a finite duration")
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most {MAX_SIMULATED_DAYS}d")
    return seconds


Duration = Annotated[float, PlainValidator(_duration),
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[1-9][0-9]{0,2}(s|m|h)$"},
                                               {"type": "integer", "minimum": 1, "maximum": 3600}]})]
Name = Annotated[StrictStr, Field(min_length=1, max_length=253)]
_REFERENCE = re.compile(r"[A-Za-z][A-Za-z0-9]*/[^/\s]+/[^/\s]+")


def _reference(value: Any) -> str:
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise ValueError("expected a workload as Kind/namespace/name, e.g. Deployment/default/web")
    return value


Reference = Annotated[str, PlainValidator(_reference),
                      WithJsonSchema({"type": "string", "pattern": r"^(Deployment|Job)/default/[a-z]{1,8}$"})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Stockout(_Strict):
    instanceType: Name
    capacityType: Literal["on-demand", "spot"] = "on-demand"
    zone: StrictStr = ""
    until: Optional[Duration] = None


class Quota(_Strict):
    instanceType: Name
    capacityType: Literal["on-demand", "spot"] = "on-demand"
    until: Optional[Duration] = None


class SlowLaunch(_Strict):
    instanceType: Name
    delay: Duration


class NeverBoots(_Strict):
    instanceType: Name


class Interrupt(_Strict):
    """The simulated cloud takes running spot instances back: a notice first, the instance
    `notice` later (AWS gives two minutes, GCP 30 seconds)."""

    count: Annotated[StrictInt, Field(ge=1, le=1000)] = 1
    instanceType: StrictStr = ""
    notice: Duration = 120.0
    kind: Literal["spot-interruption", "rebalance-recommendation", "preempted"] = "spot-interruption"


class Usage(_Strict):
    """Per-pod usage of a workload, as the simulated metrics-server will report it."""

    workload: Reference
    cpu: Annotated[StrictStr, Field(min_length=1, max_length=40)] = "0"
    memory: Annotated[StrictStr, Field(min_length=1, max_length=40)] = "0"


class MetricsServer(_Strict):
    resolution: Duration = 15.0


class Event(_Strict):
    at: Duration
    apply: Optional[Any] = None
    file: Optional[Name] = None
    delete: Optional[Reference] = None
    release: Optional[Reference] = None
    stockout: Optional[Stockout] = None
    quota: Optional[Quota] = None
    slowLaunch: Optional[SlowLaunch] = None
    neverBoots: Optional[NeverBoots] = None
    clearFaults: Optional[Any] = None
    usage: Optional[Usage] = None
    interrupt: Optional[Interrupt] = None
    runFor: Optional[Duration] = None
    heldBy: Optional[StrictStr] = None

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if isinstance(data, dict):
            actions = [key for key in ACTIONS if key in data]
            if len(actions) != 1:
                raise ValueError(f"expected exactly one action of {', '.join(ACTIONS)}, got {sorted(map(str, data))}")
            if "apply" in data and not isinstance(data["apply"], (str, dict, list)):
                raise ValueError("apply: expected manifests (inline YAML text, a mapping or a list)")
        return data


class CloudSimulator(_Strict):
    launchDelay: Duration = 60.0
    readyDelay: Duration = 0.0


class ScenarioFile(_Strict):
    name: Optional[StrictStr] = None
    description: Optional[StrictStr] = None
    cloud: Literal["aws", "gcp", "azure", "oci"] = "aws"
    region: Optional[Name] = None
    duration: Duration = 3600.0
    step: Duration = 10.0
    config: Optional[dict] = None
    cloudSimulator: Optional[CloudSimulator] = None
    metricsServer: Optional[MetricsServer] = None
    events: Optional[list[Event]] = None

    @model_validator(mode="after")
    def _bounded(self) -> ScenarioFile:
        if self.duration <= 0:
            raise ValueError("duration: must be more than 0s")
        for index, event in enumerate(self.events or ()):
            if event.at >= self.duration:
                raise ValueError(f"events[{index}].at: {event.at:g}s is not before the end of the simulation "
                                 f"({self.duration:g}s, the duration): the event would never happen")
        if self.step <= 0:
            raise ValueError("step: must be more than 0s (every step runs one reconcile loop)")
        if self.step > self.duration:
            raise ValueError(f"step: {self.step:g}s is longer than the duration ({self.duration:g}s)")
        if self.duration / self.step > MAX_STEPS:
            raise ValueError(f"step: duration / step is {self.duration / self.step:,.0f} reconcile loops, more than "
                             f"{MAX_STEPS:,}; use a longer step or a shorter duration")
        return self


def scenario_problems(raw: Any) -> tuple[ScenarioFile | None, list[FieldProblem]]:
    """The validated scenario, or the problems naming each bad field."""
    try:
        return ScenarioFile.model_validate(raw), []
    except ValidationError as err:
        return None, [_reword(p) for p in problems_of(err)]


def _reword(problem: FieldProblem) -> FieldProblem:
    """Model-level rules say which field they are about in their message ("step: ...")."""
    field, sep, rest = problem.message.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z]+(\[\d+\])?(\.[A-Za-z]+)?", field) and not problem.path.endswith(field):
        path = f"{problem.path}.{field}" if problem.path else field
        return FieldProblem(path, rest)
    return problem


def json_schema() -> dict[str, Any]:
    return ScenarioFile.model_json_schema()
