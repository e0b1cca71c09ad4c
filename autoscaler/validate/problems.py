"""Field problems: what is wrong, where (a field path such as
`spec.containers[0].resources.requests.cpu`) and the value that was found.

Every validator of `autoscaler.validate` returns or raises these, so that the CLI, the
scenario reader and the daemon word a bad field the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

_MISSING = object()
_SHOWN_PROBLEMS = 5


def join_path(*parts: str | int) -> str:
    """('spec', 'containers', 0, 'name') -> 'spec.containers[0].name'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "":
            continue
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def show_value(value: Any) -> str:
    """A short, printable form of a value found in a file (never the whole of a big object)."""
    if isinstance(value, dict):
        return "a mapping" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "a list" if value else "[]"
    if isinstance(value, (bytes, bytearray)):
        return f"binary data ({len(value)} bytes)"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still reported
        text = f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class FieldProblem:
    path: str  # field path inside the object, "" for the object itself
    message: str  # what is expected, e.g. "expected a string"
    value: Any = _MISSING

    def __str__(self) -> str:
        shown = "" if self.value is _MISSING else f", got {show_value(self.value)}"
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message}{shown}"

    def under(self, prefix: str) -> FieldProblem:
        path = prefix if not self.path else (f"{prefix}{self.path}" if self.path.startswith("[") or not prefix
                                             else f"{prefix}.{self.path}")
        return FieldProblem(path, self.message, self.value)


def describe(problems: Sequence[FieldProblem]) -> str:
    """'a: expected x (got 1); b: ...' with at most a few problems spelled out."""
    shown = "; ".join(str(p) for p in problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


class InvalidObject(ValueError):
    """An object (a pod, a workload, a scenario, a kubeconfig) with fields that are not valid."""

    def __init__(self, problems: Iterable[FieldProblem], what: str = "") -> None:
        self.problems = list(problems)
        self.what = what
        text = describe(self.problems)
        super().__init__(f"{what}: {text}" if what else text)

    @property
    def fields(self) -> list[str]:
        return [p.path for p in self.problems]
