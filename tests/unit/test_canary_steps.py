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


def finish(d: Driver, version: str, status: str = "SUCCESS", event_id: str | None = None) -> None:
    """The finish build (Hosting, rules and indexes after the canary) reports `status`."""
    d.step(f"{version}/staging/1/finish", status, event_id)


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
    assert rollout.state is State.BAKING  # 100 % to it; Hosting, rules and indexes next
    assert rollout.steps["canary"].status == "passed"
    assert rollout.steps["finish"].status == "STARTING"
    assert d.w.builds.started["1.1.0/staging/1/deploy"].part == "split"
    assert d.w.builds.started["1.1.0/staging/1/finish"].part == "rest"
    finish(d, "1.1.0")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and rollout.reason == "canary passed [10, 50]"
    assert rollout.steps["bake"].status == "passed"
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
    assert d.rollout("1.1.0", "staging").steps["finish"].detail["advancedBy"] == "carol"
    finish(d, "1.1.0")
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
    assert "has passed its canary steps and is deploying what cannot split" in rec.note
    finish(d, "1.1.0")
    rec = d.command(type=kind, release="1.1.0", env="staging", actor="olga", reason="y")
    assert rec.outcome == "refused"
    assert "release 1.1.0 in staging is live, not in a canary step" in rec.note
    assert d.rollout("1.1.0", "staging").state is State.LIVE


def test_an_env_without_canary_steps_refuses_advance_while_baking(plane: PlaneConfig) -> None:
    d = Driver(make_world(plane))
    baking(d, "1.0.0")
    rec = d.command(type="release.advance", release="1.0.0", env="staging", actor="olga")
    assert rec.outcome == "refused" and "baking without canary steps" in rec.note
    assert d.w.deploy_target.splits == []


def holding(d: Driver) -> Driver:
    """`d`'s world with staging holding an inconclusive bake for a person."""
    envs = dict(d.w.bus.plane.environments)
    envs["staging"] = envs["staging"].model_copy(update={"on_inconclusive": "pause"})
    return Driver(make_world(d.w.bus.plane.model_copy(update={"environments": envs})))


def test_an_inconclusive_step_end_holds_for_a_person_and_alerts_once(d: Driver) -> None:
    d = holding(d)
    live_with_stable(d)
    d.w.bake.report = StepReport(ran=False, ok=False, summary="judge: nodata")
    bake_one_step(d)
    bake_one_step(d)
    assert canary(d, "1.1.0")["percent"] == 10
    assert "inconclusive: judge: nodata" in str(canary(d, "1.1.0")["holding"])
    assert len(d.w.events.alerts) == 1
    d.command(type="release.advance", release="1.1.0", env="staging", actor="carol")
    assert canary(d, "1.1.0")["percent"] == 50 and canary(d, "1.1.0")["holding"] is None


def test_where_inconclusive_bakes_promote_an_unjudged_step_goes_on_recorded_as_such(
    d: Driver,
) -> None:
    live_with_stable(d)  # staging's on_inconclusive is "promote" (not production)
    d.w.bake.report = StepReport(ran=False, ok=False, summary="judge: nodata")
    bake_one_step(d)
    assert canary(d, "1.1.0")["percent"] == 50 and canary(d, "1.1.0")["holding"] is None
    assert canary(d, "1.1.0")["inconclusive"] == ["canary at 10 %: inconclusive: judge: nodata"]
    d.w.bake.report = StepReport(ran=True, ok=True, summary="judge: pass")
    bake_one_step(d)
    finish(d, "1.1.0")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE
    assert rollout.steps["bake"].status == "inconclusive"  # never recorded as passed
    assert rollout.reason == (
        "canary ended [10, 50], unjudged: canary at 10 %: inconclusive: judge: nodata"
    )
    assert d.w.events.alerts == []  # nobody is asked to decide


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
    shown = canary_progress(d.rollout("1.1.0", "staging"), "1.0.0")
    assert shown is not None and shown["split"] == {"1.1.0": 100}
    assert shown["finishing"] == {"status": "STARTING", "buildId": None}
    finish(d, "1.1.0", "WORKING")
    shown = canary_progress(d.rollout("1.1.0", "staging"), "1.0.0")
    assert shown is not None and shown["finishing"]["status"] == "WORKING"
    from shared.cli import status_view

    line = status_view.canary_line("staging", shown)
    assert line.startswith("[bold]staging[/]: canary passed [10, 50]: 1.1.0 100 %; finish build")
    assert line.endswith("WORKING (Hosting, Firestore rules and indexes)")
    finish(d, "1.1.0")
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

    d = holding(d)
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


