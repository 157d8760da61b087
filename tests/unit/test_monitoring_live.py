"""A live release is watched too: a confirmed breach alerts once per incident, and rolls back
when the environment says so, never judging a restored release on the windows before it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.config import PlaneConfig
from shared.domain.model import EnvironmentState
from shared.domain.states import State
from shared.entrypoints import decode_tick, deliver
from shared.monitoring.handler import MetricsHandler
from tests.pubsub_envelope import envelope
from tests.unit.fakes import Driver
from tests.unit.test_monitoring_bake import (
    CHECKS,
    SHA,
    Memory,
    batch,
    go_live,
    message,
    metrics_world,
)

BAD = {"functionErrors": 120}  # 12% of 1000 invocations: over the 5% limit


def _windows(
    d: Driver, mem: Memory, start: datetime, n: int, release: str | None = "1.1.0", **counters: int
) -> None:
    """Publish `n` one-minute windows from `start` and move the clock past the last one."""
    h = MetricsHandler(plane=d.w.bus.plane, checks=CHECKS, sink=mem, letters=mem, clock=d.w.clock)
    for i in range(n):
        at = start + timedelta(minutes=i)
        d.w.clock.now = max(d.w.clock.now, at + timedelta(minutes=1))
        body = {**batch(at, **counters), "batchId": f"b-{at:%H%M}-{release or 'any'}"}
        body |= {"release": release} if release else {}
        assert h.handle(message(body, f"m-{at:%H%M}-{release}")) == "stored"


def _two_live(plane: PlaneConfig, live_breach: str) -> tuple[Driver, Memory]:
    """Staging with 1.0.0 then 1.1.0 live: 1.1.0 serves, 1.0.0 is what a rollback restores."""
    d, mem = metrics_world(plane, live_breach)
    go_live(d, "1.0.0")
    go_live(d, "1.1.0")
    return d, mem


@pytest.fixture
def live(plane: PlaneConfig) -> tuple[Driver, Memory]:
    return _two_live(plane, "alert")


@pytest.fixture
def live_rollback(plane: PlaneConfig) -> tuple[Driver, Memory]:
    return _two_live(plane, "rollback")


def test_a_confirmed_breach_while_live_alerts_once_with_the_values(
    live: tuple[Driver, Memory],
) -> None:
    d, mem = live
    since = d.env("staging").current.since  # type: ignore[union-attr]
    _windows(d, mem, since, 2, **BAD)
    d.tick("staging")
    assert d.w.events.alerts == []  # two breaching windows: not confirmed (3 needed)

    _windows(d, mem, since + timedelta(minutes=2), 1, **BAD)
    tick = d.tick("staging")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE  # the env only alerts (live_breach = "alert")
    [alert] = d.w.events.alerts
    assert alert.metric == "function_error_rate"
    assert alert.release == "1.1.0"
    assert alert.reason is not None and "breached in 3 consecutive windows" in alert.reason
    watch = rollout.steps["watch"]
    assert watch.status == "breach"
    assert [w["function_errors"] for w in watch.detail["windows"]] == [120, 120, 120]
    assert watch.detail["breachStart"] == since.isoformat()

    # the same tick again, and the next tick with the breach going on: still one alert
    deliver(d.w.bus, tick.event_id, envelope(b'{"env": "staging"}'), topic="t", decode=decode_tick)
    _windows(d, mem, since + timedelta(minutes=3), 1, **BAD)
    d.tick("staging")
    assert len(d.w.events.alerts) == 1
    watch = d.rollout("1.1.0", "staging").steps["watch"]
    assert watch.detail["breachStart"] == since.isoformat()
    assert watch.detail["breachEnd"] == (since + timedelta(minutes=3)).isoformat()


def test_a_new_incident_after_recovery_alerts_again(live: tuple[Driver, Memory]) -> None:
    d, mem = live
    since = d.env("staging").current.since  # type: ignore[union-attr]
    _windows(d, mem, since, 3, **BAD)
    d.tick("staging")
    _windows(d, mem, since + timedelta(minutes=3), 3)  # healthy again
    d.tick("staging")
    _windows(d, mem, since + timedelta(minutes=6), 3, **BAD)
    d.tick("staging")
    assert len(d.w.events.alerts) == 2
    assert d.w.events.alerts[0].key != d.w.events.alerts[1].key


def test_live_breach_rollback_restores_the_previous_release_not_judged_on_bad_windows(
    live_rollback: tuple[Driver, Memory],
) -> None:
    d, mem = live_rollback
    since = d.env("staging").current.since  # type: ignore[union-attr]
    _windows(d, mem, since, 3, release=None, **BAD)  # untagged: only time tells them apart
    d.tick("staging")

    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason is not None and rollout.reason.startswith("while live: ")
    assert d.w.deploy_target.calls == [("1.0.0", "staging")]
    assert len(d.w.events.alerts) == 1
    env = d.env("staging")
    assert env.current is not None and env.current.release == "1.0.0"
    assert env.current.since == d.w.clock.now

    for _ in range(3):  # later ticks: 1.0.0 serves again and the old windows are not its own
        d.w.clock.advance(minutes=1)
        d.tick("staging")
    assert d.rollout("1.0.0", "staging").state is State.LIVE
    assert len(d.w.events.alerts) == 1
    assert d.w.deploy_target.calls == [("1.0.0", "staging")]


def test_a_live_breach_while_another_rollout_holds_the_lock_only_alerts(
    live_rollback: tuple[Driver, Memory],
) -> None:
    d, mem = live_rollback
    since = d.env("staging").current.since  # type: ignore[union-attr]
    d.command(type="release.create", version="1.2.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="1.2.0", env="staging", actor="alice")
    assert d.rollout("1.2.0", "staging").state is State.MIGRATING  # 1.1.0 still serves
    _windows(d, mem, since, 3, **BAD)
    d.tick("staging")
    assert d.rollout("1.1.0", "staging").state is State.LIVE
    assert len(d.w.events.alerts) == 1
    assert d.w.deploy_target.calls == []


def test_a_live_release_being_replaced_is_not_watched(live: tuple[Driver, Memory]) -> None:
    d, mem = live
    since = d.env("staging").current.since  # type: ignore[union-attr]
    d.command(type="release.create", version="1.2.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="1.2.0", env="staging", actor="alice")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    assert d.rollout("1.2.0", "staging").state is State.DEPLOYING
    _windows(d, mem, since, 3, **BAD)
    d.tick("staging")
    assert d.w.events.alerts == []


def test_the_window_a_bake_began_in_counts_with_the_new_release_batches(
    plane: PlaneConfig,
) -> None:
    d, mem = metrics_world(plane)
    go_live(d, "1.0.0")
    d.w.clock.advance(seconds=30)  # the bake begins mid-window
    d.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="1.1.0", env="staging", actor="alice")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    began = d.rollout("1.1.0", "staging").state_since
    first = began.replace(second=0)
    assert first < began
    _windows(d, mem, first, 1, release="1.0.0", functionErrors=500)  # the old one, same window
    _windows(d, mem, first, 3, **BAD)
    d.tick("staging")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert [w["function_errors"] for w in rollout.steps["bake"].detail["windows"]] == [120] * 3


def test_the_scheduler_tick_fans_out_and_one_broken_env_does_not_stop_the_others(
    live_rollback: tuple[Driver, Memory],
) -> None:
    d, mem = live_rollback
    since = d.env("staging").current.since  # type: ignore[union-attr]
    _windows(d, mem, since, 3, **BAD)
    read = d.w.uow.read_environment

    def broken_in_dev(name: str) -> EnvironmentState:
        if name == "dev":
            raise RuntimeError("dev state unreadable")
        return read(name)

    d.w.uow.read_environment = broken_in_dev  # type: ignore[method-assign]
    ticks = d.w.bus.ports.ticks
    d.tick()  # the scheduler's tick: no env
    assert ticks.sent[-3:] == list(d.w.bus.plane.environments)  # type: ignore[attr-defined]
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK
    assert list(ticks.failed) == ["dev"]  # type: ignore[attr-defined]
