"""Request validation for the local OKE server, from OCI's published contract.

Sources (never the provider's own code):
- Field names and types: the `oci` SDK's generated models (`oci.container_engine.models`,
  `swagger_types` and `attribute_map`), which Oracle generates from the Container Engine API
  spec (API reference, Kubernetes Engine API 20180222). Polymorphic bodies (`sourceType`,
  `cniType`) take the subtype the model's own `get_subtype` names.
- Required fields: the API reference pages CreateNodePoolDetails (compartmentId, clusterId,
  name, nodeShape) and KeyValue.
- Query parameters: the API reference pages DeleteNode (isDecrementSize,
  overrideEvictionGraceDuration "Default PT60M, Min PT0M, Max: PT60M. Format ISO 8601"),
  isForceDeletionAfterOverrideGraceDuration) and ListNodePools (compartmentId required).
- Tag rules: OCI documentation "Managing Tags and Tag Namespaces" / "Tagging Overview":
  freeform tag keys are 1-100 characters with no period or space, values at most 256.
- Initial node labels: OKE passes them to the kubelet's `--node-labels`, so each must be a
  valid Kubernetes label (Kubernetes docs, "Labels and Selectors": an optional DNS-subdomain
  prefix of at most 253 characters, a name of at most 63 `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`).
A request that breaks one of these is answered 400 InvalidParameter (or MissingParameter), the
error body `{"code", "message"}` of OCI's API Errors page.
"""

from __future__ import annotations

import re
from typing import Any

REQUIRED = {
    "CreateNodePoolDetails": ("compartmentId", "clusterId", "name", "nodeShape"),
    "KeyValue": ("key", "value"),
    "CreateNodePoolNodeConfigDetails": ("size", "placementConfigs"),
    "NodePoolPlacementConfigDetails": ("availabilityDomain", "subnetId"),
}
QUERY = {
    "ListNodePools": {"compartmentId": "str", "clusterId": "str", "name": "str", "limit": "int", "page": "str",
                      "sortOrder": "str", "sortBy": "str", "lifecycleState": "str"},
    "DeleteNode": {"isDecrementSize": "bool", "overrideEvictionGraceDuration": "duration",
                   "isForceDeletionAfterOverrideGraceDuration": "bool"},
    "ListWorkRequestErrors": {"compartmentId": "str"},
    "ListAvailabilityDomains": {"compartmentId": "str"},
    # Core Services ListInstances (oci.core.ComputeClient.list_instances' query parameters)
    "ListInstances": {"availabilityDomain": "str", "capacityReservationId": "str", "computeClusterId": "str",
                      "compartmentId": "str", "displayName": "str", "limit": "int", "page": "str", "sortBy": "str",
                      "sortOrder": "str", "lifecycleState": "str"},
}
_TAG_KEY = re.compile(r"[^.\s]{1,100}")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DURATION = re.compile(r"PT(\d+)M")


class Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _models() -> Any:
    import oci.container_engine.models as models

    return models


def validate_body(body: Any, model_name: str, where: str = "") -> None:
    """Raise Invalid when `body` (JSON) is not a `model_name` as the SDK's models define it."""
    models = _models()
    model = getattr(models, model_name)
    if not isinstance(body, dict):
        raise Invalid("InvalidParameter", f"{where or model_name}: expected an object, got {type(body).__name__}")
    subtype = getattr(model, "get_subtype", None)
    if subtype is not None:
        name = subtype(body)
        if name != model_name:
            model = getattr(models, name, model)
            model_name = name
    instance = model()
    fields = {json_name: instance.swagger_types[attr] for attr, json_name in instance.attribute_map.items()}
    for key, value in body.items():
        if key not in fields:
            raise Invalid("InvalidParameter", f"{where or model_name}: unknown field {key!r} (not in {model_name})")
        if value is not None:
            _check_type(value, fields[key], f"{where or model_name}.{key}")
    for key in REQUIRED.get(model_name, ()):
        if body.get(key) in (None, ""):
            raise Invalid("MissingParameter", f"{where or model_name}: {key} is required")


def _check_type(value: Any, kind: str, where: str) -> None:
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise Invalid("InvalidParameter", f"{where}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _check_type(item, kind[5:-1], f"{where}[{i}]")
        return
    if kind.startswith("dict("):
        if not isinstance(value, dict):
            raise Invalid("InvalidParameter", f"{where}: expected an object, got {type(value).__name__}")
        inner = kind[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _check_type(item, inner, f"{where}.{key}")
        return
    scalar = {"str": str, "bool": bool, "int": int, "float": (int, float), "datetime": str, "object": object}
    if kind in scalar:
        ok = isinstance(value, scalar[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
        if not ok:
            raise Invalid("InvalidParameter", f"{where}: expected {kind}, got {type(value).__name__} {value!r}")
        return
    validate_body(value, kind, where)


def validate_query(operation: str, query: dict[str, str]) -> None:
    allowed = QUERY.get(operation, {})
    for key, value in query.items():
        kind = allowed.get(key)
        if kind is None:
            raise Invalid("InvalidParameter", f"{operation}: unknown query parameter {key!r}")
        if kind == "bool" and value not in ("true", "false"):
            raise Invalid("InvalidParameter", f"{operation}: {key} must be true or false, got {value!r}")
        if kind == "int" and not value.isdigit():
            raise Invalid("InvalidParameter", f"{operation}: {key} must be an integer, got {value!r}")
        if kind == "duration":
            match = _DURATION.fullmatch(value)
            if match is None or int(match.group(1)) > 60:
                raise Invalid("InvalidParameter", f"{operation}: {key} must be PT0M..PT60M, got {value!r}")
    if operation in ("ListNodePools", "ListWorkRequestErrors", "ListAvailabilityDomains", "ListInstances") and not query.get("compartmentId"):
        raise Invalid("MissingParameter", f"{operation}: compartmentId is required")


def validate_tags(tags: dict[str, Any] | None, where: str) -> None:
    for key, value in (tags or {}).items():
        if not _TAG_KEY.fullmatch(key):
            raise Invalid("InvalidParameter", f"{where}: freeform tag key {key!r} must be 1-100 characters without periods or spaces")
        if len(str(value)) > 256:
            raise Invalid("InvalidParameter", f"{where}: freeform tag {key!r} value is longer than 256 characters")


def validate_labels(labels: list[dict[str, Any]] | None) -> None:
    for label in labels or []:
        key, value = str(label.get("key", "")), str(label.get("value", ""))
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _LABEL_PREFIX.fullmatch(prefix))) or not _LABEL_NAME.fullmatch(name):
            raise Invalid("InvalidParameter", f"initialNodeLabels: {key!r} is not a valid Kubernetes label key")
        if value and not _LABEL_NAME.fullmatch(value):
            raise Invalid("InvalidParameter", f"initialNodeLabels: {key}={value!r} is not a valid Kubernetes label value")
