"""Resource quantities as the API server checks them: a well-formed `resource.Quantity`,
not negative, within an int64 (the milli-value for CPU), and a whole number for extended
resources (`nvidia.com/gpu: "1.5"` is refused, as Kubernetes refuses it, not rounded up);
a request above its limit is refused, and an extended resource's request must equal its limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from autoscaler.quantity import QuantityError, _parse
from autoscaler.validate.limits import INT64_MAX
from autoscaler.validate.problems import FieldProblem

_NATIVE_PREFIXES = ("kubernetes.io/", "requests.", "limits.")  # Kubernetes' own resource names
_MAX_TEXT = 64  # a quantity string longer than this is not one (and is not parsed at all)
_CHECKED: dict[tuple[str, str], str | None] = {}  # (resource, quantity string) -> its problem
_CHECKED_LIMIT = 65_536


def is_extended(name: str) -> bool:
    """Extended resources (devices, e.g. nvidia.com/gpu) and hugepages must be whole numbers."""
    if name.startswith("hugepages-"):
        return True
    return "/" in name and not name.startswith(_NATIVE_PREFIXES) and ".kubernetes.io/" not in name


_VALUES: dict[str, Decimal] = {}  # quantity string -> its number (successes only)


def quantity_value(value: Any) -> Decimal:
    """The number a quantity stands for; QuantityError with the reason when it is not one."""
    if type(value) is str:
        known = _VALUES.get(value)
        if known is None:
            known = _quantity_value(value)
            if len(_VALUES) < _CHECKED_LIMIT:
                _VALUES[value] = known
        return known
    return _quantity_value(value)


def _quantity_value(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError("expected a quantity such as 500m, 2, 16Gi or 1.5")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError("expected a finite quantity")
        text = repr(value)
    else:
        text = str(value)
    if len(text) > _MAX_TEXT or text != text.strip():
        raise QuantityError("is not a Kubernetes quantity (e.g. 500m, 2, 16Gi, 1.5G)")
    try:
        return _parse(text)
    except QuantityError:
        raise QuantityError("is not a Kubernetes quantity (e.g. 500m, 2, 16Gi, 1.5G)") from None




def quantity_problem(name: str, value: Any) -> str | None:
    """Why `value` is not a valid amount of resource `name`, or None."""
    if type(value) is not str:
        return _quantity_problem(name, value)
    key = (name, value)
    try:
        return _CHECKED[key]
    except KeyError:
        pass
    reason = _quantity_problem(name, value)
    if len(_CHECKED) < _CHECKED_LIMIT:
        _CHECKED[key] = reason
    return reason


def _quantity_problem(name: str, value: Any) -> str | None:
    try:
        number = quantity_value(value)
    except QuantityError as err:
        return str(err)
    if number < 0:
        return "must be greater than or equal to 0"
    scaled = number * 1000 if name == "cpu" else number
    if scaled > INT64_MAX:
        limit = "9223372036854775807m" if name == "cpu" else "9223372036854775807 (int64)"
        return f"is out of range: the largest quantity Kubernetes stores is {limit}"
    if is_extended(name) and number != number.to_integral_value():
        return f"must be a whole number: {name} is an extended resource and cannot be fractional"
    return None


def resource_list_problems(values: Mapping[str, Any] | None, path: str) -> list[FieldProblem]:
    problems = []
    for name, value in (values or {}).items():
        reason = quantity_problem(str(name), value)
        if reason:
            problems.append(FieldProblem(f"{path}[{name}]" if "/" in str(name) or "." in str(name)
                                         else f"{path}.{name}", reason, value))
    return problems


def totals_problems(spec: Mapping[str, Any], path: str) -> list[FieldProblem]:
    """The pod's own total of each resource (containers, init containers, overhead, taken at
    their largest) must fit an int64 too: the planner adds them up."""
    totals: dict[str, Decimal] = {}
    lists = [c.get("resources") or {} for key in ("containers", "initContainers") for c in spec.get(key) or ()]
    lists.append({"requests": spec.get("overhead") or {}})
    lists.append(spec.get("resources") or {})
    for resources in lists:
        for values in (resources.get("requests") or {}, resources.get("limits") or {}):
            for name, value in values.items():
                totals[name] = totals.get(name, Decimal(0)) + quantity_value(value)
    return [FieldProblem(path, f"the pod's {name} requests add up to {total:.3g}, beyond the largest quantity "
                               "Kubernetes stores (an int64)")
            for name, total in totals.items() if (total * 1000 if name == "cpu" else total) > INT64_MAX]


def requirements_problems(resources: Mapping[str, Any] | None, path: str) -> list[FieldProblem]:
    """A container's (or the pod's) `resources`: each quantity, and requests against limits."""
    if not resources:
        return []
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    problems = resource_list_problems(limits, f"{path}.limits") + resource_list_problems(requests, f"{path}.requests")
    if problems:
        return problems
    for name, request in requests.items():
        if name not in limits:
            continue
        wanted, limit = quantity_value(request), quantity_value(limits[name])
        where = f"{path}.requests[{name}]" if "/" in name or "." in name else f"{path}.requests.{name}"
        if is_extended(name) and wanted != limit:
            problems.append(FieldProblem(where, f"must be equal to the {name} limit of {limits[name]}", request))
        elif wanted > limit:
            problems.append(FieldProblem(where, f"must be less than or equal to the {name} limit of {limits[name]}", request))
    return problems
