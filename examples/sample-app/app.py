"""A stand-in for the Avalo app: a tiny HTTP service whose served version is switchable.

The control plane's local deploy target writes `STATE_FILE` (JSON: version, mode); the app
reads it on every request, so "deploy version X" and "restore version W" are real switches a
smoke test can see over HTTP. `mode` makes a version bad on purpose:
  ok      every endpoint answers 200
  errors  payments answer 500 (a broken release for rollback demos)
  slow    every answer waits 1.5 s
  slower  the chat API takes 30 % longer (39 ms instead of 30 ms): still far inside any
          latency budget, but a canary judge comparing it with `ok` finds it worse

Every answer names the version that served it (`X-App-Version`), so a client behind the local
stack's traffic-splitting router (shared/local/router.py) can tell the two versions apart, and
says how long the app took (`Server-Timing: app;dur=<ms>`), what the app's backend would report.

    STATE_FILE=/tmp/app.json python examples/sample-app/app.py --port 8081
"""

from __future__ import annotations

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NOT_DEPLOYED = {"version": None, "mode": "ok"}
CHAT_MS = 30.0  # what /api/chat takes: the latency the canary demo measures
SLOWER = 1.3  # mode "slower"
# What the compliance gates probe over HTTP (config/checks.toml).
LEGAL = {
    "/legal/terms": "terms of service",
    "/legal/privacy": "privacy policy",
    "/legal/refunds": "refund policy",
    "/legal/cookies": "cookie policy",
}


def served(state_file: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return dict(NOT_DEPLOYED)
    return data


class Handler(BaseHTTPRequestHandler):
    state_file: Path
    version: str | None = None  # what serves this request (read once, at its start)
    started = 0.0

    def do_GET(self) -> None:
        self.started = time.perf_counter()
        state = served(self.state_file)
        self.version = state.get("version")
        if state.get("mode") == "slow":
            time.sleep(1.5)
        route = {
            "/health": self._health,
            "/api/payments": self._payments,
            "/api/chat": self._chat,
            "/api/me/export": self._needs_login,
            **{path: self._legal for path in LEGAL},
        }.get(self.path.split("?")[0])
        if route is None:
            self._send(404, {"error": f"no route {self.path}"})
            return
        route(state)

    def do_OPTIONS(self) -> None:
        # the data-deletion endpoint (DELETE /api/me) answers a preflight like a real API
        if self.path.split("?")[0] != "/api/me":
            self._send(404, {"error": f"no route {self.path}"})
            return
        self.send_response(204)
        self.send_header("Allow", "DELETE, OPTIONS")
        self.end_headers()

    def _legal(self, state: dict[str, Any]) -> None:
        self._send(200, {"document": LEGAL[self.path.split("?")[0]], "version": "demo-1"})

    def _needs_login(self, state: dict[str, Any]) -> None:
        self._send(401, {"error": "sign in to export your data"})

    def _health(self, state: dict[str, Any]) -> None:
        deployed = state.get("version") is not None
        self._send(
            200 if deployed else 503,
            {"status": "ok" if deployed else "not deployed", "version": state.get("version")},
        )

    def _payments(self, state: dict[str, Any]) -> None:
        if state.get("mode") == "errors":
            self._send(500, {"error": "payment provider call failed", "version": state["version"]})
            return
        self._send(200, {"payments": "ok", "version": state.get("version")})

    def _chat(self, state: dict[str, Any]) -> None:
        time.sleep(CHAT_MS * (SLOWER if state.get("mode") == "slower" else 1.0) / 1000)
        self._send(200, {"chat": "ok", "version": state.get("version")})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-App-Version", str(self.version or ""))
        # the app's own time for the request, as its backend's metrics would measure it
        took = (time.perf_counter() - self.started) * 1000 if self.started else 0.0
        self.send_header("Server-Timing", f"app;dur={took:.2f}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Avalo stand-in for the local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Handler.state_file = Path(os.environ["STATE_FILE"])
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"sample app on http://{args.host}:{args.port} serving {Handler.state_file}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
