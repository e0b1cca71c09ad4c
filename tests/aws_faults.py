"""Faults moto cannot produce, injected at the SDK's (or moto_server's) HTTP layer so the real
botocore serializer and parser see them.

* `error_response`: an EC2 error document (`<Response><Errors><Error>...`) parsed by botocore's
  own EC2 parser -> the SDK raises ClientError with that code, as against EC2.
* Stock-outs of CreateFleet overrides: the overrides of stocked-out types are taken out of the
  request before moto sees it, and the response gets an `errorSet` item for each (EC2's
  per-override fleet Errors); when nothing is left, the response is an empty fleet with only
  Errors -- what EC2 answers when no override has capacity.

* Tag rules moto does not enforce, as EC2 documents them ("Tag restrictions", Amazon EC2 User
  Guide): a key of at most 128 characters, a value of at most 256, no key starting with the
  reserved `aws:` prefix, at most 50 tags per resource. A request breaking one is answered
  InvalidParameterValue (TagLimitExceeded for the count), as EC2 answers it. Field names and
  types are already checked by botocore against EC2's published service model (a
  ParamValidationError before anything is sent).

`FleetFaults.install(client)` hooks one boto3 client in-process; `StockoutMiddleware` wraps
moto_server's WSGI app for the daemon tests (a daemon is another process).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
from typing import Any, Iterable

_OVERRIDE = re.compile(r"^LaunchTemplateConfigs\.(\d+)\.Overrides\.(\d+)\.(.+)$")
_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


_TAG = re.compile(r"^(.*?)Tag\.(\d+)\.(Key|Value)$")  # TagSpecification.1.Tag.2.Key, LaunchTemplateData.TagSpecification..., Tag.1.Key


def tag_error(form: dict[str, str]) -> tuple[str, str] | None:
    """EC2's answer to a request whose tags break EC2's tag restrictions, or None."""
    counts: dict[str, int] = {}
    for field, value in form.items():
        match = _TAG.match(field)
        if match is None:
            continue
        spec, _, part = match.groups()
        if part == "Key":
            counts[spec or ""] = counts.get(spec or "", 0) + 1
            if value.lower().startswith("aws:"):
                return "InvalidParameterValue", f"Tag keys starting with 'aws:' are reserved for internal use: {value}"
            if not 1 <= len(value) <= 128:
                return "InvalidParameterValue", f"Tag key exceeds the maximum length of 128 characters: {value[:40]}..."
        elif len(value) > 256:
            return "InvalidParameterValue", f"Tag value exceeds the maximum length of 256 characters: {value[:40]}..."
    if any(count > 50 for count in counts.values()):
        return "TagLimitExceeded", "The maximum number of Tags for a resource has been reached (50)."
    return None


def error_xml(code: str, message: str) -> bytes:
    return (
        f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()


def drop_overrides(form: dict[str, str], stocked_out: set[str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Take the overrides whose InstanceType is stocked out out of a CreateFleet form."""
    overrides: dict[tuple[int, int], dict[str, str]] = {}
    rest: dict[str, str] = {}
    for key, value in form.items():
        match = _OVERRIDE.match(key)
        if match:
            overrides.setdefault((int(match.group(1)), int(match.group(2))), {})[match.group(3)] = value
        else:
            rest[key] = value
    removed: list[dict[str, str]] = []
    numbering: dict[int, int] = {}
    kept: dict[int, list[dict[str, str]]] = {}
    for (config, index), fields in sorted(overrides.items()):
        if fields.get("InstanceType") in stocked_out:
            removed.append(fields)
            continue
        kept.setdefault(config, []).append(fields)
    # a LaunchTemplateConfig whose every override was taken out goes too (configs renumbered)
    configs = sorted({int(m.group(1)) for key in rest if (m := re.match(r"^LaunchTemplateConfigs\.(\d+)\.", key))} | set(kept))
    renumber = {old: new for new, old in enumerate((c for c in configs if c in kept), start=1)}
    result: dict[str, str] = {}
    for key, value in rest.items():
        match = re.match(r"^LaunchTemplateConfigs\.(\d+)\.(.+)$", key)
        if match is None:
            result[key] = value
        elif int(match.group(1)) in renumber:
            result[f"LaunchTemplateConfigs.{renumber[int(match.group(1))]}.{match.group(2)}"] = value
    for config, items in kept.items():
        for index, fields in enumerate(items, start=1):
            numbering[config] = index
            for name, value in fields.items():
                result[f"LaunchTemplateConfigs.{renumber[config]}.Overrides.{index}.{name}"] = value
    return result, removed


def errors_xml(removed: Iterable[dict[str, str]], lifecycle: str, code: str = "InsufficientInstanceCapacity") -> str:
    items = []
    for fields in removed:
        override = "".join(f"<{k[:1].lower() + k[1:]}>{v}</{k[:1].lower() + k[1:]}>" for k, v in fields.items() if "." not in k)
        items.append(
            f"<item><launchTemplateAndOverrides><overrides>{override}</overrides></launchTemplateAndOverrides>"
            f"<lifecycle>{lifecycle}</lifecycle><errorCode>{code}</errorCode>"
            f"<errorMessage>We currently do not have sufficient {fields.get('InstanceType')} capacity in the "
            f"Availability Zone you requested.</errorMessage></item>"
        )
    return f"<errorSet>{''.join(items)}</errorSet>"


