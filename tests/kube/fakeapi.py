"""A scripted Kubernetes API server on 127.0.0.1 for the edge tests.

Only for what a real server will not do on demand (410 Gone, a 500, a dropped stream,
conflicts in a given order) and to see the requests the client sends. Routes answer from
a script: each request takes the next reply, and the last one repeats.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from kubernetes.client import ApiClient, Configuration


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    events: list[dict[str, Any]] | None = None  # a watch stream: one JSON line each
    end: str = "close"  # for streams: "close" cleanly, "drop" the connection, or "hold" it open
    hold: float = 3.0


Handler = Callable[[Request], Reply]


def status(code: int, reason: str, message: str) -> Reply:
    """An error answer with a metav1.Status body, as the API server writes it."""
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}
    return Reply(code, body)


def listing(items: list[dict[str, Any]], resource_version: str, token: str = "") -> Reply:
    metadata = {"resourceVersion": resource_version}
    if token:
        metadata["continue"] = token
    return Reply(200, {"metadata": metadata, "items": items})


def stream(*events: dict[str, Any], end: str = "close") -> Reply:
    return Reply(200, events=list(events), end=end)


HOLD = stream(end="hold")  # a watch with nothing to say: stays open until the server stops


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    watch: bool | None
    answer: Handler | list[Reply]
    calls: int = 0

    def reply(self, request: Request) -> Reply:
        self.calls += 1
        if callable(self.answer):
            return self.answer(request)
        return self.answer[min(self.calls, len(self.answer)) - 1]


@dataclass
class FakeApiServer:
    routes: list[_Route] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_client(self) -> ApiClient:
        return ApiClient(Configuration(host=self.url))

    @staticmethod
    def closed_client() -> ApiClient:
        """A client for a port where nothing listens."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return ApiClient(Configuration(host=f"http://127.0.0.1:{port}"))

    def on(self, method: str, path: str, *replies: Reply | Handler, watch: bool | None = None) -> None:
        """Answer `method path` (a regular expression matched in full) with the replies in turn."""
        answer = replies[0] if len(replies) == 1 and callable(replies[0]) else list(replies)
        with self._lock:
            self.routes.insert(0, _Route(method, re.compile(path), watch, answer))  # later routes win

    def sent(self, method: str, path: str, watch: bool | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method
                and re.fullmatch(path, r.path)
                and (watch is None or (r.query.get("watch") == "true") == watch)
            ]

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: Request) -> Reply:
        is_watch = request.query.get("watch") == "true"
        with self._lock:
            self.requests.append(request)
            route = next(
                (
                    r
                    for r in self.routes
                    if r.method == request.method
                    and r.pattern.fullmatch(request.path)
                    and (r.watch is None or r.watch == is_watch)
                ),
                None,
            )
            if route is None:
                return status(404, "NotFound", f"no route for {request.method} {request.path}")
            if not callable(route.answer):
                return route.reply(request)
        return route.reply(request)  # a handler may block: not under the lock


def _handler_for(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command,
                url.path,
                dict(parse_qsl(url.query)),
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            reply = server._answer(request)
            if reply.events is None:
                self._send_body(reply)
            else:
                self._send_stream(reply)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def _send_body(self, reply: Reply) -> None:
            data = json.dumps(reply.body if reply.body is not None else {}).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, reply: Reply) -> None:
            self.close_connection = True
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in reply.events or ():
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            if reply.end == "drop":
                self.wfile.write(b"40\r\n{\"type\":\"MODIFIED\"")  # half a chunk, then the connection dies
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.end == "hold":
                deadline = time.monotonic() + reply.hold
                while not server.closing.wait(0.05) and time.monotonic() < deadline:
                    pass
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client went away first

    return Handler


def eventually(check: Callable[[], object], timeout: float = 2.0) -> None:
    """Wait until `check()` holds (threads are at work), or fail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s")
        time.sleep(0.01)


def serve_volumes(api: FakeApiServer, claims: list | None = None, volumes: list | None = None) -> None:
    """Lists (and held watches) of PersistentVolumeClaims, PersistentVolumes and StorageClasses."""
    api.on("GET", "/api/v1/persistentvolumeclaims", listing(claims or [], "10"), watch=False)
    api.on("GET", "/api/v1/persistentvolumes", listing(volumes or [], "10"), watch=False)
    api.on("GET", "/apis/storage.k8s.io/v1/storageclasses", listing([], "10"), watch=False)
    api.on("GET", "/api/v1/persistentvolumeclaims|/api/v1/persistentvolumes|/apis/storage.k8s.io/v1/storageclasses",
           HOLD, watch=True)
