"""An inconclusive bake (too little evidence to judge) waits for a person where the env says so
(`on_inconclusive = "pause"`, production's default): it stays `baking`, holds its lock, alerts
once; `release approve` takes it live, `release rollback` rolls it back."""

from __future__ import annotations

import pytest

from shared.config import PlaneConfig
from shared.domain.messages import StepReport
from shared.domain.states import State
from tests.unit.fakes import Driver, FakeVerifier, make_world
from tests.unit.test_bake_errors import bake
from tests.unit.test_rollout_flow import create

NO_TRAFFIC = StepReport(ran=False, ok=False, summary="inconclusive: 3 requests (< 100)")


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    return Driver(make_world(plane))


def paused(d: Driver, version: str = "1.2.0", env: str = "production") -> None:
    create(d, version)
    bake(d, version, env)
    d.w.bake.report = NO_TRAFFIC
    d.w.clock.advance(minutes=d.w.bus.plane.env(env).bake_minutes)
    d.tick(env)


def test_production_pauses_an_inconclusive_bake_holds_its_lock_and_alerts_once(
    d: Driver,
) -> None:
    assert d.w.bus.plane.env("production").inconclusive_action == "pause"
    paused(d)
    cfg = d.w.bus.plane.env("production")
    first = d.env("production").lock.lease_until  # type: ignore[union-attr]
    for _ in range(3):  # longer than the lease: the ticks renew it
        d.w.clock.advance(minutes=cfg.lock_lease_minutes + cfg.bake_minutes - 1)
        d.tick("production")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.BAKING
    bake_step = rollout.steps["bake"]
    assert bake_step.status == "paused" and "inconclusive" in (bake_step.reason or "")
    assert bake_step.detail["pausedFor"] == "inconclusive" and bake_step.detail["ran"] is False
    lock = d.env("production").lock
    assert lock is not None and lock.lease_until > first and lock.live(d.w.clock())
    assert len(d.w.events.alerts) == 1 and "bake paused" in d.w.events.alerts[0].reason


def test_an_approver_takes_the_paused_bake_live_with_the_reason_recorded(d: Driver) -> None:
    paused(d)
    decide = {"type": "release.approve", "release": "1.2.0", "env": "production"}
    own = d.command(**decide, approver="alice", reason="fine")  # alice wrote it
    assert own.outcome == "refused" and "four-eyes" in own.note
    no_role = d.command(
        **decide, approver="olga", id_token=FakeVerifier.token_of("olga", "operator")
    )
    assert no_role.outcome == "refused" and "needs the role 'approver'" in no_role.note
    ok = d.command(**decide, approver="bob", reason="quiet night, checked by hand")
    assert ok.outcome == "applied"
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.LIVE
    assert rollout.steps["bake"].status == "approved"
    assert rollout.steps["bake"].detail["approvedBy"] == "bob"
    last = d.w.uow.store.history["1.2.0"][-1]
    assert (last.to_state, last.actor) == (State.LIVE, "bob")
    assert last.reason == "paused bake approved: quiet night, checked by hand"
    assert d.env("production").current.release == "1.2.0"  # type: ignore[union-attr]


def test_an_operator_rolls_the_paused_bake_back_with_the_reason_recorded(d: Driver) -> None:
    create(d, "1.1.0")
    bake(d, "1.1.0", "production")
    d.w.clock.advance(minutes=d.w.bus.plane.env("production").bake_minutes)
    d.tick("production")  # 1.1.0 passed its bake: something to go back to
    paused(d, "1.2.0")
    done = d.command(type="release.rollback", env="production", actor="ops", reason="no data")
    assert done.outcome == "applied"
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.ROLLED_BACK and rollout.reason == "no data"
    assert rollout.steps["bake"].status == "rolled_back"
    assert rollout.steps["bake"].detail["rolledBackBy"] == "ops"


def test_elsewhere_an_inconclusive_bake_goes_live_recorded_as_such(d: Driver) -> None:
    paused(d, env="staging")
    rollout = d.rollout("1.2.0", "staging")
    assert rollout.state is State.LIVE and rollout.steps["bake"].status == "inconclusive"
    assert not d.w.events.alerts


def test_an_env_may_choose_to_promote_inconclusive_bakes(plane: PlaneConfig) -> None:
    prod = plane.env("production").model_copy(update={"on_inconclusive": "promote"})
    loose = plane.model_copy(update={"environments": {**plane.environments, "production": prod}})
    d = Driver(make_world(loose))
    paused(d)
    assert d.rollout("1.2.0", "production").state is State.LIVE


def test_approving_a_rollout_neither_waiting_nor_paused_is_refused(d: Driver) -> None:
    create(d)
    bake(d, "1.2.0", "production")  # baking, not paused
    again = d.command(type="release.approve", release="1.2.0", env="production", approver="bob")
    assert again.outcome == "refused" and "not awaiting approval" in again.note