def empty_fleet_xml(errors: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CreateFleetResponse xmlns="{_NS}"><requestId>{uuid.uuid4()}</requestId>'
        f"<fleetId>fleet-{uuid.uuid4().hex[:17]}</fleetId>{errors}<fleetInstanceSet/></CreateFleetResponse>"
    ).encode()


def insert_errors(body: bytes, errors: str) -> bytes:
    text = body.decode()
    return text.replace("</CreateFleetResponse>", f"{errors}</CreateFleetResponse>", 1).encode()


def lifecycle_of(form: dict[str, str]) -> str:
    return form.get("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")


class FleetFaults:
    """In-process faults on one boto3 client (hooks: before-call, before-parse)."""

    def __init__(self) -> None:
        self.stocked_out: set[str] = set()
        self.stockout_code = "InsufficientInstanceCapacity"  # the fleet error of a stocked-out override
        self.failures: dict[str, list[tuple[str, str, int]]] = {}  # operation -> [(code, message, status)]
        self.calls: dict[str, int] = {}
        self.answers: dict[str, bytes] = {}  # operation -> response body (the service's own format)
        self.client_tokens: list[str] = []  # CreateFleet ClientTokens, in call order
        self._pending_errors = threading.local()

    def install(self, client: Any) -> FleetFaults:
        client.meta.events.register("before-call.ec2", self._before_call)
        client.meta.events.register("before-call.pricing", self._before_call)
        client.meta.events.register("before-call.ssm", self._before_call)
        client.meta.events.register("before-parse.ec2.CreateFleet", self._before_parse)
        return self

    def fail(self, operation: str, code: str, message: str = "injected", status: int = 400, times: int = 1) -> None:
        self.failures.setdefault(operation, []).extend([(code, message, status)] * times)

    def _before_call(self, model: Any, params: dict, **_: Any) -> Any:
        name = model.name
        self.calls[name] = self.calls.get(name, 0) + 1
        if name == "CreateFleet" and isinstance(params.get("body"), dict):
            self.client_tokens.append(params["body"].get("ClientToken", ""))
        queue = self.failures.get(name)
        if queue:
            code, message, status = queue.pop(0)
            if model.service_model.resolved_protocol == "json":
                body = json.dumps({"__type": code, "message": message}).encode()
                return _parsed(model, body, status)
            return _parsed(model, error_xml(code, message), status)
        if name in self.answers:
            return _parsed(model, self.answers[name], 200)
        if isinstance(params.get("body"), dict) and (refused := tag_error(params["body"])) is not None:
            return _parsed(model, error_xml(*refused), 400)
        if name == "CreateFleet" and self.stocked_out and isinstance(params.get("body"), dict):
            form, removed = drop_overrides(params["body"], self.stocked_out)
            errors = errors_xml(removed, lifecycle_of(params["body"]), self.stockout_code) if removed else ""
            self._pending_errors.value = errors
            if removed and not any(_OVERRIDE.match(k) for k in form):
                self._pending_errors.value = ""
                return _parsed(model, empty_fleet_xml(errors), 200)
            params["body"] = form
        return None

    def _before_parse(self, response_dict: dict, **_: Any) -> None:
        errors = getattr(self._pending_errors, "value", "")
        if errors and response_dict.get("status_code") == 200:
            response_dict["body"] = insert_errors(response_dict["body"], errors)
        self._pending_errors.value = ""


def _parsed(model: Any, body: bytes, status: int) -> tuple[Any, dict]:
    """What botocore's endpoint returns for this HTTP answer: the response and the parse of it
    by the service's own parser."""
    from botocore.awsrequest import AWSResponse
    from botocore.parsers import create_parser

    class _Raw:
        def stream(self, **_: Any):
            yield body

    http = AWSResponse("https://injected.invalid/", status, {}, _Raw())
    parser = create_parser(model.service_model.resolved_protocol)
    parsed = parser.parse({"body": body, "headers": {}, "status_code": status}, model.output_shape)
    if status >= 300 and "Error" not in parsed:
        parsed["Error"] = {"Code": "Unknown", "Message": body.decode(errors="replace")}
    return http, parsed


class StockoutMiddleware:
    """WSGI middleware for moto_server: CreateFleet overrides of `stocked_out` types fail with
    InsufficientInstanceCapacity in the fleet's Errors; counts CreateFleet and TerminateInstances."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stocked_out: set[str] = set()
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)) if raw else {}
        action = form.get("Action", "")
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1
        refused = tag_error(form)
        if refused is not None:
            body = error_xml(*refused)
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        removed: list[dict[str, str]] = []
        if action == "CreateFleet" and self.stocked_out:
            form, removed = drop_overrides(form, set(self.stocked_out))
            if removed and not any(_OVERRIDE.match(k) for k in form):
                body = empty_fleet_xml(errors_xml(removed, lifecycle_of(form)))
                start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
                return [body]
            raw = urllib.parse.urlencode(form).encode()
        import io

        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        if not removed:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        if captured["status"].startswith("200"):
            body = insert_errors(body, errors_xml(removed, lifecycle_of(form)))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        start_response(captured["status"], headers)
        return [body]
