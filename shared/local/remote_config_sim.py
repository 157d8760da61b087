"""A loopback Remote Config (there is no official emulator), speaking the REST subset we use
at its real paths, so the production adapter (`shared.flags.remote_config`) talks to it as to
Google:

- `GET  /v1/projects/{p}/namespaces/{ns}/remoteConfig[?versionNumber=N]` (template + `ETag`)
- `PUT  …/remoteConfig[?validateOnly=true]`: `If-Match` required (`*` forces), 412 on a stale
  ETag, 400 on an invalid template
- `GET  …/remoteConfig:listVersions?pageSize=N`, `POST …/remoteConfig:rollback`
- `GET  /v1/projects/{p}/namespaces/firebase-server/serverRemoteConfig` (what Admin SDKs load)

both namespaces (`firebase`, `firebase-server`), versions with `updateUser`, `updateOrigin`,
`updateType`. After every change it delivers Eventarc's
`google.firebase.remoteconfig.remoteConfig.v1.updated` CloudEvent (binary HTTP mode) to each
`--deliver-to` URL, in order, retried like Eventarc.

Not Google's: a PUT with header `X-Emulator-Console-User: <email>` is recorded as an edit made in
the Firebase console (origin `CONSOLE`, that user); `POST /emulator/v1/faults {"status": 429,
"count": 2}` makes the next requests fail (quota tests); a `local:<email>` bearer token names the
publishing user (Google takes it from the credential).

python -m shared.local.remote_config_sim --port 9400 --deliver-to http://127.0.0.1:8081/
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

NAMESPACES = ("firebase", "firebase-server")
EVENT_TYPE = "google.firebase.remoteconfig.remoteConfig.v1.updated"
CONSOLE_HEADER = "X-Emulator-Console-User"
MAX_VERSIONS = 300
_PATH = re.compile(
    r"^/v1/projects/(?P<p>[^/]+)/(?:namespaces/(?P<ns>[^/]+)/)?"
    r"(?P<what>remoteConfig|serverRemoteConfig)(?P<verb>:listVersions|:rollback)?$"
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _Template:
    versions: list[dict[str, Any]] = field(default_factory=list)  # each a full template

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1] if self.versions else {"conditions": [], "parameters": {}}

    @property
    def number(self) -> int:
        return int(self.current.get("version", {}).get("versionNumber", 0))


def validate(template: Any) -> None:
    """The checks of Remote Config's we rely on: the shape, keys, unique condition names,
    conditional values naming conditions that exist, percents in range."""
    if not isinstance(template, dict):
        raise _Error(400, "template must be a JSON object")
    params, conds = template.get("parameters") or {}, template.get("conditions") or []
    if not isinstance(params, dict) or not isinstance(conds, list):
        raise _Error(400, "parameters must be an object and conditions a list")
    names = [c.get("name") if isinstance(c, dict) else None for c in conds]
    if None in names or len(set(names)) != len(names):
        raise _Error(400, "conditions must be objects with unique names")
    if len(params) > 2000 or len(conds) > 2000:
        raise _Error(400, "at most 2000 parameters and 2000 conditions")
    for cond in conds:
        _check_percents(cond.get("condition"), str(cond["name"]))
    for key, param in params.items():
        if not _KEY.match(key):
            raise _Error(400, f"[VALIDATION_ERROR]: parameter key {key!r} is invalid")
        for cname in (param or {}).get("conditionalValues") or {}:
            if cname not in names:
                raise _Error(400, f"[VALIDATION_ERROR]: {key} names unknown condition {cname!r}")


def _check_percents(cond: Any, name: str, depth: int = 0) -> None:
    if not isinstance(cond, dict) or depth > 10:
        return
    for key in ("orCondition", "andCondition"):
        for sub in (cond.get(key) or {}).get("conditions") or []:
            _check_percents(sub, name, depth + 1)
    micro = (cond.get("percent") or {}).get("microPercent")
    if micro is not None and not (isinstance(micro, int) and 0 <= micro <= 100_000_000):
        raise _Error(400, f"[VALIDATION_ERROR]: condition {name}: microPercent {micro!r}")


class Simulator:
    """The state and the event delivery; `serve` puts it behind HTTP."""

    def __init__(self, deliver_to: list[str] | None = None) -> None:
        self.templates: dict[tuple[str, str], _Template] = {}
        self.deliver_to = list(deliver_to or [])
        self.lock = threading.Lock()
        self.faults: list[int] = []
        self.events: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.delivered: list[dict[str, Any]] = []
        self._worker = threading.Thread(target=self._deliver_loop, daemon=True)
        self._worker.start()

    def etag(self, project: str, ns: str, number: int) -> str:
        return f"etag-{project}-{ns}-{number}"

    def get(self, project: str, ns: str, number: int | None = None) -> dict[str, Any]:
        with self.lock:
            tpl = self.templates.setdefault((project, ns), _Template())
            if number is None or number == tpl.number:
                return tpl.current
            for version in tpl.versions:
                if int(version["version"]["versionNumber"]) == number:
                    return version
        raise _Error(404, f"version {number} not found")

    def put(
        self,
        project: str,
        ns: str,
        body: dict[str, Any],
        if_match: str | None,
        *,
        user: str,
        origin: str,
        update_type: str = "INCREMENTAL_UPDATE",
        rollback_source: int | None = None,
        validate_only: bool = False,
    ) -> dict[str, Any]:
        if not if_match:
            raise _Error(400, "If-Match header is required")
        validate(body)
        with self.lock:
            tpl = self.templates.setdefault((project, ns), _Template())
            if if_match != "*" and if_match != self.etag(project, ns, tpl.number):
                raise _Error(412, "ETag mismatch: the template was updated since it was read")
            if validate_only:
                return {**body, "version": tpl.current.get("version", {})}
            number = tpl.number + 1
            version: dict[str, Any] = {
                "versionNumber": str(number),
                "updateTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "updateUser": {"email": user},
                "updateOrigin": origin,
                "updateType": "FORCED_UPDATE"
                if if_match == "*" and not rollback_source
                else update_type,
                "description": str((body.get("version") or {}).get("description", ""))[:256],
            }
            if rollback_source is not None:
                version["rollbackSource"] = str(rollback_source)
            stored = {
                "conditions": body.get("conditions") or [],
                "parameters": body.get("parameters") or {},
                "parameterGroups": body.get("parameterGroups") or {},
                "version": version,
            }
            tpl.versions.append(stored)
            del tpl.versions[:-MAX_VERSIONS]
        self.events.put((project, version))
        return stored

    def rollback(
        self, project: str, ns: str, number: int, user: str, origin: str
    ) -> dict[str, Any]:
        old = self.get(project, ns, number)
        return self.put(
            project,
            ns,
            old,
            "*",
            user=user,
            origin=origin,
            update_type="ROLLBACK",
            rollback_source=number,
        )

    def list_versions(self, project: str, ns: str, page_size: int) -> list[dict[str, Any]]:
        with self.lock:
            tpl = self.templates.setdefault((project, ns), _Template())
            return [v["version"] for v in reversed(tpl.versions)][:page_size]

    def _deliver_loop(self) -> None:
        while True:
            item = self.events.get()
            if item is None:
                return
            project, version = item
            for url in list(self.deliver_to):
                self._deliver(url, project, version)

    def _deliver(self, url: str, project: str, version: dict[str, Any]) -> None:
        headers = {
            "ce-specversion": "1.0",
            "ce-id": uuid.uuid4().hex,
            "ce-source": f"//firebaseremoteconfig.googleapis.com/projects/{project}",
            "ce-type": EVENT_TYPE,
            "ce-time": version["updateTime"],
            "content-type": "application/json",
        }
        for attempt in range(5):  # Eventarc retries a failed delivery with backoff
            try:
                response = httpx.post(url, headers=headers, json=version, timeout=60.0)
                if response.status_code < 300:
                    self.delivered.append({"url": url, "project": project, **version})
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2 * 2**attempt)

    def close(self) -> None:
        self.events.put(None)


def _number(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise _Error(400, f"not a version number: {text[:40]!r}")
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: Any, etag: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise _Error(400, "body is not JSON") from None

    def _user(self) -> tuple[str, str]:
        console = self.headers.get(CONSOLE_HEADER)
        if console:
            return console, "CONSOLE"
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise _Error(401, "Request is missing required authentication credential")
        token = auth.removeprefix("Bearer ")
        return (
            token.removeprefix("local:") if token.startswith("local:") else "unknown"
        ), "REST_API"

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/health":
                return self._reply(200, {"ok": True})
            if url.path == "/emulator/v1/faults" and method == "POST":
                fault = self._body()
                self.sim.faults.extend([int(fault.get("status", 429))] * int(fault.get("count", 1)))
                return self._reply(200, {"pending": len(self.sim.faults)})
            match = _PATH.match(url.path)
            if match is None:
                raise _Error(404, f"no such path {url.path}")
            if self.sim.faults:
                raise _Error(self.sim.faults.pop(0), "Quota exceeded (simulated fault)")
            self._remote_config(method, match, query)
        except _Error as exc:
            status = {
                400: "INVALID_ARGUMENT",
                412: "FAILED_PRECONDITION",
                429: "RESOURCE_EXHAUSTED",
            }
            error = {
                "code": exc.status,
                "message": exc.message,
                "status": status.get(exc.status, "ERROR"),
            }
            self._reply(exc.status, {"error": error})

    def _remote_config(self, method: str, match: re.Match[str], query: dict[str, str]) -> None:
        project, verb = match.group("p"), match.group("verb")
        ns = match.group("ns") or (
            "firebase-server" if match.group("what") == "serverRemoteConfig" else "firebase"
        )
        if ns not in NAMESPACES:
            raise _Error(404, f"unknown namespace {ns}")
        sim = self.sim
        if verb == ":listVersions" and method == "GET":
            size = _number(query.get("pageSize", "100"))
            return self._reply(200, {"versions": sim.list_versions(project, ns, size)})
        if verb == ":rollback" and method == "POST":
            user, origin = self._user()
            number = _number(str(self._body().get("versionNumber", "")))
            done = sim.rollback(project, ns, number, user, origin)
            return self._reply(
                200, done, sim.etag(project, ns, int(done["version"]["versionNumber"]))
            )
        if verb is None and method == "GET":
            wanted = _number(query["versionNumber"]) if "versionNumber" in query else None
            tpl = sim.get(project, ns, wanted)
            version = int(tpl.get("version", {}).get("versionNumber", 0))
            return self._reply(200, tpl, sim.etag(project, ns, version))
        if verb is None and method == "PUT":
            user, origin = self._user()
            done = sim.put(
                project,
                ns,
                self._body(),
                self.headers.get("If-Match"),
                user=user,
                origin=origin,
                validate_only=query.get("validateOnly") == "true",
            )
            number = int(done.get("version", {}).get("versionNumber", 0))
            return self._reply(200, done, sim.etag(project, ns, number) if number else "etag-0")
        raise _Error(405, f"{method} not allowed here")

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_POST(self) -> None:
        self._route("POST")


@dataclass
class Running:
    simulator: Simulator
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.simulator.close()


def serve(port: int = 0, deliver_to: list[str] | None = None, host: str = "127.0.0.1") -> Running:
    """Start the simulator in this process (tests); `main` runs it as the stack's process."""
    sim = Simulator(deliver_to)
    handler = type("Handler", (_Handler,), {"sim": sim})
    server = ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Running(sim, server, thread)


def console_edit(
    base_url: str, project: str, namespace: str, user: str, edit: Any
) -> dict[str, Any]:
    """An edit "in the Firebase console": read the template, `edit(template)` it in place,
    publish it as `user` with origin CONSOLE. Returns the new version."""
    url = f"{base_url.rstrip('/')}/v1/projects/{project}/namespaces/{namespace}/remoteConfig"
    got = httpx.get(url, headers={CONSOLE_HEADER: user}, timeout=60.0)
    got.raise_for_status()
    template = got.json()
    edit(template)
    put = httpx.put(
        url,
        headers={CONSOLE_HEADER: user, "If-Match": got.headers["etag"]},
        json={k: v for k, v in template.items() if k != "version"},
        timeout=60.0,
    )
    put.raise_for_status()
    version: dict[str, Any] = put.json()["version"]
    return version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deliver-to", action="append", default=[])
    args = parser.parse_args()
    running = serve(args.port, args.deliver_to)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        running.stop()


if __name__ == "__main__":
    main()
