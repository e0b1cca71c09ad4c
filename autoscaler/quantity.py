"""Kubernetes resource quantities as exact integers.

CPU becomes millicores, everything else whole units (bytes for memory). Parsing follows
the apimachinery `resource.Quantity` grammar: a signed decimal number with an optional
binary suffix (Ki Mi Gi Ti Pi Ei), decimal suffix (n u m k M G T P E) or exponent (e3).
Fractions are rounded up, as the API server does for requests.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_INT64_MAX = 2**63 - 1
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?[0-9]+)|(?P<dec>[numkMGTPE]?))$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


# Units per suffix, for the suffixes that multiply by a whole number (not m, u, n).
_WHOLE_UNITS = {**_BINARY, "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _plain(text: str) -> tuple[int, str] | None:
    """(the number, the suffix) of a quantity written as ASCII digits and a suffix ("512Mi",
    "1500m", "2"), the form nearly every manifest uses; None for any other form (a sign, a
    point, an exponent, spaces), which the full grammar reads."""
    if not text.isascii():
        return None
    if text.isdigit():
        return int(text), ""
    cut = -2 if text[-1:] == "i" else -1
    digits, suffix = text[:cut], text[cut:]
    if digits.isdigit() and (suffix in _BINARY or suffix in _DECIMAL):
        return int(digits), suffix
    return None


@lru_cache(maxsize=4096)
def _parse(text: str) -> Decimal:
    plain = _plain(text)
    if plain is not None:
        number, suffix = plain
        return Decimal(number) * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])
    match = _QUANTITY.match(text.strip())
    if not match:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 16Gi, 1.5G)")
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation as err:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from err
    try:
        if match.group("bin"):
            return number * _BINARY[match.group("bin")]
        if match.group("exp"):
            return number * (Decimal(10) ** int(match.group("exp")[1:]))
        return number * _DECIMAL[match.group("dec") or ""]
    except ArithmeticError:  # an exponent beyond what any quantity can hold, e.g. 1e99999999
        raise QuantityError(f"{text!r} is out of range for a Kubernetes quantity") from None


def _as_text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity")
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise QuantityError(f"{value!r} is not a Kubernetes quantity")


def _checked(value: Decimal, text: str) -> Decimal:
    if value < 0:
        raise QuantityError(f"{text!r} is negative")
    return value


def _in_range(amount: int, text: str) -> int:
    if amount > _INT64_MAX:  # Kubernetes stores a quantity (CPU: its milli-value) in an int64
        raise QuantityError(f"{text!r} is out of range for a Kubernetes quantity (at most 2^63-1)")
    return amount


# Parsed answers for quantity strings (only successes; a bad one raises again each time).
# Manifests repeat a few thousand distinct quantities over many pods.
_CPU_MILLIS: dict[str, int] = {}
_COUNTS: dict[str, int] = {}
_CACHE_LIMIT = 65_536


def parse_cpu_millis(value: object) -> int:
    """'500m' -> 500, '2' -> 2000, 0.25 -> 250 (rounded up to a whole millicore)."""
    if type(value) is str:
        known = _CPU_MILLIS.get(value)
        if known is not None:
            return known
    text = _as_text(value)
    plain = _plain(text)
    if plain is not None and plain[1] not in ("n", "u"):  # whole millicores: integers only
        number, suffix = plain
        if suffix == "m":
            millis = _in_range(number, text)
        else:
            millis = _in_range(number * _WHOLE_UNITS[suffix] * 1000, text)
    else:
        millis = _in_range(int((_checked(_parse(text), text) * 1000).to_integral_value(ROUND_CEILING)), text)
    if type(value) is str and len(_CPU_MILLIS) < _CACHE_LIMIT:
        _CPU_MILLIS[value] = millis
    return millis


def parse_count(value: object) -> int:
    """Whole units: bytes for memory and storage, devices for GPUs, a count for pods."""
    if type(value) is str:
        known = _COUNTS.get(value)
        if known is not None:
            return known
    text = _as_text(value)
    plain = _plain(text)
    if plain is not None and plain[1] not in ("n", "u"):
        number, suffix = plain
        if suffix == "m":
            count = _in_range(-(-number // 1000), text)  # rounded up, as the API server does
        else:
            count = _in_range(number * _WHOLE_UNITS[suffix], text)
    else:
        count = _in_range(int(_checked(_parse(text), text).to_integral_value(ROUND_CEILING)), text)
    if type(value) is str and len(_COUNTS) < _CACHE_LIMIT:
        _COUNTS[value] = count
    return count


def format_bytes(amount: int) -> str:
    """Human form used in messages: 16Gi, 512Mi, 1000."""
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount >= size and amount % size == 0:
            return f"{amount // size}{suffix}"
    if amount >= 2**30:
        return f"{amount / 2**30:.1f}Gi"
    if amount >= 2**20:
        return f"{amount / 2**20:.0f}Mi"
    return str(amount)


def format_cpu(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
