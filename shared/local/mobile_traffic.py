"""The mobile apps' users on the local stack: each closed window of the mobile env, one
`app-metrics` batch per build the stores have rolled out, as the apps' own crash reporting
would send (docs/MOBILE.md, "Crash signals").

Which builds users run is read from the store simulators (`GET /_sim/state`): a Play
production release reaches its `userFraction` (a halted one keeps the users it reached; the
completed release the rest), an App Store version on sale reaches its phased release's share
of the day (all users once COMPLETE or released without one; the previous version the rest).
Each build's users crash at a healthy rate by default (crash-free users above the threshold),
so the crash watch always has real background traffic and a bad build stands out from it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.mobile.model import Platform, phased_fraction
from shared.mobile.settings import MobileConfig
from shared.monitoring.client import batch_bytes, window_start

log = logging.getLogger(__name__)
USERS_PER_WINDOW = 20_000  # each platform's active users in a window (all builds together)
CRASH_FREE = 0.998  # healthy: above the 0.99 the shipped config halts below
SESSIONS_PER_USER = 2
_ON_SALE = "READY_FOR_SALE"


@dataclass(frozen=True)
class Audience:
    """A build and the share of its platform's users who run it."""

    platform: Platform
    build: int
    version: str
    share: float


def _split(found: list[tuple[Audience, float | None]]) -> list[Audience]:
    """Newest first: each build takes its share of the users the newer ones left over (None:
    all of them); builds left with no users are dropped."""
    left, out = 1.0, []
    for audience, share in found:
        taken = left if share is None else min(left, share)
        left -= taken
        if taken > 0:
            out.append(Audience(audience.platform, audience.build, audience.version, taken))
    return out


def play_audiences(state: dict[str, Any], package: str) -> list[Audience]:
    """Play's production track: the staged (or halted) release and the completed one."""
    releases = state.get("apps", {}).get(package, {}).get("production", {}).get("releases", [])
    found: list[tuple[Audience, float | None]] = []
    for release in releases:  # Play lists the staged release before the completed one
        status, codes = release.get("status"), release.get("versionCodes") or []
        if status not in ("inProgress", "halted", "completed") or not codes:
            continue
        share = release.get("userFraction") if status != "completed" else None
        name = str(release.get("name") or codes[0])
        found.append((Audience("android", int(codes[0]), name, 0.0), share))
    return _split(found)


def app_store_audiences(state: dict[str, Any]) -> list[Audience]:
    """The versions on sale, newest first, each with its phased release's share."""
    phased = {p["version"]: p for p in state.get("phasedReleases", {}).values()}
    builds = state.get("builds", {})
    found: list[tuple[Audience, float | None]] = []
    for vid, version in sorted(state.get("appStoreVersions", {}).items(), key=_newest):
        build = builds.get(version.get("build"), {})
        if version.get("state") != _ON_SALE or not build:
            continue
        p = phased.get(vid)
        share = phased_fraction(p["phasedReleaseState"], p["currentDayNumber"]) if p else None
        if p is not None and share is None:
            continue  # on sale, its phased release not started: nobody has it yet
        found.append((Audience("ios", int(build["version"]), version["versionString"], 0.0), share))
    return _split(found)


def _newest(item: tuple[str, Any]) -> int:
    number = re.search(r"(\d+)$", item[0])
    return -int(number.group(1)) if number else 0


def window_batches(
    audiences: list[Audience],
    env: str,
    window: datetime,
    window_seconds: int,
    users: int = USERS_PER_WINDOW,
    crash_free: float = CRASH_FREE,
) -> list[bytes]:
    """One batch per build for the window starting at `window` (ids name platform, build and
    window: a batch sent again is the same batch)."""
    out = []
    for a in audiences:
        reached = round(users * a.share)
        if reached == 0:
            continue
        crashed = round(reached * (1 - crash_free))
        out.append(
            batch_bytes(
                batch_id=f"traffic-{a.platform}-{a.build}-{int(window.timestamp())}",
                env=env,
                window_seconds=window_seconds,
                now=window,
                counters={
                    "sessions": reached * SESSIONS_PER_USER,
                    "crashedSessions": crashed,
                    "users": reached,
                    "crashedUsers": crashed,
                },
                app={"platform": a.platform, "appVersion": a.version, "build": a.build},
            )
        )
    return out


class MobileTraffic:
    """The traffic generator's mobile part: call it as often as you like; it sends each closed
    window of the mobile env once."""

    def __init__(
        self,
        mobile: MobileConfig,
        window_seconds: int,
        store_urls: dict[Platform, str],
        publish: Any,
    ) -> None:
        self.mobile, self.window_seconds = mobile, window_seconds
        self.urls, self.publish = store_urls, publish
        self.sent: datetime | None = None

    def audiences(self) -> list[Audience]:
        found: list[Audience] = []
        if self.mobile.android is not None and "android" in self.urls:
            state = httpx.get(f"{self.urls['android']}_sim/state", timeout=5).json()
            found += play_audiences(state, self.mobile.android.package_name)
        if self.mobile.ios is not None and "ios" in self.urls:
            found += app_store_audiences(
                httpx.get(f"{self.urls['ios']}_sim/state", timeout=5).json()
            )
        return found

    def __call__(self, now: datetime) -> int:
        """Send the latest closed window's batches (if not sent yet); how many were sent."""
        closed = window_start(now, self.window_seconds) - timedelta(seconds=self.window_seconds)
        if self.sent == closed:
            return 0
        batches = window_batches(self.audiences(), self.mobile.env, closed, self.window_seconds)
        for body in batches:
            self.publish(body)
        self.sent = closed
        return len(batches)
