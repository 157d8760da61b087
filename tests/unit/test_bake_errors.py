"""A bake whose metrics cannot be read: counted tick by tick, reset by a good read, and at the
limit (`metrics_error_limit`, Argo Rollouts' consecutiveErrorLimit) rolled back or paused
(`on_metrics_error`). Every tick renews the rollout's lock, so a bake is never orphaned."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.config import EnvConfig, PlaneConfig
from shared.domain.model import Rollout
from shared.domain.states import State
from tests.unit.fakes import Driver, make_world
from tests.unit.test_rollout_flow import create, promote, to_live


class Unreadable:
    """A metrics source that fails `failing` times, then reads fine."""

    def __init__(self, d: Driver, failing: int) -> None:
        self.left, self.real = failing, d.w.bake.evaluate
        d.w.bake.evaluate = self.evaluate  # type: ignore[method-assign]

    def evaluate(
        self, rollout: Rollout, env: EnvConfig, now: datetime, stable: str | None = None
    ) -> object:
        if self.left > 0:
            self.left -= 1
            raise ConnectionError("monitoring.googleapis.com: 503 unavailable")
        return self.real(rollout, env, now, stable)


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    return Driver(make_world(plane))


def bake(d: Driver, version: str, env: str) -> None:
    if env == "production":
        promote(d, version, env)
        d.command(type="release.approve", release=version, env=env, approver="bob")
        attempt = d.rollout(version, env).attempt
        for step in ("migrate", "deploy"):
            d.step(f"{version}/{env}/{attempt}/{step}", "SUCCESS")
    else:
        promote(d, version, env)
        for step in ("migrate", "deploy"):
            d.step(f"{version}/{env}/1/{step}", "SUCCESS")
    assert d.rollout(version, env).state is State.BAKING


def test_unreadable_metrics_are_counted_and_a_good_read_resets_the_count(d: Driver) -> None:
    create(d)
    to_live(d, "1.2.0")  # something to roll back to
    create(d, "1.3.0")
    bake(d, "1.3.0", "staging")
    Unreadable(d, failing=3)
    for n in (1, 2, 3):
        d.tick("staging")
        step = d.rollout("1.3.0", "staging").steps["bake"]
        assert step.status == "running" and step.detail["consecutiveErrors"] == n
        assert "503" in step.detail["lastError"]
    d.tick("staging")  # reads fine again
    assert d.rollout("1.3.0", "staging").steps["bake"].detail["consecutiveErrors"] == 0
    assert d.rollout("1.3.0", "staging").state is State.BAKING


def test_the_bake_does_not_end_while_its_metrics_cannot_be_read(d: Driver) -> None:
    create(d)
    bake(d, "1.2.0", "staging")
    Unreadable(d, failing=2)
    d.w.clock.advance(minutes=d.w.bus.plane.env("staging").bake_minutes + 1)
    d.tick("staging")
    assert d.rollout("1.2.0", "staging").state is State.BAKING  # no data is not good data
    d.tick("staging")
    d.tick("staging")
    assert d.rollout("1.2.0", "staging").state is State.LIVE


def test_at_the_error_limit_the_rollout_rolls_back(d: Driver) -> None:
    create(d)
    to_live(d, "1.2.0")
    create(d, "1.3.0")
    bake(d, "1.3.0", "staging")
    Unreadable(d, failing=100)
    limit = d.w.bus.plane.env("staging").metrics_error_limit
    for _ in range(limit):
        d.tick("staging")
    rollout = d.rollout("1.3.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.steps["bake"].status == "failed"
    assert f"metrics unreadable {limit} ticks in a row" in (rollout.reason or "")
    assert d.env("staging").current.release == "1.2.0"  # type: ignore[union-attr]


def test_production_pauses_at_the_error_limit_alerts_once_and_keeps_its_lock(d: Driver) -> None:
    assert d.w.bus.plane.env("production").on_metrics_error == "pause"
    create(d, "1.1.0")
    bake(d, "1.1.0", "production")
    d.w.clock.advance(minutes=d.w.bus.plane.env("production").bake_minutes)
    d.tick("production")
    assert d.rollout("1.1.0", "production").state is State.LIVE
    create(d)
    bake(d, "1.2.0", "production")
    Unreadable(d, failing=100)
    limit = d.w.bus.plane.env("production").metrics_error_limit
    for _ in range(limit + 3):
        d.tick("production")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.BAKING and rollout.steps["bake"].status == "paused"
    assert len(d.w.events.alerts) == 1 and "bake paused" in (d.w.events.alerts[0].reason or "")
    d.w.clock.advance(minutes=d.w.bus.plane.env("production").bake_minutes + 5)
    d.tick("production")
    assert d.rollout("1.2.0", "production").state is State.BAKING  # waits for a person
    d.command(type="release.rollback", env="production", actor="ops", reason="metrics gone")
    assert d.rollout("1.2.0", "production").state is State.ROLLED_BACK
    assert d.env("production").current.release == "1.1.0"  # type: ignore[union-attr]


def test_every_tick_of_a_bake_renews_its_lock(d: Driver) -> None:
    """A paused bake waits for a person as long as it takes: its lock must not lapse."""
    create(d)
    bake(d, "1.2.0", "production")
    cfg = d.w.bus.plane.env("production")
    Unreadable(d, failing=100)
    for _ in range(cfg.metrics_error_limit):
        d.tick("production")
    first = d.env("production").lock.lease_until  # type: ignore[union-attr]
    lease = cfg.lock_lease_minutes + cfg.bake_minutes
    for _ in range(3):  # three times longer than the lease
        d.w.clock.advance(minutes=lease - 1)
        d.tick("production")
    lock = d.env("production").lock
    assert lock is not None and lock.release == "1.2.0" and lock.lease_until > first
    assert lock.live(d.w.clock())
    assert d.rollout("1.2.0", "production").steps["bake"].status == "paused"
    create(d, "1.3.0")
    assert promote(d, "1.3.0", "staging") == "applied"  # other envs are free
    assert promote(d, "1.3.0", "production") == "refused"  # production is the bake's
