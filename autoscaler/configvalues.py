"""Parsers of configuration values: each takes what YAML gave and returns the typed value,
or raises ValueError saying what was expected (the caller names the key)."""

from __future__ import annotations

import re
from typing import Any, Callable

from autoscaler.quantity import QuantityError, parse_count, parse_cpu_millis
from autoscaler.regex import RegexError, compile_user_regex
from pricing.types import CAPACITY_TYPES


DURATION_PATTERN = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """'90s', '10m', '1h30m', '7d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return bounded_duration(float(value))
    text = str(value).strip()
    if not text:
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return bounded_duration(float(text))
    position, total = 0, 0.0
    for match in DURATION_PATTERN.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError("expected a duration such as 30s, 10m, 1h30m or 7d")
    return bounded_duration(total)


def bounded_duration(seconds: float) -> float:
    if seconds != seconds:
        raise ValueError("expected a duration such as 30s, 10m, 1h or 7d")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"a duration must be at most {MAX_DURATION_DAYS}d")
    return seconds


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def number(minimum: float | None = 0.0, maximum: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum:g}")
        return number

    return parse


_INT32_MAX = 2**31 - 1  # no count option needs more; bigger numbers would overflow the planner's arithmetic
MAX_DURATION_DAYS = 3650


def integer(minimum: int = 0, maximum: int | None = _INT32_MAX) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int):
            raise ValueError("expected a whole number")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}")
        return value

    return parse


def positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None or value == "" else parse(value)


def cpu(value: Any) -> int:
    try:
        return parse_cpu_millis(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None


def byte_size(value: Any) -> int:
    try:
        return parse_count(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None


def regexp(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression string")
    try:
        compile_user_regex(value)
    except RegexError as err:
        raise ValueError(str(err)) from None
    return value


def parse_capacity_types(value: Any) -> tuple[str, ...]:
    """'spot,on-demand' -> ('spot', 'on-demand'), in the order given."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    kinds = tuple(str(item).strip().lower() for item in items if str(item).strip())
    if not kinds or any(kind not in CAPACITY_TYPES for kind in kinds):
        raise ValueError("expected on-demand, spot, or spot,on-demand")
    return tuple(dict.fromkeys(kinds))


def extended_resources(value: Any) -> tuple[tuple[str, str, int], ...]:
    """{"example.com/fpga": {"typeRegexp": "^f1\\.", "count": 1}} -> (("example.com/fpga", "^f1\\.", 1),)"""
    if not isinstance(value, dict):
        raise ValueError('expected a mapping of resource names to {typeRegexp, count}, e.g. {"example.com/fpga": {"typeRegexp": "^f1\\.", "count": 1}}')
    entries = []
    for name, item in value.items():
        if not isinstance(name, str) or "/" not in name:
            raise ValueError(f"{name!r}: expected an extended resource name such as example.com/fpga")
        if not isinstance(item, dict) or set(item) - {"typeRegexp", "count"} or "typeRegexp" not in item:
            raise ValueError(f"{name}: expected {{typeRegexp: <regexp of instance types>, count: <devices per node>}}")
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{name}: count must be a whole number of at least 1, got {count!r}")
        entries.append((name, regexp(item["typeRegexp"]), count))
    return tuple(sorted(entries))


def label_map(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):  # "a=b,c=d"
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("expected key=value pairs or a mapping")
        value = {key.strip(): val.strip() for key, val in pairs}
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of label keys to values")
    for key, val in value.items():
        if not isinstance(key, str) or not key or isinstance(val, (dict, list)):
            raise ValueError(f"label {key!r}: expected a string key and a string value")
    return tuple(sorted((str(k), "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()))


def string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        for choice in choices:
            if isinstance(value, str) and value.strip().lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}")

    return parse


def any_text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((str(k), freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("__list__", *(freeze(v) for v in value))
    return value


def block_device_mappings(value: Any) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """EC2 BlockDeviceMappings (deviceName/DeviceName, ebs/Ebs: volumeSize, volumeType, ...)."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("expected a list of mappings such as [{deviceName: /dev/xvda, ebs: {volumeSize: 100}}]")
    for item in value:
        keys = {str(k)[:1].upper() + str(k)[1:] for k in item}
        if "DeviceName" not in keys:
            raise ValueError(f"{item!r}: every mapping needs deviceName")
    return tuple(freeze(item) for item in value)


def cloud(value: Any) -> str:
    if value not in ("aws", "gcp", "azure", "oci"):
        raise ValueError("expected one of aws, gcp, azure, oci")
    return str(value)


def text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value
