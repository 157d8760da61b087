"""Canary steps through the bus with fakes: splits, step bakes, advance, abort, refusals."""

from __future__ import annotations

import json

import pytest

from shared.config import PlaneConfig
from shared.domain.canary import progress as canary_progress
from shared.domain.commands import parse_command
from shared.domain.messages import StepReport
from shared.domain.model import OWN_URL
from shared.domain.states import State
from shared.errors import Refused
from tests.unit.fakes import Driver, make_world

SHA = "ab" * 20


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    envs = dict(plane.environments)
    envs["staging"] = envs["staging"].model_copy(update={"canary": (10, 50)})
    return Driver(make_world(plane.model_copy(update={"environments": envs})))


def baking(d: Driver, version: str) -> None:
    d.command(type="release.create", version=version, commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release=version, env="staging", actor="alice")
    d.step(f"{version}/staging/1/migrate", "SUCCESS")
    d.step(f"{version}/staging/1/deploy", "SUCCESS")
    assert d.rollout(version, "staging").state is State.BAKING


def bake_one_step(d: Driver) -> None:
    d.w.clock.advance(minutes=5)  # staging's bake_minutes: each step bakes that long
    d.tick("staging")


def canary(d: Driver, version: str) -> dict[str, object]:
    return d.rollout(version, "staging").steps["canary"].detail


def live_with_stable(d: Driver) -> None:
    baking(d, "1.0.0")
    bake_one_step(d)
    bake_one_step(d)
    assert d.rollout("1.0.0", "staging").state is State.LIVE
    d.w.deploy_target.splits.clear()
    baking(d, "1.1.0")


def test_a_good_release_goes_10_then_50_then_100_percent(d: Driver) -> None:
    live_with_stable(d)
    assert canary(d, "1.1.0")["percent"] == 10
    d.w.clock.advance(minutes=4)
    d.tick("staging")  # inside the step's bake: nothing moves
    assert canary(d, "1.1.0")["percent"] == 10
    d.w.clock.advance(minutes=1)
    d.tick("staging")
    assert canary(d, "1.1.0")["percent"] == 50
    assert d.rollout("1.1.0", "staging").state is State.BAKING
    bake_one_step(d)
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE
    assert rollout.steps["canary"].status == "passed"
    assert canary(d, "1.1.0")["split"] == {
        "percent": 100,
        "ok": True,
        "ran": True,
        "summary": "split set",
        "at": d.w.clock.now.isoformat(),
    }
    stable = [("staging", 10, "1.0.0"), ("staging", 50, "1.0.0"), ("staging", 100, "1.0.0")]
    assert d.w.deploy_target.splits == stable


def test_a_breach_during_a_step_sends_all_traffic_back_to_stable(d: Driver) -> None:
    live_with_stable(d)
    bake_one_step(d)  # now at 50 %
    d.w.bake.report = StepReport(ran=True, ok=False, summary="judge: fail")
    d.tick("staging")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.steps["canary"].status == "aborted"
    assert d.w.deploy_target.calls[-1] == ("1.0.0", "staging")  # restore pins stable at 100 %
    current = d.env("staging").current
    assert current is not None and current.release == "1.0.0"


def test_advance_skips_the_rest_of_a_steps_bake(d: Driver) -> None:
    live_with_stable(d)
    d.command(type="release.advance", release="1.1.0", env="staging", actor="carol")
    assert canary(d, "1.1.0")["percent"] == 50
    d.command(type="release.advance", release="1.1.0", env="staging", actor="carol", reason="ok")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and rollout.reason == "ok"
    assert [p for _, p, _ in d.w.deploy_target.splits] == [10, 50, 100]


def test_abort_rolls_back_with_the_step_and_reason(d: Driver) -> None:
    live_with_stable(d)
    d.command(type="release.abort", release="1.1.0", env="staging", actor="olga", reason="odd")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason == "canary aborted at 10 %: odd"
    assert d.w.deploy_target.calls[-1] == ("1.0.0", "staging")


@pytest.mark.parametrize("kind", ["release.advance", "release.abort"])
def test_advance_and_abort_outside_a_canary_step_are_refused_naming_the_state(
    d: Driver, kind: str
) -> None:
    live_with_stable(d)
    bake_one_step(d)
    bake_one_step(d)
    rec = d.command(type=kind, release="1.1.0", env="staging", actor="olga", reason="x")
    assert rec.outcome == "refused"
    assert "release 1.1.0 in staging is live, not in a canary step" in rec.note
    assert d.rollout("1.1.0", "staging").state is State.LIVE


def test_an_env_without_canary_steps_refuses_advance_while_baking(plane: PlaneConfig) -> None:
    d = Driver(make_world(plane))
    baking(d, "1.0.0")
    rec = d.command(type="release.advance", release="1.0.0", env="staging", actor="olga")
    assert rec.outcome == "refused" and "baking without canary steps" in rec.note
    assert d.w.deploy_target.splits == []


