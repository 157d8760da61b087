"""The local traffic generator's mobile part (pure parts): which builds the stores have given
to how many users, and the healthy batches it sends for them each window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.local.mobile_traffic import (
    Audience,
    MobileTraffic,
    app_store_audiences,
    play_audiences,
    window_batches,
)
from shared.mobile.breach import CrashWindow, judge
from shared.mobile.settings import CrashRules, MobileConfig
from shared.monitoring.batch import parse_batch

PACKAGE = "app.avalo"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _play(*releases: dict[str, Any]) -> dict[str, Any]:
    return {"apps": {PACKAGE: {"production": {"track": "production", "releases": list(releases)}}}}


def test_a_staged_play_release_reaches_its_fraction_and_the_completed_one_the_rest() -> None:
    state = _play(
        {"name": "3.1.0", "versionCodes": ["4102"], "status": "inProgress", "userFraction": 0.1},
        {"name": "3.0.0", "versionCodes": ["4101"], "status": "completed"},
    )
    assert play_audiences(state, PACKAGE) == [
        Audience("android", 4102, "3.1.0", 0.1),
        Audience("android", 4101, "3.0.0", 0.9),
    ]
    halted = _play(
        {"name": "3.1.0", "versionCodes": ["4102"], "status": "halted", "userFraction": 0.2}
    )
    assert play_audiences(halted, PACKAGE) == [Audience("android", 4102, "3.1.0", 0.2)]
    draft = _play({"name": "x", "versionCodes": ["4103"], "status": "draft"})
    assert play_audiences(draft, PACKAGE) == [] and play_audiences({}, PACKAGE) == []


def _asc(day: int | None, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "builds": {
            "build-4101": {"id": "build-4101", "version": "4101", "version_id": "version-1"},
            "build-4102": {"id": "build-4102", "version": "4102", "version_id": "version-2"},
            "build-4103": {"id": "build-4103", "version": "4103", "version_id": "version-3"},
        },
        "appStoreVersions": {
            "version-1": {
                "versionString": "3.0.0",
                "state": "READY_FOR_SALE",
                "build": "build-4101",
            },
            "version-2": {
                "versionString": "3.1.0",
                "state": "READY_FOR_SALE",
                "build": "build-4102",
            },
            "version-3": {
                "versionString": "3.2.0",
                "state": "WAITING_FOR_REVIEW",
                "build": "build-4103",
            },
        },
        "phasedReleases": {
            "phased-9": {
                "version": "version-2",
                "phasedReleaseState": state,
                "currentDayNumber": day,
            }
        },
    }


def test_an_app_store_version_reaches_its_phased_release_days_share() -> None:
    assert app_store_audiences(_asc(3)) == [
        Audience("ios", 4102, "3.1.0", 0.05),
        Audience("ios", 4101, "3.0.0", 0.95),
    ]
    assert app_store_audiences(_asc(3, "PAUSED"))[0].share == 0.05  # a pause keeps the day
    assert app_store_audiences(_asc(3, "COMPLETE")) == [Audience("ios", 4102, "3.1.0", 1.0)]
    assert app_store_audiences(_asc(None, "INACTIVE"))[0] == Audience("ios", 4101, "3.0.0", 1.0)


def test_batches_are_healthy_valid_and_one_per_build_and_window() -> None:
    audiences = [Audience("android", 4102, "3.1.0", 0.1), Audience("ios", 4102, "3.1.0", 0.00001)]
    bodies = window_batches(audiences, "production", T0, 60)
    assert len(bodies) == 1  # nobody runs the second build yet
    batch = parse_batch(bodies[0])
    assert (batch.platform, batch.build, batch.app_version, batch.window_start) == (
        "android",
        4102,
        "3.1.0",
        T0,
    )
    c = batch.counters
    assert (c.users, c.crashed_users, c.sessions, c.crashed_sessions) == (2000, 4, 4000, 4)
    assert window_batches(audiences, "production", T0, 60) == bodies  # the same batch again


def _windows(bodies: list[bytes]) -> list[CrashWindow]:
    out = []
    for body in bodies:
        b = parse_batch(body)
        c = b.counters
        out.append(
            CrashWindow(
                b.window_start, c.sessions or 0, c.crashed_sessions or 0, c.users, c.crashed_users
            )
        )
    return out


def test_background_traffic_is_no_breach_and_a_crashing_build_stands_out_from_it() -> None:
    rules = CrashRules(crash_free_users=0.99, consecutive_windows=2, min_sessions=200)
    day_1 = [Audience("ios", 4102, "3.1.0", 0.01)]  # 200 users, 400 sessions: counted
    background = [
        body
        for minute in range(3)
        for body in window_batches(day_1, "production", T0.replace(minute=minute), 60)
    ]
    assert judge(_windows(background), rules, "ios build 4102") is None
    crashing = [
        json.dumps(
            {
                "batchId": f"app-{m}",
                "env": "production",
                "windowStart": T0.replace(minute=m).isoformat(),
                "windowSeconds": 60,
                "counters": {
                    "sessions": 6000,
                    "crashedSessions": 90,
                    "users": 3000,
                    "crashedUsers": 90,
                },
                "platform": "ios",
                "build": 4102,
            }
        ).encode()
        for m in (1, 2)
    ]
    breach = judge(_windows(background + crashing), rules, "ios build 4102")
    assert breach is not None and "below 99.00%" in breach.reason


def test_the_generator_sends_each_closed_window_once() -> None:
    sent: list[bytes] = []
    mobile = MobileConfig.model_validate(
        {"env": "production", "android": {"package_name": PACKAGE, "fractions": [0.1, 1.0]}}
    )
    traffic = MobileTraffic(mobile, 60, {"android": "http://play/"}, sent.append)
    traffic.audiences = lambda: [Audience("android", 4102, "3.1.0", 0.1)]  # type: ignore[method-assign]
    assert traffic(T0.replace(minute=5, second=3)) == 1
    assert traffic(T0.replace(minute=5, second=40)) == 0  # that window was sent
    assert traffic(T0.replace(minute=6, second=1)) == 1
    starts = [parse_batch(b).window_start for b in sent]
    assert starts == [T0.replace(minute=4), T0.replace(minute=5)]
