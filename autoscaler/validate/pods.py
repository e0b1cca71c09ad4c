"""Validate a core/v1 Pod, or the pod template of a workload, before anything parses it."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from autoscaler.validate import podschema
from autoscaler.validate.problems import FieldProblem, join_path
from autoscaler.validate.pydantic_errors import problems_of
from autoscaler.validate.quantities import requirements_problems, resource_list_problems, totals_problems

_POD = podschema.Pod.__pydantic_validator__
_TEMPLATE = podschema.PodTemplate.__pydantic_validator__


def _resource_problems(spec: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for key in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(key) or ()):
            path = join_path(prefix, key, index, "resources")
            problems += requirements_problems(container.get("resources"), path)
    problems += resource_list_problems(spec.get("overhead"), join_path(prefix, "overhead"))
    problems += requirements_problems(spec.get("resources"), join_path(prefix, "resources"))
    return problems or totals_problems(spec, join_path(prefix, "containers"))


def _validated(validator: Any, obj: Any, prefix: str, spec_path: str) -> list[FieldProblem]:
    try:
        validator.validate_python(obj)
    except ValidationError as err:
        return problems_of(err, prefix)
    except RecursionError:
        return [FieldProblem(prefix, "nested too deeply")]
    return _resource_problems(obj["spec"], join_path(prefix, spec_path))


def pod_problems(obj: Any, prefix: str = "") -> list[FieldProblem]:
    """What is wrong with a Pod object (API JSON as a dict); [] when it is valid."""
    return _validated(_POD, obj, prefix, "spec")


def template_problems(template: Any, prefix: str) -> list[FieldProblem]:
    """What is wrong with a pod template (`metadata` + `spec`) found at field path `prefix`."""
    return _validated(_TEMPLATE, template, prefix, "spec")
