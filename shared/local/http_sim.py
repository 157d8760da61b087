"""The machinery the store simulators share: a loopback HTTP server with a route table, JSON
bodies, injected faults (`POST /_sim/faults`) and its state over HTTP (`GET /_sim/state`).

A fault `{"match": "PATCH /v1/appStore.*", "status": 503, "times": 2, "delay_s": 0}` makes
the next two matching requests fail (or, with `delay_s`, answer late: a timeout for a client
with a shorter one). Tests and the demo use it; the stores' protocol paths are untouched.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class HttpFail(Exception):
    """Answer the request with this status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    params: dict[str, str]

    def json(self) -> Any:
        if not self.raw:
            return {}
        try:
            return json.loads(self.raw)
        except ValueError:
            raise HttpFail(400, {"error": {"code": 400, "message": "invalid JSON"}}) from None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode()).items()}


Handler = Callable[[Request], tuple[int, Any]]


@dataclass
class Fault:
    match: re.Pattern[str]
    status: int
    times: int
    delay_s: float
    body: dict[str, Any]


class Simulator:
    """Routes are `(METHOD, regex)` → handler; named groups become `params`."""

    name = "simulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_fault(self, spec: dict[str, Any]) -> None:
        fault = Fault(
            match=re.compile(str(spec["match"])),
            status=int(spec.get("status", 503)),
            times=int(spec.get("times", 1)),
            delay_s=float(spec.get("delay_s", 0)),
            body=dict(spec.get("body") or {"error": {"code": 503, "message": "injected"}}),
        )
        with self.lock:
            self.faults.append(fault)

    def _fault(self, line: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.search(line):
                    fault.times -= 1
                    return fault
        return None

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path == "/_sim/state" and method == "GET":
            with self.lock:
                return 200, self.state()
        if path == "/_sim/faults" and method == "POST":
            self.add_fault(json.loads(raw or b"{}"))
            return 204, None
        line = f"{method} {path}"
        with self.lock:
            self.requests.append(line)
        fault = self._fault(line)
        if fault is not None:
            time.sleep(fault.delay_s)
            if fault.status:
                return fault.status, fault.body
        for verb, pattern, handler in self.routes:
            m = pattern.match(path)
            if m and verb == method:
                request = Request(method, path, query, headers, raw, m.groupdict())
                try:
                    with self.lock:
                        return handler(request)
                except HttpFail as fail:
                    return fail.status, fail.body
        return 404, self.not_found(line)

    def not_found(self, line: str) -> dict[str, Any]:
        return {"error": {"code": 404, "message": f"{line} is not a known path"}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = sim.dispatch(self.command, self.path, headers, raw)
                data = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout the test asked for)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815 (http.server)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: requests are kept in `sim.requests`

        return _Handler
