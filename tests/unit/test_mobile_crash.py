"""Crash breach rules, the crash watch, and what a breach does to a release's trains."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.dead_letters import INTERNAL
from shared.mobile.breach import CrashWindow, judge
from shared.mobile.crash import CrashWatch
from shared.mobile.handler import TrainStores
from shared.mobile.messages import CrashBreach
from shared.mobile.settings import CrashRules
from shared.monitoring.batch import MetricsBatch
from tests.unit.fakes import FakeAppStore, FakePlay
from tests.unit.test_mobile_trains import RELEASE, Trains, _plane

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)
RULES = CrashRules(crash_free_users=0.99, consecutive_windows=2, min_sessions=100)


def w(
    minute: int,
    sessions: int,
    crashed: int,
    users: int | None = None,
    crashed_users: int | None = None,
) -> CrashWindow:
    return CrashWindow(T0 + timedelta(minutes=minute), sessions, crashed, users, crashed_users)


def test_two_bad_windows_in_a_row_with_enough_sessions_are_a_breach() -> None:
    breach = judge([w(0, 1000, 5), w(1, 1000, 30), w(2, 1000, 40)], RULES, "android build 7")
    assert breach is not None and breach.last_window == T0 + timedelta(minutes=2)
    assert "below 99.00%" in breach.reason and "lowest 96.00%" in breach.reason
    assert [x["crashFreeUsers"] for x in breach.evidence["windows"]] == [0.97, 0.96]


@pytest.mark.parametrize(
    "windows",
    [
        [w(0, 1000, 40)],  # one bad window is not confirmed
        [w(0, 1000, 40), w(1, 1000, 5)],  # the latest recovered
        [w(0, 1000, 40), w(1, 50, 25)],  # too few sessions to count
        [],
    ],
)
def test_no_breach(windows: list[CrashWindow]) -> None:
    assert judge(windows, RULES, "b") is None


def test_a_quiet_window_neither_breaches_nor_clears() -> None:
    assert judge([w(0, 1000, 40), w(1, 10, 0), w(2, 1000, 40)], RULES, "b") is not None


def test_users_are_the_denominator_when_counted_and_instances_add_up() -> None:
    # sessions look fine, users do not: crash-free *users* decides
    windows = [w(0, 600, 1, 300, 5), w(0, 600, 1, 300, 5), w(1, 1000, 1, 500, 9)]
    breach = judge(windows, RULES, "b")
    assert breach is not None
    assert breach.evidence["windows"][0]["users"] == 600


def batch(
    minute: int,
    crashed: int,
    *,
    build: int = 4102,
    env: str = "staging",
    platform: str = "android",
    n: str = "",
) -> MetricsBatch:
    return MetricsBatch.model_validate(
        {
            "batchId": f"b{minute}{n}",
            "env": env,
            "windowStart": T0 + timedelta(minutes=minute),
            "windowSeconds": 60,
            "platform": platform,
            "build": build,
            "appVersion": "3.1.0",
            "counters": {
                "sessions": 1000,
                "crashedSessions": crashed,
                "users": 800,
                "crashedUsers": crashed,
            },
        }
    )


class FakeSamples:
    def __init__(self) -> None:
        self.batches: dict[str, MetricsBatch] = {}

    def put(self, b: MetricsBatch) -> None:
        self.batches[b.batch_id] = b

    def windows(self, platform: str, build: int, since: datetime) -> list[CrashWindow]:
        return [
            CrashWindow(
                b.window_start,
                b.counters.sessions or 0,
                b.counters.crashed_sessions or 0,
                b.counters.users,
                b.counters.crashed_users,
            )
            for b in self.batches.values()
            if (b.platform, b.build) == (platform, build) and b.window_start >= since
        ]


class Finder:
    def release_of(self, platform: str, build: int) -> str | None:
        return RELEASE if build == 4102 else None


def _watch(plane: PlaneConfig, reported: list[tuple[CrashBreach, str]]) -> CrashWatch:
    cfg = _plane(plane).mobile
    assert cfg is not None
    return CrashWatch(
        cfg=cfg, samples=FakeSamples(), trains=Finder(), report=lambda m, k: reported.append((m, k))
    )


def test_the_watch_reports_once_per_breaching_window_of_a_known_build(plane: PlaneConfig) -> None:
    reported: list[tuple[CrashBreach, str]] = []
    watch = _watch(plane, reported)
    assert watch.observe(batch(0, 30)) is None
    assert watch.observe(batch(1, 30)) is not None
    watch.observe(batch(1, 30))  # a redelivered batch: same window, same key
    assert [k for _, k in reported] == [
        f"crash/android/4102/{(T0 + timedelta(minutes=1)).isoformat()}"
    ] * 2
    assert watch.observe(batch(2, 30, build=9)) is None  # no train carries build 9


@pytest.mark.parametrize("changes", [{"env": "production"}, {"platform": None}, {"build": None}])
def test_the_watch_ignores_other_envs_and_non_mobile_batches(
    plane: PlaneConfig, changes: dict[str, Any]
) -> None:
    reported: list[tuple[CrashBreach, str]] = []
    watch = _watch(plane, reported)
    for minute in range(3):
        watch.observe(batch(minute, 40).model_copy(update=changes))
    assert reported == []


@pytest.fixture
def live(plane: PlaneConfig) -> Trains:
    from tests.unit.fakes import make_world

    world = make_world(_plane(plane))
    play, app = FakePlay(), FakeAppStore()
    world.bus.ports.stores = TrainStores(world.bus.plane.mobile, lambda: play, lambda: app)
    killed: list[tuple[str, tuple[str, ...]]] = []

    class Kills:
        def kill(self, env: Any, flags: tuple[str, ...], actor: str) -> list[str]:
            killed.append((env.name, flags))
            return list(flags)

    world.bus.ports.kill_switches = Kills()
    t = Trains(world, play, app)
    t.killed = killed  # type: ignore[attr-defined]
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:4102", "ios": "build:4102", "flags": "videoCalls=10"},
    )
    for track in ("internal", "closed", "production"):
        t.send("promote", track=track)
    t.send("promote", platform="ios", track="testflight")
    t.send("submit")
    app.state[4102] = "PENDING_DEVELOPER_RELEASE"
    t.send("release")
    return t


def _breach(t: Trains, key: str) -> Any:
    msg = CrashBreach(
        release=RELEASE,
        platform="android",
        build=4102,
        signal="app-metrics",
        reason="crash-free users below 99%",
        evidence={"windows": []},
    )
    return t.w.bus.handle(msg, event_id=key, topic=INTERNAL)


def test_a_breach_halts_android_pauses_ios_kills_switches_and_alerts(live: Trains) -> None:
    record = _breach(live, "crash/1")
    assert record.outcome == "applied"
    assert live.play.held["production"]["status"] == "halted"
    assert live.app.phase[4102] == "PAUSED"
    assert live.killed == [("staging", ("videoCalls",))]  # type: ignore[attr-defined]
    alerts = live.w.events.alerts
    assert len(alerts) == 1 and "halted android, ios" in (alerts[0].reason or "")
    train = live.train()
    assert train.actor == "crash-watch" and train.evidence["signal"] == "app-metrics"


def test_a_second_breach_of_a_halted_release_is_a_no_op(live: Trains) -> None:
    _breach(live, "crash/1")
    calls = (live.play.calls, live.app.calls)
    again = _breach(live, "crash/2")
    assert again.outcome == "ignored" and "nothing to halt" in again.note
    assert (live.play.calls, live.app.calls) == calls
    assert len(live.killed) == 1  # type: ignore[attr-defined]
    assert len(live.w.events.alerts) == 1


class FakeVitals:
    def __init__(self, windows: list[CrashWindow]) -> None:
        self.windows, self.reads = windows, 0

    def crash_windows(self, version_code: int, start: datetime, end: datetime) -> list[CrashWindow]:
        self.reads += 1
        if version_code != 4102:
            return []
        return self.windows


def test_play_vitals_read_on_the_tick_halt_a_breaching_build(live: Trains) -> None:
    vitals = FakeVitals([w(0, 5000, 250, 5000, 250), w(60, 5000, 300, 5000, 300)])
    live.w.bus.ports.vitals = vitals
    live.d.tick("staging")
    assert vitals.reads == 1
    assert live.play.held["production"]["status"] == "halted"
    assert live.train().evidence["signal"] == "play-vitals"
    live.d.tick("staging")  # halted: no more vitals reads for it, nothing more happens
    assert vitals.reads == 1 and len(live.w.events.alerts) == 1


def test_unreadable_play_vitals_are_not_a_verdict(live: Trains) -> None:
    class Broken:
        def crash_windows(self, version_code: int, start: datetime, end: datetime) -> list[Any]:
            raise OSError("reporting API down")

    live.w.bus.ports.vitals = Broken()
    assert live.d.tick("staging").outcome == "applied"
    assert live.play.held["production"]["status"] == "inProgress"


def test_a_mobile_batch_round_trips_through_the_app_metrics_contract() -> None:
    from shared.monitoring.batch import parse_batch
    from shared.monitoring.client import batch_bytes

    counters = {"sessions": 10, "crashedSessions": 1, "users": 5, "crashedUsers": 1}
    body = batch_bytes(
        batch_id="m1",
        env="production",
        window_seconds=60,
        now=T0,
        counters=counters,
        app={"platform": "ios", "appVersion": "3.1.0", "build": 4102},
    )
    parsed = parse_batch(body)
    assert (parsed.platform, parsed.app_version, parsed.build) == ("ios", "3.1.0", 4102)
    assert (parsed.counters.users, parsed.counters.crashed_users) == (5, 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"platform": "windows"}, "platform"),
        ({"build": 0}, "build"),
        ({"counters": {"users": 5, "crashedUsers": 6}}, "crashedUsers (6) exceeds users (5)"),
    ],
)
def test_malformed_mobile_batches_are_refused_naming_the_field(
    change: dict[str, Any], expected: str
) -> None:
    import json

    from shared.errors import Refused
    from shared.monitoring.batch import parse_batch

    raw = {
        "batchId": "m1",
        "env": "production",
        "windowStart": T0.isoformat(),
        "windowSeconds": 60,
        "platform": "android",
        "build": 7,
        **change,
    }
    with pytest.raises(Refused, match=re.escape(expected)):
        parse_batch(json.dumps(raw).encode())
