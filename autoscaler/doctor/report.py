"""A check's outcome and how a report is printed (a table for people, JSON for tools)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable


class Status(str, Enum):
    OK = "ok"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"  # not needed with this configuration

    @property
    def symbol(self) -> str:
        return {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}[self.value]


@dataclass(frozen=True)
class Check:
    """One line: in `area`, `what` was checked; `detail` is what was found; `fix` what to do
    about a ✗ (or a !)."""

    area: str
    what: str
    status: Status
    detail: str = ""
    fix: str = ""


def ok(area: str, what: str, detail: str = "") -> Check:
    return Check(area, what, Status.OK, detail)


def fail(area: str, what: str, detail: str, fix: str) -> Check:
    return Check(area, what, Status.FAIL, detail, fix)


def warn(area: str, what: str, detail: str, fix: str = "") -> Check:
    return Check(area, what, Status.WARN, detail, fix)


def skip(area: str, what: str, detail: str) -> Check:
    return Check(area, what, Status.SKIP, detail)


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)  # options in force, with their source

    def add(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def healthy(self) -> bool:
        return self.count(Status.FAIL) == 0

    def exit_code(self) -> int:
        return 0 if self.healthy else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "summary": {s.value: self.count(s) for s in Status},
            "checks": [{**asdict(c), "status": c.status.value} for c in self.checks],
            "options": self.options,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_json(), indent=2, ensure_ascii=False)

    def to_table(self) -> str:
        lines: list[str] = []
        area = None
        for check in self.checks:
            if check.area != area:
                area = check.area
                lines.append("" if not lines else "")
                lines.append(area)
            detail = f"  {check.detail}" if check.detail else ""
            lines.append(f"  {check.status.symbol} {check.what}{detail}")
            if check.fix and check.status in (Status.FAIL, Status.WARN):
                lines.append(f"      fix: {check.fix}")
        if self.options:
            set_here = [o for o in self.options if o["source"] != "default"]
            lines += ["", f"Options in force: {len(set_here)} set, {len(self.options) - len(set_here)} at their defaults"
                      " (-o json lists every one)"]
            lines += [f"  {o['name']} = {o['value']}  ({o['source']})" for o in set_here]
        verdict = "ready" if self.healthy else "not ready: fix each ✗ above"
        lines += ["", f"{self.count(Status.OK)} ✓, {self.count(Status.FAIL)} ✗, {self.count(Status.WARN)} !, "
                  f"{self.count(Status.SKIP)} not needed: {verdict}"]
        return "\n".join(lines[1:] if lines and lines[0] == "" else lines)


def guarded(area: str, what: str, run: Callable[[], Iterable[Check]]) -> list[Check]:
    """The checks of one step; whatever it raises becomes a ✗ line, never a traceback."""
    try:
        return list(run())
    except Exception as err:  # noqa: BLE001 - a doctor reports, it does not crash
        if os.environ.get("SMART_AUTOSCALER_DEBUG"):
            raise
        return [fail(area, what, f"the check itself failed: {type(err).__name__}: {err}",
                     "this is a bug in the check: please report it (SMART_AUTOSCALER_DEBUG=1 shows where)")]


Step = tuple[str, Callable[[], Iterable[Check]]]


def run_steps(area: str, steps: Iterable[Step]) -> list[Check]:
    """Each (what, step) in order, each guarded: one failing step never hides the others."""
    checks: list[Check] = []
    for what, step in steps:
        checks += guarded(area, what, step)
    return checks
