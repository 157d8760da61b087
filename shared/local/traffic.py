"""The sample app's side of monitoring on the local stack: call it, count what failed, and
publish the counts on `app-metrics` as the app's backend would (docs/MONITORING.md)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx

from shared.cli import context
from shared.clock import utcnow
from shared.gates.checks_file import load_for
from shared.monitoring.client import batch_bytes, window_start
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
