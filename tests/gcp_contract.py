"""Request validation and list filtering for the local GKE / Compute Engine server, from Google's
published contract.

Sources (never the provider's own code):
- Request bodies: the SDKs' generated messages (google-cloud-compute `compute_v1`,
  google-cloud-container `container_v1`), generated from the Compute Engine v1 discovery
  document and the GKE v1 protos; a body is parsed with `from_json(ignore_unknown_fields=False)`,
  so a wrong field name or a wrong type fails as it does at the API (400 INVALID_ARGUMENT).
- Query parameters: the Cloud Billing API reference of services.skus.list (currencyCode,
  startTime, endTime, pageSize, pageToken) and the Compute API reference of each method (requestId "must be a valid UUID
  with the exception that zero UUID is not supported"; filter, maxResults, orderBy, pageToken,
  returnPartialSuccess, includeAllScopes, serviceProjectNumber on aggregatedList) and the
  system parameter `$alt` the REST clients send.
- `filter`: the Compute API reference of aggregatedList: `field eq|ne literal`, "The literal
  value is interpreted as a regular expression using Google RE2 library syntax. The literal
  value must match the entire field"; or `field = value`, `!=`; several parenthesized
  expressions are ANDed. A field the resource does not have is refused.
- Names and labels: Compute Engine resource names (RFC 1035: `[a-z]([-a-z0-9]*[a-z0-9])?`, at
  most 63), GKE node pool names (at most 40), network tags (RFC 1035), and NodeConfig.labels
  as Kubernetes labels (Kubernetes docs, "Labels and Selectors").
Errors are Google's JSON error body: `{"error": {"code", "message", "status", "errors": [...]}}`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

try:
    import re2 as _re  # google-re2: the filter's own regular expression engine
except ImportError:  # pragma: no cover - the stdlib engine agrees on the expressions used here
    _re = re

_RFC1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_COMPUTE_QUERY = {"requestId", "filter", "maxResults", "orderBy", "pageToken", "returnPartialSuccess",
                  "includeAllScopes", "serviceProjectNumber", "$alt"}
_EXPRESSION = re.compile(r"\s*([A-Za-z_][\w.]*)\s+(eq|ne|=|!=)\s+(\"[^\"]*\"|\S+)\s*")


class Invalid(Exception):
    """A request the API refuses: 400 INVALID_ARGUMENT with this message."""


def _message(kind: str) -> Any:
    from google.cloud import compute_v1, container_v1

    return {
        "createInstances": compute_v1.InstanceGroupManagersCreateInstancesRequest,
        "deleteInstances": compute_v1.InstanceGroupManagersDeleteInstancesRequest,
        "createNodePool": container_v1.CreateNodePoolRequest,
    }[kind]


def validate_body(kind: str, body: dict[str, Any]) -> None:
    try:
        _message(kind).from_json(json.dumps(body), ignore_unknown_fields=False)
    except Exception as err:  # google.protobuf.json_format.ParseError
        raise Invalid(f"Invalid JSON payload received. {str(err).splitlines()[0]}") from None
    if kind == "createInstances":
        for instance in body.get("instances", []):
            _name(instance.get("name", ""), "instances[].name", 63)
    if kind == "createNodePool":
        pool = body.get("nodePool") or {}
        _name(pool.get("name", ""), "nodePool.name", 40)
        config = pool.get("config") or {}
        for tag in config.get("tags", []):
            _name(tag, "nodePool.config.tags[]", 63)
        for key, value in (config.get("labels") or {}).items():
            _label(key, value)


def validate_query(query: dict[str, str], path: str) -> None:
    if path.startswith("/compute/"):
        allowed = _COMPUTE_QUERY
    elif path.startswith("/v1/services/"):  # Cloud Billing Catalog services.skus.list
        allowed = {"currencyCode", "startTime", "endTime", "pageSize", "pageToken", "$alt"}
    else:
        allowed = {"$alt"}
    for key in query:
        if key not in allowed:
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{key}\": Cannot bind query parameter.")
    request_id = query.get("requestId")
    if request_id is not None:
        try:
            ok = uuid.UUID(request_id).int != 0
        except ValueError:
            ok = False
        if not ok:
            raise Invalid(f"Invalid value for field 'requestId': '{request_id}'. The request ID must be a valid UUID.")


def _name(name: str, where: str, limit: int) -> None:
    if len(name) > limit or not _RFC1035.fullmatch(name):
        raise Invalid(f"Invalid value for field '{where}': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,{limit - 2}}}[a-z0-9])?)'")


def _label(key: str, value: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _LABEL_PREFIX.fullmatch(prefix))) or not _LABEL_NAME.fullmatch(name):
        raise Invalid(f"Invalid value for field 'nodePool.config.labels': '{key}' is not a valid Kubernetes label key")
    if value and not _LABEL_NAME.fullmatch(str(value)):
        raise Invalid(f"Invalid value for field 'nodePool.config.labels': '{key}={value}' is not a valid Kubernetes label value")


def list_filter(expression: str, fields: frozenset[str]) -> Any:
    """A predicate over one listed resource (a JSON dict) for a Compute `filter` expression."""
    if not expression.strip():
        return lambda item: True
    parts = re.findall(r"\(([^()]*)\)", expression) if expression.strip().startswith("(") else [expression]
    tests = []
    for part in parts:
        match = _EXPRESSION.fullmatch(part)
        if match is None:
            raise Invalid(f"Invalid value for field 'filter': '{expression}'. Invalid list filter expression.")
        field, op, literal = match.group(1), match.group(2), match.group(3).strip('"')
        if field not in fields:
            raise Invalid(f"Invalid value for field 'filter': '{expression}'. Invalid field name '{field}'.")
        if op in ("eq", "ne"):
            pattern = _re.compile(literal)
            tests.append(lambda item, f=field, p=pattern, want=op == "eq": bool(p.fullmatch(str(item.get(f, "")))) == want)
        else:
            tests.append(lambda item, f=field, v=literal, want=op == "=": (str(item.get(f, "")) == v) == want)
    return lambda item: all(test(item) for test in tests)


def resource_fields(kind: str) -> frozenset[str]:
    """The JSON field names of a listed Compute resource (camelCase, as the API answers)."""
    from google.cloud import compute_v1

    message = getattr(compute_v1, kind)
    return frozenset(_camel(name) for name in message.meta.fields)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)
