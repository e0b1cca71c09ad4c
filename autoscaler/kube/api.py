"""Small helpers around calls made with the official client: raw JSON, errors, API times."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable

import urllib3
from kubernetes.client.exceptions import ApiException

from autoscaler.cluster import ClusterError

# What a call may raise besides ApiException: refused or reset connections, timeouts.
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)


def read_json(response: Any) -> dict[str, Any]:
    """The body of a `_preload_content=False` response as a dict; the connection goes back to the pool."""
    try:
        return json.loads(response.data or b"{}")
    finally:
        response.release_conn()


def describe_error(err: BaseException) -> str:
    """'403 Forbidden: nodes "x" is forbidden: ...' for an API error, the cause for a transport one."""
    if not isinstance(err, ApiException):
        return f"{type(err).__name__}: {err}"
    status = f"{err.status} {err.reason}".strip() if err.status else str(err.reason or "request failed")
    try:
        message = json.loads(err.body or "").get("message", "")
    except (ValueError, AttributeError):
        message = (err.body or "").strip()[:300] if isinstance(err.body, str) else ""
    return f"{status}: {message}" if message else status


def error_code(err: BaseException) -> str:
    """The HTTP status of a failed call, or what kept it from one ('unreachable', 'timeout')."""
    if isinstance(err, ApiException) and err.status:
        return str(err.status)
    text = f"{type(err).__name__} {err}".lower()
    return "timeout" if "timeout" in text or "timed out" in text else "unreachable"


class ApiCallError(ClusterError):
    """A ClusterError that keeps the HTTP status (0 when the server was not reached) and the
    error code for metrics (the status, 'unreachable' or 'timeout')."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code or (str(status) if status else "unreachable")


def call_json(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one call of the client and return its JSON answer; any failure is an ApiCallError naming `what`
    (the call and its object, e.g. 'patch node n1'), the status and the API's message."""
    try:
        return read_json(call(*args, _preload_content=False, **kwargs))
    except (ApiException, ValueError, *TRANSPORT_ERRORS) as err:  # ValueError: a body that is not JSON
        status = err.status if isinstance(err, ApiException) and isinstance(err.status, int) else 0
        code = "invalid-response" if isinstance(err, ValueError) else error_code(err)
        raise ApiCallError(f"{what}: {describe_error(err)}", status, code) from None


def api_time(epoch: float) -> datetime:
    """A metav1.Time: whole seconds, UTC."""
    return datetime.fromtimestamp(int(epoch), timezone.utc)


def micro_time(value: float | datetime) -> datetime:
    """A metav1.MicroTime, as a datetime the client serializes with microseconds.

    The client writes datetimes with isoformat(), which drops the fraction when it is zero;
    the API server parses MicroTime with a fixed six-digit fraction and would reject that.
    """
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment if moment.microsecond else moment.replace(microsecond=1)