def test_an_inconclusive_step_end_holds_for_a_person_and_alerts_once(d: Driver) -> None:
    live_with_stable(d)
    d.w.bake.report = StepReport(ran=False, ok=False, summary="judge: nodata")
    bake_one_step(d)
    bake_one_step(d)
    assert canary(d, "1.1.0")["percent"] == 10
    assert "inconclusive: judge: nodata" in str(canary(d, "1.1.0")["holding"])
    assert len(d.w.events.alerts) == 1
    d.command(type="release.advance", release="1.1.0", env="staging", actor="carol")
    assert canary(d, "1.1.0")["percent"] == 50 and canary(d, "1.1.0")["holding"] is None


def test_a_failed_split_rolls_back(d: Driver) -> None:
    live_with_stable(d)
    d.w.deploy_target.split_report = StepReport(ran=True, ok=False, summary="403")
    bake_one_step(d)
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason == "traffic split to 50 % failed: 403"


def test_a_repeated_advance_moves_once(d: Driver) -> None:
    live_with_stable(d)
    for _ in range(2):
        d.command("same", type="release.advance", release="1.1.0", env="staging", actor="c")
    assert canary(d, "1.1.0")["percent"] == 50


def test_the_commands_refuse_unknown_fields() -> None:
    body = {"type": "release.abort", "release": "1.0.0", "env": "dev", "actor": "a"}
    with pytest.raises(Refused, match="missing field 'reason'"):
        parse_command(json.dumps(body).encode())
    with pytest.raises(Refused, match="unknown field 'percent'"):
        parse_command(json.dumps({**body, "reason": "x", "percent": 5}).encode())


def test_progress_shows_the_step_and_the_split_for_status(d: Driver) -> None:
    live_with_stable(d)
    bake_one_step(d)
    shown = canary_progress(d.rollout("1.1.0", "staging"), "1.0.0")
    assert shown is not None
    assert (shown["step"], shown["steps"], shown["percent"]) == (2, [10, 50], 50)
    assert shown["split"] == {"1.1.0": 50, "1.0.0": 50}
    assert shown["applied"] is True and shown["holding"] is None
    bake_one_step(d)
    assert canary_progress(d.rollout("1.1.0", "staging"), "1.0.0") is None  # live: no step


def test_a_split_that_lands_after_the_rollback_began_is_undone(d: Driver) -> None:
    from shared.domain.messages import TrafficSplit

    live_with_stable(d)
    d.command(type="release.abort", release="1.1.0", env="staging", actor="olga", reason="odd")
    restores = len(d.w.deploy_target.calls)
    late = TrafficSplit(
        release="1.1.0",
        env="staging",
        attempt=1,
        percent=50,
        report=StepReport(ran=True, ok=True, summary="split set"),
    )
    d.w.bus.handle(late, event_id="late-split", topic="internal")
    assert d.w.deploy_target.calls[restores:] == [("1.0.0", "staging")]
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK


def test_status_prints_the_step_the_split_and_a_hold(d: Driver) -> None:
    from shared.cli import status_view
    from shared.cli.output import console

    live_with_stable(d)
    d.w.bake.report = StepReport(ran=False, ok=False, summary="judge: nodata")
    bake_one_step(d)
    with console.capture() as shown:
        progress = canary_progress(d.rollout("1.1.0", "staging"), "1.0.0")
        assert progress is not None
        console.print(status_view.canary_line("staging", progress), soft_wrap=True)
    text = shown.get()
    assert "staging: canary step 1/2 (10 %): 1.1.0 10 %, 1.0.0 90 %" in text
    assert "held: canary at 10 %: inconclusive: judge: nodata" in text


def test_the_first_release_of_an_env_has_nothing_stable_and_no_steps(d: Driver) -> None:
    baking(d, "1.0.0")
    rollout = d.rollout("1.0.0", "staging")
    assert "canary" not in rollout.steps and d.w.deploy_target.splits == []
    bake_one_step(d)
    assert d.rollout("1.0.0", "staging").state is State.LIVE


def test_the_smoke_tests_check_the_canary_at_its_own_url(d: Driver) -> None:
    live_with_stable(d)  # 1.1.0 deployed without an own URL: the env's URL
    assert d.w.smoke.urls[-1] is None
    d.command(type="release.abort", release="1.1.0", env="staging", actor="olga", reason="next")
    d.command(type="release.create", version="1.2.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="1.2.0", env="staging", actor="alice")
    d.w.uow.store.deployments[("1.2.0", "staging")] = (
        1,
        {"sample-app.version": "1.2.0", OWN_URL: "http://127.0.0.1:9/"},
    )
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    d.step("1.2.0/staging/1/deploy", "SUCCESS")
    assert d.w.smoke.urls[-1] == "http://127.0.0.1:9/"
    assert d.rollout("1.2.0", "staging").steps["canary"].detail["percent"] == 10