# --- the finish build: what cannot split traffic goes out after the canary passed ------------


def finishing(d: Driver) -> None:
    """1.1.0 passed both steps: it serves 100 % and its finish build has started."""
    live_with_stable(d)
    bake_one_step(d)
    bake_one_step(d)
    assert d.rollout("1.1.0", "staging").steps["finish"].status == "STARTING"


def test_the_finish_builds_artifacts_join_what_the_live_release_restores(d: Driver) -> None:
    baking(d, "1.0.0")
    bake_one_step(d)
    bake_one_step(d)
    d.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="1.1.0", env="staging", actor="alice")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    functions = {"run:europe-west1/api": "api-00002"}
    d.w.uow.record_deployment("1.1.0", "staging", 1, functions, "build-d")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    bake_one_step(d)
    bake_one_step(d)
    hosting = {"hosting:avalo-app": "sites/avalo-app/versions/v2"}
    d.w.uow.record_deployment("1.1.0", "staging", 1, hosting, "build-f", step="finish")
    finish(d, "1.1.0")
    current = d.env("staging").current
    assert current is not None and current.release == "1.1.0"
    assert current.artifacts == {**functions, **hosting}  # what a later rollback restores
    assert d.rollout("1.1.0", "staging").steps["deploy"].detail["artifacts"] == functions
    assert d.rollout("1.1.0", "staging").steps["finish"].detail["artifacts"] == hosting


def test_a_failed_finish_build_rolls_back_to_stable(d: Driver) -> None:
    finishing(d)
    restores = len(d.w.deploy_target.calls)
    finish(d, "1.1.0", "FAILURE")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason is not None
    assert rollout.reason.startswith("after the canary passed, the finish build failed: build")
    assert rollout.steps["finish"].status == "FAILURE"
    assert rollout.steps["bake"].status == "failed"
    # the restore puts all of the stable release back: functions at 100 %, and its Hosting,
    # rules and indexes over whatever the finish build got out
    assert d.w.deploy_target.calls[restores:] == [("1.0.0", "staging")]
    current = d.env("staging").current
    assert current is not None and current.release == "1.0.0"


def test_repeated_and_reordered_finish_build_events_move_once(d: Driver) -> None:
    finishing(d)
    finish(d, "1.1.0", "WORKING")
    finish(d, "1.1.0", "SUCCESS", event_id="success")
    finish(d, "1.1.0", "SUCCESS", event_id="success")  # the same delivery again
    finish(d, "1.1.0", "SUCCESS")  # another copy of the same status
    finish(d, "1.1.0", "QUEUED")  # late: never moves a step backwards
    finish(d, "1.1.0", "FAILURE")  # a final status after the final one changes nothing
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and rollout.steps["finish"].status == "SUCCESS"
    moves = [e.to_state for e in d.w.uow.store.history["1.1.0"] if e.env == "staging"]
    assert moves.count(State.LIVE) == 1


def test_the_finish_build_starts_once_for_repeated_100_percent_splits(d: Driver) -> None:
    from shared.domain.messages import TrafficSplit

    finishing(d)
    again = TrafficSplit(
        release="1.1.0",
        env="staging",
        attempt=1,
        percent=100,
        report=StepReport(ran=True, ok=True, summary="split set"),
    )
    d.w.bus.handle(again, event_id="split-again", topic="internal")
    assert d.rollout("1.1.0", "staging").steps["finish"].status == "STARTING"
    assert list(d.w.builds.started).count("1.1.0/staging/1/finish") == 1
    assert d.w.builds.calls == 5  # 1.0.0: migrate, deploy; 1.1.0: migrate, deploy, finish
    finish(d, "1.1.0")
    assert d.rollout("1.1.0", "staging").state is State.LIVE


