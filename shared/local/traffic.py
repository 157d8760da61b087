"""The sample app's side of monitoring on the local stack: call it, count what failed, and
publish the counts on `app-metrics` as the app's backend would (docs/MONITORING.md).

`Traffic` is the users' side of a canary: it calls the env's URL (its router splits the calls
between the stable and the canary version), measures every call, and reports one batch per
window and version, tagged with the version that answered (`X-App-Version`), so the canary
judge compares the two from the same windows (docs/CANARY.md).

Run as a part of the stack (`python -m shared.local.traffic --interval 5`), it is the
background traffic generator: every round it gives each of its sources the time, and each
sends what its windows hold (the mobile apps' crash reporting, `shared.local.mobile_traffic`).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from shared import log
from shared.cli import context
from shared.clock import utcnow
from shared.dead_letters import brief
from shared.gates.checks_file import load_for
from shared.monitoring.client import batch_bytes, window_start
from shared.monitoring.histogram import from_samples, quantile
from shared.topics import APP_METRICS

CALLS_PER_WINDOW = 120  # above the default traffic minimums (100 requests, 20 payments)


def report_payments(url: str, env: str, release: str, since: datetime, windows: int) -> int:
    """Call `url`'s payments endpoint, then publish the counts for each of `windows` windows
    that start after `since`, once the last one is open. Returns the failed calls."""
    statuses = [
        httpx.get(f"{url}/api/payments", timeout=5).status_code for _ in range(CALLS_PER_WINDOW)
    ]
    failed = sum(status >= 500 for status in statuses)
    seconds = load_for(context.plane()).env(env).monitoring.window_seconds
    step = timedelta(seconds=seconds)
    first = window_start(since, seconds) + step
    while utcnow() < first + step * (windows - 1):  # a future window is refused
        time.sleep(0.2)
    counters = {
        "functionInvocations": len(statuses),
        "functionErrors": failed,
        "paymentAttempts": len(statuses),
        "paymentFailures": failed,
    }
    for n in range(windows):
        body = batch_bytes(
            batch_id=f"sample-app-{env}-{release}-{n}",
            env=env,
            window_seconds=seconds,
            now=first + step * n,
            counters=counters,
            release=release,
        )
        context.publisher().publish(APP_METRICS, body)
    return failed


def report_crashes(
    env: str, release: str, platform: str, build: int, windows: list[tuple[int, int]]
) -> None:
    """The mobile app's side: one batch per `(users, crashed users)` window, the last one the
    latest closed window (a future window is refused), with platform, version and build."""
    seconds = load_for(context.plane()).env(env).monitoring.window_seconds
    app = {"platform": platform, "appVersion": release, "build": build}
    for n, (users, crashed) in enumerate(windows):
        body = batch_bytes(
            batch_id=f"sample-app-{platform}-{release}-{n}",
            env=env,
            window_seconds=seconds,
            now=utcnow(),
            windows_back=len(windows) - n,
            counters={
                "sessions": users * 2,
                "crashedSessions": crashed,
                "users": users,
                "crashedUsers": crashed,
            },
            release=release,
            app=app,
        )
        context.publisher().publish(APP_METRICS, body)


def _server_ms(answer: httpx.Response) -> float | None:
    """The app's own time for the call (`Server-Timing: app;dur=12.3`): what its backend's
    metrics measure, without the client's and the router's share."""
    for metric in answer.headers.get("Server-Timing", "").split(","):
        name, _, params = metric.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            try:
                return float(params[4:])
            except ValueError:
                return None
    return None


@dataclass
class Window:
    """What one version served in one window."""

    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0

    def batch(self) -> tuple[dict[str, int], dict[str, object]]:
        calls = len(self.latencies_ms)
        counters = {"functionInvocations": calls, "functionErrors": self.failed}
        histogram = from_samples(self.latencies_ms)
        p95 = quantile(histogram, 0.95)
        latency = {"apiHistogram": histogram, **({"apiP95Ms": p95} if p95 is not None else {})}
        return {**counters, "apiRequests": calls}, latency


class Traffic:
    """Calls `url` + `path` from a few workers and keeps, per window and answering version,
    the latencies and failures; `publish` reports each closed window once."""

    def __init__(self, url: str, env: str, window_seconds: int, path: str = "/api/chat") -> None:
        self.url, self.env, self.path, self.seconds = url, env, path, window_seconds
        self.run_id = uuid.uuid4().hex[:8]  # batch ids: a second run never collides
        self.windows: dict[tuple[datetime, str], Window] = {}
        self.published: set[tuple[datetime, str]] = set()
        self.lock = threading.Lock()

    def _call(self, client: httpx.Client) -> None:
        started = time.perf_counter()
        try:
            answer = client.get(self.url + self.path)
        except httpx.HTTPError:
            return  # no version answered: nothing to attribute it to
        took = _server_ms(answer) or (time.perf_counter() - started) * 1000
        version = answer.headers.get("X-App-Version")
        if not version:
            return  # nothing deployed answered
        key = (window_start(datetime.now(UTC), self.seconds), version)
        with self.lock:
            window = self.windows.setdefault(key, Window())
            window.latencies_ms.append(took)
            window.failed += answer.status_code >= 500

    def calls(self, n: int, workers: int = 4) -> Traffic:
        with httpx.Client(timeout=10) as client, ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(self._call, client) for _ in range(n)]:
                future.result()
        return self

    def by_window(self) -> dict[tuple[datetime, str], Window]:
        with self.lock:
            return dict(self.windows)

    def publish(self) -> int:
        """Publish every closed window not published yet (one batch per window and version)."""
        now, sent = datetime.now(UTC), 0
        for (start, version), window in sorted(self.by_window().items()):
            closed = start + timedelta(seconds=self.seconds) <= now
            if not closed or (start, version) in self.published:
                continue
            counters, latency = window.batch()
            body = batch_bytes(
                batch_id=f"traffic-{self.env}-{self.run_id}-{version}-{int(start.timestamp())}",
                env=self.env,
                window_seconds=self.seconds,
                now=start,
                counters=counters,
                latency=latency,
                release=version,
            )
            context.publisher().publish(APP_METRICS, body)
            self.published.add((start, version))
            sent += 1
        return sent

    def until(self, done: Callable[[], bool], timeout: float, workers: int = 4) -> bool:
        """Call and publish until `done()` (True) or `timeout` seconds (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.calls(workers * 4, workers)
            self.publish()
            if done():
                return True
        return False


# -- the background generator ----------------------------------------------------------------

Source = Callable[[datetime], int]  # sends what is due at that time; how many batches
TRAFFIC_MODULE = "shared.local.traffic"
logger = logging.getLogger(TRAFFIC_MODULE)


def sources() -> list[Source]:
    """What the generator sends: the mobile apps' users, when the stack runs the stores."""
    from shared.local.mobile_traffic import MobileTraffic
    from shared.local.store_sims import URL_VARIABLES
    from shared.mobile.model import Platform

    plane, found = context.plane(), list[Source]()
    sims: dict[Platform, str] = {"android": "play", "ios": "app-store-connect"}
    urls = {platform: os.environ.get(URL_VARIABLES[sim][0], "") for platform, sim in sims.items()}
    if plane.mobile is not None and any(urls.values()):
        seconds = load_for(plane).env(plane.mobile.env).monitoring.window_seconds
        stores = {p: url for p, url in urls.items() if url}
        found.append(MobileTraffic(plane.mobile, seconds, stores, _publish))
    return found


def _publish(body: bytes) -> None:
    context.publisher().publish(APP_METRICS, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    args = parser.parse_args()
    log.configure()
    generators = sources()
    logger.info("traffic generator: %d source(s)", len(generators))
    while True:
        for source in generators:
            try:
                source(utcnow())
            except Exception as exc:  # a store or Pub/Sub restarting: the next round retries
                logger.warning("traffic not sent: %s", brief(exc))
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
