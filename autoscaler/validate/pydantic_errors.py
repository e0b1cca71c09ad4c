"""pydantic's validation errors as FieldProblems, worded the way this product words them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from autoscaler.validate.problems import FieldProblem

_TYPE_WORDS = {
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "int_parsing": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "float_type": "expected a number",
    "missing": "missing",
    "extra_forbidden": "unknown field",
}


def _key_step(part: Any) -> str:
    text = str(part)
    return f"[{text}]" if any(ch in text for ch in "./ ") or text == "" else text


def loc_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        step = _key_step(part)
        out += step if step.startswith("[") or not out else f".{step}"
    return out


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"expected one of {expected}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ctx = error.get("ctx") or {}
        bound = next(iter(ctx.values()), "")
        if kind == "greater_than_equal" and bound in (0, 1):
            return "expected a non-negative integer" if bound == 0 else "expected a positive integer"
        if kind == "less_than_equal" and bound == 2**31 - 1:
            return "expected at most 2147483647 (an int32, as the API server stores it)"
        word = {"greater_than_equal": "at least", "greater_than": "more than",
                "less_than_equal": "at most", "less_than": "less than"}[kind]
        return f"expected {word} {bound}"
    if kind == "too_short":
        return "expected a non-empty list"
    if "[key]" in error.get("loc", ()):
        return "keys must be strings"
    return _TYPE_WORDS.get(kind, str(error["msg"]))


def _field_in_message(problem: FieldProblem) -> FieldProblem:
    """A rule about a whole mapping may say which of its fields it means: 'values: must be ...'."""
    head, sep, rest = problem.message.partition(": ")
    if sep and head.isidentifier() and " " not in head:
        return FieldProblem(f"{problem.path}.{head}" if problem.path else head, rest)
    return problem


def problems_of(err: ValidationError, prefix: str = "") -> list[FieldProblem]:
    problems = []
    for error in err.errors(include_url=False):
        value = error.get("input")
        if error["type"] == "value_error" and isinstance(value, dict):  # a rule about a whole mapping
            problems.append(_field_in_message(FieldProblem(loc_path(error["loc"], prefix), _message(error))))
        elif error["type"] == "missing" or (value is None and error["type"] in _TYPE_WORDS):
            problems.append(FieldProblem(loc_path(error["loc"], prefix), "missing"))
        else:
            problems.append(FieldProblem(loc_path(error["loc"], prefix), _message(error), value))
    return problems
