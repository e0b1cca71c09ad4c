"""Validate a core/v1 Pod, or the pod template of a workload, before anything parses it."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from autoscaler.content import EqualValues, content_key
from autoscaler.validate import podschema
from autoscaler.validate.fastpod import resources_fine
from autoscaler.validate.problems import FieldProblem, join_path
from autoscaler.validate.pydantic_errors import problems_of
from autoscaler.validate.quantities import requirements_problems, resource_list_problems, totals_problems

_POD = podschema.Pod.__pydantic_validator__
_TEMPLATE = podschema.PodTemplate.__pydantic_validator__
_AROUND_SPEC = podschema.PodAroundSpec.__pydantic_validator__
_VALID_SPECS: set[bytes] = set()  # content keys of pod specs found valid (autoscaler/content.py)
_VALID_SPECS_LIMIT = 16_384
_EQUAL_SPECS = EqualValues()


def _resource_problems(spec: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
    if resources_fine(spec):
        return []
    problems: list[FieldProblem] = []
    for key in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(key) or ()):
            path = join_path(prefix, key, index, "resources")
            problems += requirements_problems(container.get("resources"), path)
    problems += resource_list_problems(spec.get("overhead"), join_path(prefix, "overhead"))
    problems += requirements_problems(spec.get("resources"), join_path(prefix, "resources"))
    return problems or totals_problems(spec, join_path(prefix, "containers"))


def _validated(validator: Any, obj: Any, prefix: str, spec_path: str | None) -> list[FieldProblem]:
    try:
        validator.validate_python(obj)
    except ValidationError as err:
        return problems_of(err, prefix)
    except RecursionError:
        return [FieldProblem(prefix, "nested too deeply")]
    return [] if spec_path is None else _resource_problems(obj["spec"], join_path(prefix, spec_path))


def pod_problems(obj: Any, prefix: str = "") -> list[FieldProblem]:
    """What is wrong with a Pod object (API JSON as a dict); [] when it is valid. A spec equal
    to one already found valid is not checked again, only the metadata and status around it."""
    spec = obj.get("spec") if type(obj) is dict else None
    key = content_key(spec) if type(spec) is dict and _EQUAL_SPECS.looking() else None
    if key is not None:
        _EQUAL_SPECS.record(key in _VALID_SPECS)
        if key in _VALID_SPECS:
            return _validated(_AROUND_SPEC, {"metadata": obj.get("metadata"), "status": obj.get("status")}, prefix, None)
    problems = _validated(_POD, obj, prefix, "spec")
    if not problems and key is not None and len(_VALID_SPECS) < _VALID_SPECS_LIMIT:
        _VALID_SPECS.add(key)
    return problems


def template_problems(template: Any, prefix: str) -> list[FieldProblem]:
    """What is wrong with a pod template (`metadata` + `spec`) found at field path `prefix`."""
    return _validated(_TEMPLATE, template, prefix, "spec")