def test_a_failed_100_percent_split_rolls_back_without_the_finish_build(d: Driver) -> None:
    live_with_stable(d)
    bake_one_step(d)
    d.w.deploy_target.split_report = StepReport(ran=True, ok=False, summary="403")
    bake_one_step(d)
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason == "after the canary passed, traffic split to 100 % failed: 403"
    assert rollout.steps["finish"].status == "failed"
    assert "1.1.0/staging/1/finish" not in d.w.builds.started


def test_the_bake_keeps_watching_while_the_finish_build_runs(d: Driver) -> None:
    finishing(d)
    d.w.clock.advance(minutes=30)  # the bake's time is long over: it still waits for the build
    d.tick("staging")
    assert d.rollout("1.1.0", "staging").state is State.BAKING
    d.w.bake.report = StepReport(ran=True, ok=False, summary="api p95 over budget")
    d.tick("staging")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK and rollout.reason == "api p95 over budget"


def test_a_finish_build_that_succeeds_after_the_rollback_began_is_undone(d: Driver) -> None:
    finishing(d)
    d.command(type="release.rollback", env="staging", actor="olga", reason="not today")
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK
    restores = len(d.w.deploy_target.calls)
    finish(d, "1.1.0")  # its Hosting, rules and indexes went out after the restore
    assert d.w.deploy_target.calls[restores:] == [("1.0.0", "staging")]
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK


def pausing(plane: PlaneConfig) -> Driver:
    """Staging with canary steps whose bake pauses at the first unreadable metrics."""
    envs = dict(plane.environments)
    envs["staging"] = envs["staging"].model_copy(
        update={"canary": (10, 50), "metrics_error_limit": 1, "on_metrics_error": "pause"}
    )
    return Driver(make_world(plane.model_copy(update={"environments": envs})))


def pause_the_bake(d: Driver) -> None:
    real = d.w.bake.evaluate

    def unreadable(*args: object, **kwargs: object) -> StepReport:
        raise ConnectionError("monitoring: 503 unavailable")

    d.w.bake.evaluate = unreadable  # type: ignore[method-assign,assignment]
    d.tick("staging")
    assert d.rollout("1.1.0", "staging").steps["bake"].status == "paused"
    d.w.bake.evaluate = real  # type: ignore[method-assign]


def test_a_paused_bake_approved_in_a_canary_step_passes_the_canary(plane: PlaneConfig) -> None:
    """Approving a paused bake takes it live: in a canary step that means 100 %, then the
    finish build, then live (not live with the traffic still split)."""
    d = pausing(plane)
    live_with_stable(d)
    pause_the_bake(d)
    d.command(type="release.approve", release="1.1.0", env="staging", approver="carol")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.BAKING and rollout.steps["canary"].status == "passed"
    assert [p for _, p, _ in d.w.deploy_target.splits] == [10, 100]
    assert rollout.steps["finish"].status == "STARTING"
    finish(d, "1.1.0")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and rollout.reason == "paused bake approved"


def test_a_paused_bake_approved_during_the_finish_goes_live_with_the_build(
    plane: PlaneConfig,
) -> None:
    d = pausing(plane)
    finishing(d)
    pause_the_bake(d)
    d.command(type="release.approve", release="1.1.0", env="staging", approver="carol")
    assert d.rollout("1.1.0", "staging").state is State.BAKING  # Hosting… not out yet
    finish(d, "1.1.0")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and rollout.steps["bake"].status == "approved"


def test_an_env_without_canary_steps_deploys_everything_in_one_build(plane: PlaneConfig) -> None:
    d = Driver(make_world(plane))
    baking(d, "1.0.0")
    bake_one_step(d)
    assert d.rollout("1.0.0", "staging").state is State.LIVE
    baking(d, "1.1.0")
    bake_one_step(d)
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.LIVE and "finish" not in rollout.steps
    assert d.w.builds.started["1.1.0/staging/1/deploy"].part == "all"
    assert "part" not in rollout.steps["deploy"].detail
    assert not any(key.endswith("/finish") for key in d.w.builds.started)


def test_an_envs_first_release_with_canary_steps_deploys_everything_at_once(d: Driver) -> None:
    baking(d, "1.0.0")
    assert d.w.builds.started["1.0.0/staging/1/deploy"].part == "all"
    bake_one_step(d)
    rollout = d.rollout("1.0.0", "staging")
    assert rollout.state is State.LIVE and "finish" not in rollout.steps
