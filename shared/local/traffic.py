"""The sample app's side of monitoring on the local stack: call it, count what failed, and
publish the counts on `app-metrics` as the app's backend would (docs/MONITORING.md).

Run as a part of the stack (`python -m shared.local.traffic --interval 5`), it is the
background traffic generator: every round it gives each of its sources the time, and each
sends what its windows hold (the mobile apps' crash reporting, `shared.local.mobile_traffic`).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from shared import log
from shared.cli import context
from shared.clock import utcnow
from shared.dead_letters import brief
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
