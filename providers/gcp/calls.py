"""Calling Google Cloud: every call with a timeout, its HTTP errors as GceErrors.

api_core raises GoogleAPICallError subclasses carrying the HTTP status and the JSON error's
`errors[].reason` (rateLimitExceeded, quotaExceeded, ...); transport failures (connection
refused, read timeout) raise other exceptions. Both become a CallFailed the provider maps
onto a typed failure for the offering at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from providers.gcp.errors import GceError

T = TypeVar("T")


@dataclass
class CallFailed(Exception):
    what: str
    http_status: int
    errors: list[GceError]

    def __str__(self) -> str:
        detail = "; ".join(f"{e.code}: {e.message}" if e.message else e.code for e in self.errors)
        status = f"HTTP {self.http_status} " if self.http_status else ""
        return f"{self.what} failed: {status}{detail}".strip()

    @property
    def not_found(self) -> bool:
        return self.http_status == 404

    @property
    def already_exists(self) -> bool:
        return self.http_status == 409


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # the SDK's and the transport's errors, mapped below
        raise _failed(what, err) from err


def _failed(what: str, err: Exception) -> CallFailed:
    status = getattr(err, "code", None)
    if isinstance(status, int):  # api_core GoogleAPICallError
        message = getattr(err, "message", str(err))
        reasons = []
        for item in getattr(err, "errors", None) or []:
            if isinstance(item, dict) and item.get("reason"):
                reasons.append(GceError(str(item["reason"]), str(item.get("message", message))))
        reason = getattr(err, "reason", None)
        if reason and not reasons:
            reasons.append(GceError(str(reason), message))
        return CallFailed(what, status, reasons or [GceError(str(status), message)])
    return CallFailed(what, 0, [GceError(type(err).__name__, str(err) or "no answer")])


def operation_errors(operation: Any) -> list[GceError]:
    """A Compute Engine Operation's `error.errors[]` (with quota details where given)."""
    found = []
    for error in operation.error.errors if operation.error else []:
        metric = region = ""
        for detail in error.error_details:
            if detail.quota_info and detail.quota_info.metric_name:
                metric = detail.quota_info.metric_name
                region = dict(detail.quota_info.dimensions).get("region", "")
        found.append(GceError(error.code, error.message, metric, region))
    return found


def last_attempt_errors(managed: Any) -> list[GceError]:
    """A managed instance's `lastAttempt.errors.errors[]`: why the MIG could not create it."""
    attempt = managed.last_attempt
    if not attempt or not attempt.errors:
        return []
    found = []
    for error in attempt.errors.errors:
        metric = ""
        for detail in error.error_details:
            if detail.quota_info and detail.quota_info.metric_name:
                metric = detail.quota_info.metric_name
        found.append(GceError(error.code, error.message, metric))
    return found
