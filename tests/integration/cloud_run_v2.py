"""A loopback Cloud Run Admin API v2 (REST) for the deploy target's traffic tests.

It speaks the subset the production adapter uses, at the real paths and in the real JSON
shapes: `GET /v2/projects/*/locations/*/services/*`, `PATCH` of the same (the body is the
Service; the reply a long-running `Operation`, not done at first) and
`GET /v2/projects/*/locations/*/operations/*` (done, with the Service as `response`). A PATCH
checks the etag and the traffic (revisions exist, percentages add up to 100) as Cloud Run does.
The official client's REST transport talks to it: only the base URL differs.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/?]+)")
OPERATION = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/operations/[^/?]+)")
REVISION_TYPE = ("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", 2)
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"


@dataclass
class CloudRunV2:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, list[str]] = field(default_factory=dict)  # service -> short names
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    patches: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_service(self, name: str, revisions: list[str], serving: str) -> None:
        self.revisions[name] = list(revisions)
        self.services[name] = {
            "name": name,
            "uid": "u-" + name.rsplit("/", 1)[-1],
            "generation": "1",
            "etag": '"1"',
            "latestReadyRevision": f"{name}/revisions/{revisions[-1]}",
            "latestCreatedRevision": f"{name}/revisions/{revisions[-1]}",
        }
        self._set(name, [{"type": REVISION_TYPE[0], "revision": serving, "percent": 100}])

    def split(self, name: str) -> dict[str, int]:
        """Revision -> percent, as the service's traffic statuses report it."""
        statuses = self.services[name]["trafficStatuses"]
        return {s["revision"]: s["percent"] for s in statuses}

    def _set(self, name: str, traffic: list[dict[str, Any]]) -> None:
        svc = self.services[name]
        svc["traffic"] = traffic
        svc["trafficStatuses"] = copy.deepcopy(traffic)
        generation = int(svc["generation"]) + 1
        svc["generation"], svc["etag"] = str(generation), f'"{generation}"'

    def patch(self, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            svc = self.services.get(name)
            if svc is None:
                return 404, _error(404, "NOT_FOUND", f"service {name} not found")
            if body.get("etag") not in (None, "", svc["etag"]):
                return 409, _error(409, "ABORTED", "etag mismatch: the service changed")
            traffic = body.get("traffic") or []
            problem = self._check(name, traffic)
            if problem:
                return 400, _error(400, "INVALID_ARGUMENT", problem)
            self.patches.append({"name": name, "traffic": traffic})
            self._set(name, [{**t, "percent": int(t.get("percent", 0))} for t in traffic])
            op = f"{name.split('/services/')[0]}/operations/op-{len(self.operations) + 1}"
            self.operations[op] = {"name": op, "service": name, "polled": 0}
            return 200, {"name": op, "done": False}

    def _check(self, name: str, traffic: list[dict[str, Any]]) -> str | None:
        if sum(int(t.get("percent", 0)) for t in traffic) != 100:
            return "traffic percentages must add up to 100"
        for t in traffic:
            if t.get("type") not in REVISION_TYPE:
                continue
            if t.get("revision") not in self.revisions[name]:
                return f"revision {t.get('revision')!r} does not exist in {name}"
        return None

    def operation(self, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            op = self.operations.get(name)
            if op is None:
                return 404, _error(404, "NOT_FOUND", f"operation {name} not found")
            op["polled"] += 1
            service = {"@type": SERVICE_TYPE, **self.services[op["service"]]}
            return 200, {"name": name, "done": True, "response": service}


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}


def serve(api: CloudRunV2) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if m := OPERATION.match(self.path):
                self._reply(*api.operation(m.group(1)))
            elif (m := SERVICE.match(self.path)) and m.group(1) in api.services:
                self._reply(200, api.services[m.group(1)])
            else:
                self._reply(404, _error(404, "NOT_FOUND", self.path))

        def do_PATCH(self) -> None:
            m = SERVICE.match(self.path)
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if m is None:
                self._reply(404, _error(404, "NOT_FOUND", self.path))
            else:
                self._reply(*api.patch(m.group(1), body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
