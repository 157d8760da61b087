"""The local stand-in for Cloud Run's traffic split: one router per environment, at the env's
URL, in front of the env's two sample-app versions (`stable` and `canary`).

The canary's share is in the routes file (`{"canary": 10}`: percent of requests), written by the
local deploy target (`shared.local.sample_app`) and read on every request, so a split is a real
switch the next request sees. The choice is deterministic: request n (counted from 0 by this
router) goes to the canary when `(n * percent) % 100 < percent`, i.e. exactly `percent` of
every 100 consecutive requests, spread evenly (at 10 %: requests 0, 10, 20, …; at 50 %: every
other one). Each answer says which version served it (`X-Served-By: stable|canary`; the app
adds `X-App-Version`). `GET /_router` shows the routes and what each version served.

    python -m shared.local.router --port 8081 --routes routes.json \\
        --stable http://127.0.0.1:8091 --canary http://127.0.0.1:8092
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

STATUS_PATH = "/_router"
SERVED_BY = "X-Served-By"
# hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy computes again
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host"}
_NOT_RETURNED = _NOT_FORWARDED | {"content-length", "date", "server"}


def write_routes(routes_file: Path, canary_percent: int) -> None:
    """Atomically set the canary's share (a reader sees the old or the new, never half)."""
    routes_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = routes_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"canary": canary_percent}), encoding="utf-8")
    tmp.replace(routes_file)


def read_routes(routes_file: Path) -> int:
    """The canary's share in percent; no file (nothing split yet) or a bad one: 0."""
    try:
        raw: Any = json.loads(routes_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    percent = raw.get("canary") if isinstance(raw, dict) else None
    return percent if isinstance(percent, int) and 0 <= percent <= 100 else 0


def to_canary(n: int, percent: int) -> bool:
    """Whether the n-th request (from 0) goes to the canary: `percent` in every 100, evenly."""
    return (n * percent) % 100 < percent


class Router:
    def __init__(self, routes_file: Path, stable: str, canary: str) -> None:
        self.routes_file, self.urls = routes_file, {"stable": stable, "canary": canary}
        self.client = httpx.Client(timeout=30.0)
        self.lock = threading.Lock()
        self.count = 0
        self.served = {"stable": 0, "canary": 0}

    def choose(self) -> str:
        percent = read_routes(self.routes_file)
        with self.lock:
            n, self.count = self.count, self.count + 1
            slot = "canary" if to_canary(n, percent) else "stable"
            self.served[slot] += 1
        return slot

    def status(self) -> dict[str, Any]:
        with self.lock:
            served = dict(self.served)
        return {"canary": read_routes(self.routes_file), "urls": self.urls, "served": served}


class Handler(BaseHTTPRequestHandler):
    router: Router
    protocol_version = "HTTP/1.1"  # keep-alive: a client's calls reuse one connection
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def _proxy(self) -> None:
        if self.path == STATUS_PATH and self.command == "GET":
            self._answer(200, {"Content-Type": "application/json"}, self._status(), "router")
            return
        slot = self.router.choose()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        try:
            answer = self.router.client.request(
                self.command, self.router.urls[slot] + self.path, headers=headers, content=body
            )
        except httpx.HTTPError as exc:
            error = json.dumps({"error": f"{slot} version unreachable: {exc}"}).encode()
            self._answer(502, {"Content-Type": "application/json"}, error, slot)
            return
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_RETURNED}
        self._answer(answer.status_code, kept, answer.content, slot)

    # every method is forwarded as it came (http.server dispatches on `do_<METHOD>`)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _proxy  # noqa: N815

    def _status(self) -> bytes:
        return json.dumps(self.router.status()).encode()

    def _answer(self, status: int, headers: dict[str, str], body: bytes, slot: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header(SERVED_BY, slot)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log; `GET /_router` counts them


def main() -> None:
    parser = argparse.ArgumentParser(description="Traffic-splitting router of the local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", type=Path, required=True)
    parser.add_argument("--stable", required=True)
    parser.add_argument("--canary", required=True)
    args = parser.parse_args()
    Handler.router = Router(args.routes, args.stable, args.canary)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"router on http://{args.host}:{args.port}: {args.stable} / {args.canary}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
