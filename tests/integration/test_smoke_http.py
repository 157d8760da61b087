"""Smoke checks against a real HTTP server on loopback (no emulators needed).

`Loopback` is also the gates' endpoint server in test_gates_emulator.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.domain.model import Release
from shared.gates.checks_file import ChecksConfig, load_for
from shared.local import emulators
from shared.local.sample_app import write_served
from shared.local.stack import SAMPLE_APP
from shared.smoke.handler import HttpSmokeRunner
from tests.unit.fakes import FakeClock

Route = Callable[[int], tuple[int, str, float]]  # nth call → (status, body, delay seconds)


@dataclass
class Loopback:
    """A threaded HTTP server whose routes are scripted per path and method; counts calls."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def route(self, path: str, status: int = 200, body: str = "ok", method: str = "GET") -> None:
        self.routes[(method, path)] = lambda n: (status, body, 0.0)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Loopback:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                key = (self.command, self.path)
                n = owner.calls.get(key, 0)
                owner.calls[key] = n + 1
                route = owner.routes.get(key)
                status, body, delay = route(n) if route else (404, "no route", 0.0)
                if delay:
                    time.sleep(delay)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_OPTIONS = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def app() -> Iterator[Loopback]:
    server = Loopback().start()
    try:
        yield server
    finally:
        server.stop()


RELEASE = Release(
    version="1.0.0", commit="c", branch="main", author="a", created_at=FakeClock().now
)


def runner(checks: list[dict[str, Any]], **smoke: Any) -> HttpSmokeRunner:
    config = ChecksConfig.model_validate(
        {
            "environments": {
                "staging": {
                    "base_url": "http://placeholder.invalid",
                    "smoke": {"backoff_seconds": 0, "checks": checks, **smoke},
                }
            }
        }
    )
    return HttpSmokeRunner(config)


def test_every_check_passes_against_a_healthy_app(app: Loopback, plane: PlaneConfig) -> None:
    app.route("/health", body='{"status": "ok"}')
    app.route("/", body="<html>avalo</html>")
    smoke = runner(
        [
            {"name": "health", "path": "/health", "body_contains": '"ok"'},
            {"name": "home", "path": "/", "body_contains": "avalo", "latency_ms": 5000},
        ]
    )
    smoke.base_urls = {"staging": app.url}
    report = smoke.run(RELEASE, plane.env("staging"))
    assert report.ran and report.ok, report.failures()
    assert report.checks[0].evidence["url"] == f"{app.url}/health"


def test_a_flaky_endpoint_is_retried_until_it_answers(app: Loopback, plane: PlaneConfig) -> None:
    app.routes[("GET", "/health")] = lambda n: (503 if n < 2 else 200, "ok", 0.0)
    smoke = runner([{"name": "health", "path": "/health"}], attempts=3)
    smoke.base_urls = {"staging": app.url}
    report = smoke.run(RELEASE, plane.env("staging"))
    assert report.ok
    assert app.calls[("GET", "/health")] == 3


def test_a_slow_answer_breaks_the_latency_budget(app: Loopback, plane: PlaneConfig) -> None:
    app.routes[("GET", "/slow")] = lambda n: (200, "ok", 0.3)
    smoke = runner([{"name": "slow", "path": "/slow", "latency_ms": 50}], attempts=2)
    smoke.base_urls = {"staging": app.url}
    report = smoke.run(RELEASE, plane.env("staging"))
    assert not report.ok
    assert "budget 50 ms" in report.failures()[0]
    assert app.calls[("GET", "/slow")] == 2


def test_no_answer_within_the_timeout_fails(app: Loopback, plane: PlaneConfig) -> None:
    app.routes[("GET", "/hang")] = lambda n: (200, "ok", 1.0)
    smoke = runner([{"name": "hang", "path": "/hang"}], attempts=1, timeout_seconds=0.1)
    smoke.base_urls = {"staging": app.url}
    report = smoke.run(RELEASE, plane.env("staging"))
    assert report.failures() == ["hang: no answer: timed out"]


def test_a_server_that_is_gone_fails_with_the_connection_error(plane: PlaneConfig) -> None:
    gone = Loopback().start()
    url = gone.url
    gone.stop()
    smoke = runner([{"name": "health", "path": "/health"}], attempts=2)
    smoke.base_urls = {"staging": url}
    report = smoke.run(RELEASE, plane.env("staging"))
    (failure,) = report.failures()
    assert failure.startswith("health: no answer: ConnectError")
    assert "(after 2 attempts)" in failure


# -- the repository's smoke checks against the local stack's sample app ----------------------


@pytest.fixture
def sample_app(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """examples/sample-app/app.py on a free port, as the local stack runs it."""
    port = emulators.free_port()
    state = tmp_path / "app.json"
    proc = subprocess.Popen(
        [sys.executable, str(SAMPLE_APP), "--port", str(port)],
        env={**os.environ, "STATE_FILE": str(state)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        emulators.wait_ready(f"{url}/health", "sample app", proc)
        yield url, state
    finally:
        emulators.stop_group(proc.pid)


@pytest.mark.parametrize(
    ("env", "mode", "failed"),
    [
        ("staging", "ok", []),
        ("production", "ok", []),
        ("production", "errors", ["payments"]),
        ("dev", "errors", []),  # dev only checks health: a bad release reaches the bake
    ],
)
def test_the_repository_smoke_checks_against_the_sample_app(
    sample_app: tuple[str, Path], plane: PlaneConfig, env: str, mode: str, failed: list[str]
) -> None:
    url, state = sample_app
    write_served(state, "1.0.0", mode)
    checks = load_for(plane)
    base = checks.env(env).smoke
    fast = base.model_copy(update={"backoff_seconds": 0.0, "attempts": 2})
    checks.environments[env] = checks.env(env).model_copy(update={"smoke": fast})
    report = HttpSmokeRunner(checks, base_urls={env: url}).run(RELEASE, plane.env(env))
    assert report.ran
    assert [f.split(":")[0] for f in report.failures()] == failed
