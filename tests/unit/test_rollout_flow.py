"""A release through the whole state machine, driven by the bus with in-memory fakes."""

from __future__ import annotations

import pytest

from shared.config import PlaneConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.states import State
from tests.builds import ci_build
from tests.unit.fakes import Driver, FakeVerifier, make_world

SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    return Driver(make_world(plane))


def create(d: Driver, version: str = "1.2.0", author: str = "alice") -> None:
    rec = d.command(
        type="release.create",
        version=version,
        commit=SHA,
        branch="main",
        author=author,
        artifacts={"hosting": f"sites/avalo/versions/{version}"},
    )
    assert rec.outcome == "applied", rec.note


def promote(d: Driver, version: str, env: str, actor: str = "alice") -> str:
    rec = d.command(type="release.promote", release=version, env=env, actor=actor)
    return rec.outcome


def to_live(d: Driver, version: str, env: str = "staging") -> None:
    """Promote and drive every build and the bake to the end."""
    assert promote(d, version, env) == "applied"
    attempt = d.rollout(version, env).attempt
    for step in ("migrate", "deploy"):
        d.step(f"{version}/{env}/{attempt}/{step}", "WORKING")
        d.step(f"{version}/{env}/{attempt}/{step}", "SUCCESS")
    assert d.rollout(version, env).state is State.BAKING
    d.w.clock.advance(minutes=d.w.bus.plane.env(env).bake_minutes)
    d.tick()
    assert d.rollout(version, env).state is State.LIVE


def states(d: Driver, version: str) -> list[tuple[str | None, str]]:
    return [(h.from_state, h.to_state) for h in d.w.uow.store.history[version]]


def test_a_staging_release_goes_live_through_every_step(d: Driver) -> None:
    create(d)
    to_live(d, "1.2.0")

    assert states(d, "1.2.0") == [
        (None, "pending"),
        ("pending", "gating"),
        ("gating", "migrating"),
        ("migrating", "deploying"),
        ("deploying", "verifying"),
        ("verifying", "baking"),
        ("baking", "live"),
    ]
    env = d.env("staging")
    assert env.current is not None and env.current.release == "1.2.0"
    assert env.current.artifacts == {"hosting": "sites/avalo/versions/1.2.0"}
    assert env.lock is None
    steps = d.rollout("1.2.0", "staging").steps
    assert steps["migrate"].status == "SUCCESS" and steps["migrate"].build_id == "build-1"
    assert steps["deploy"].status == "SUCCESS"
    assert steps["gates"].status == "passed" and steps["smoke"].status == "passed"
    assert [e.to_state for e in d.w.events.published][-1] == "live"
    assert sorted(d.w.builds.started) == ["1.2.0/staging/1/deploy", "1.2.0/staging/1/migrate"]


def test_history_seq_is_gapless_across_environments(d: Driver) -> None:
    create(d)
    to_live(d, "1.2.0", "dev")
    to_live(d, "1.2.0", "staging")
    seqs = [h.seq for h in d.w.uow.store.history["1.2.0"]]
    assert seqs == list(range(1, len(seqs) + 1))


def test_production_waits_for_approval_and_the_author_cannot_approve(d: Driver) -> None:
    create(d, author="alice")
    assert promote(d, "1.2.0", "production") == "applied"
    assert d.rollout("1.2.0", "production").state is State.AWAITING_APPROVAL
    assert d.w.builds.started == {}

    own = d.command(
        type="release.approve", release="1.2.0", env="production", approver="alice", reason="lgtm"
    )
    assert own.outcome == "refused" and "four-eyes" in own.note
    ok = d.command(
        type="release.approve", release="1.2.0", env="production", approver="bob", reason="lgtm"
    )
    assert ok.outcome == "applied"
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.MIGRATING
    assert rollout.steps["approval"].detail["approver"] == "bob"


def test_a_rejected_rollout_frees_the_environment(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "production")
    d.command(
        type="release.reject",
        release="1.2.0",
        env="production",
        approver="bob",
        reason="not this week",
    )
    assert d.rollout("1.2.0", "production").state is State.REJECTED
    assert d.env("production").lock is None


def test_failed_required_gates_block_with_every_reason(d: Driver) -> None:
    d.w.gates.report = StepReport(
        ran=True,
        ok=False,
        summary="2 gates failed",
        checks=(
            CheckResult(name="terms", ok=False, detail="terms of service missing"),
            CheckResult(name="kyc", ok=False, detail="KYC provider not configured"),
            CheckResult(name="cookies", ok=False, required=False, detail="optional"),
        ),
    )
    create(d)
    promote(d, "1.2.0", "production")
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.BLOCKED
    assert rollout.reason == "terms: terms of service missing; kyc: KYC provider not configured"
    assert rollout.steps["gates"].status == "failed"
    assert d.env("production").lock is None


def test_gates_that_did_not_run_are_recorded_as_skipped_not_passed(d: Driver) -> None:
    d.w.gates.report = StepReport.not_run("not implemented", ok=True)
    create(d)
    promote(d, "1.2.0", "staging")
    gates = d.rollout("1.2.0", "staging").steps["gates"]
    assert gates.status == "skipped" and gates.detail["summary"] == "not implemented"


def test_a_failed_migration_fails_the_rollout_before_deploy(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "FAILURE")
    rollout = d.rollout("1.2.0", "staging")
    assert rollout.state is State.FAILED
    assert "build step 0" in (rollout.reason or "")
    assert "1.2.0/staging/1/deploy" not in d.w.builds.started
    assert d.env("staging").lock is None


def test_a_failed_deploy_rolls_back_to_the_last_good_release(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "TIMEOUT")

    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert d.w.deploy_target.calls == [("1.0.0", "staging")]
    env = d.env("staging")
    assert env.current is not None and env.current.release == "1.0.0"
    assert env.lock is None


def test_a_rollback_that_cannot_restore_ends_rollback_failed_and_keeps_the_lock(d: Driver) -> None:
    d.w.deploy_target.report = StepReport(ran=True, ok=False, summary="hosting API 503")
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "FAILURE")
    assert d.rollout("1.1.0", "staging").state is State.ROLLBACK_FAILED
    lock = d.env("staging").lock
    assert lock is not None and lock.release == "1.1.0"

    d.w.deploy_target.report = StepReport(ran=True, ok=True, summary="restored")
    retry = d.command(type="release.rollback", env="staging", reason="retry", actor="ops")
    assert retry.outcome == "applied", retry.note
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK


def test_the_first_release_ever_failing_cannot_be_restored(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    d.step("1.2.0/staging/1/deploy", "FAILURE")
    rollout = d.rollout("1.2.0", "staging")
    assert rollout.state is State.ROLLBACK_FAILED
    assert "nothing to restore" in (rollout.reason or "")


def test_a_failed_smoke_test_rolls_back(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    d.w.smoke.report = StepReport(
        ran=True,
        ok=False,
        summary="1 failed",
        checks=(CheckResult(name="GET /health", ok=False, detail="503 after 3 tries"),),
    )
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    rollout = d.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason == "GET /health: 503 after 3 tries"


def test_a_confirmed_breach_during_the_bake_rolls_back_before_the_bake_ends(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    d.w.bake.report = StepReport(
        ran=True,
        ok=False,
        summary="breach",
        checks=(CheckResult(name="function_error_rate", ok=False, detail="9% > 5% for 3 windows"),),
    )
    d.tick("staging")
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK
    assert d.rollout("1.1.0", "staging").steps["bake"].status == "failed"


def test_the_bake_waits_its_minutes_before_going_live(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    d.step("1.2.0/staging/1/deploy", "SUCCESS")
    d.w.clock.advance(minutes=d.w.bus.plane.env("staging").bake_minutes - 1)
    d.tick()
    assert d.rollout("1.2.0", "staging").state is State.BAKING
    d.w.clock.advance(minutes=1)
    d.tick()
    assert d.rollout("1.2.0", "staging").state is State.LIVE


def test_rolling_back_a_live_environment_restores_the_previous_release(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    to_live(d, "1.1.0")
    assert d.env("staging").previous is not None

    rec = d.command(type="release.rollback", env="staging", reason="bad reviews", actor="ops")
    assert rec.outcome == "applied", rec.note
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK
    env = d.env("staging")
    assert env.current is not None and env.current.release == "1.0.0"
    assert env.previous is None
    again = d.command(type="release.rollback", env="staging", reason="again", actor="ops")
    assert again.outcome == "refused" and "nothing to roll back" in again.note


def test_rollback_to_a_release_without_recorded_artifacts_is_refused(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    to_live(d, "1.1.0")
    rec = d.command(
        type="release.rollback", env="staging", reason="x", actor="ops", to_release="0.9.0"
    )
    assert rec.outcome == "refused"
    assert "no deployed artifacts recorded for release 0.9.0" in rec.note


def test_a_frozen_environment_refuses_promotions_but_not_rollbacks(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    create(d, "1.1.0")
    to_live(d, "1.1.0")
    d.command(type="env.freeze", env="staging", actor="ops", reason="black friday")
    create(d, "1.2.0")
    rec = d.command(type="release.promote", release="1.2.0", env="staging", actor="alice")
    assert rec.outcome == "refused" and "frozen by ops" in rec.note and "black friday" in rec.note
    assert ("1.2.0", "staging") not in d.w.uow.store.rollouts

    back = d.command(type="release.rollback", env="staging", reason="incident", actor="ops")
    assert back.outcome == "applied", back.note
    d.command(type="env.unfreeze", env="staging", actor="ops")
    assert promote(d, "1.2.0", "staging") == "applied"


def test_one_rollout_at_a_time_per_environment_until_the_lease_ends(d: Driver) -> None:
    create(d, "1.0.0")
    create(d, "1.1.0")
    assert promote(d, "1.0.0", "staging") == "applied"
    second = d.command(type="release.promote", release="1.1.0", env="staging", actor="bob")
    assert second.outcome == "refused"
    assert "locked by release 1.0.0" in second.note

    d.w.clock.advance(minutes=d.w.bus.plane.env("staging").lock_lease_minutes + 1)
    assert promote(d, "1.1.0", "staging") == "applied"  # the holder crashed: lease is over


def test_a_redelivered_event_changes_nothing(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    history = len(d.w.uow.store.history["1.2.0"])
    first = d.step("1.2.0/staging/1/migrate", "SUCCESS", event_id="m-1")
    commits = d.w.uow.commits
    again = d.step("1.2.0/staging/1/migrate", "SUCCESS", event_id="m-1")
    assert again == first
    assert d.w.uow.commits == commits  # read, found, rolled back: nothing written
    assert len(d.w.uow.store.history["1.2.0"]) == history + 1 + 0  # deploying only (smoke later)


def test_a_status_that_arrives_late_never_moves_a_step_backwards(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    late = d.step("1.2.0/staging/1/migrate", "WORKING")
    assert late.outcome == "ignored"
    assert d.rollout("1.2.0", "staging").steps["migrate"].status == "SUCCESS"
    assert d.rollout("1.2.0", "staging").state is State.DEPLOYING


def test_a_build_of_an_earlier_attempt_is_ignored(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "FAILURE")
    promote(d, "1.2.0", "staging")  # attempt 2
    stale = d.step("1.2.0/staging/1/migrate", "SUCCESS")
    assert stale.outcome == "ignored" and "attempt 1" in stale.note
    assert d.rollout("1.2.0", "staging").state is State.MIGRATING


def test_creating_a_release_twice_is_a_no_op_and_another_commit_is_refused(d: Driver) -> None:
    create(d)
    again = d.command(
        type="release.create", version="1.2.0", commit=SHA, branch="main", author="alice"
    )
    assert again.outcome == "ignored"
    other = d.command(
        type="release.create", version="1.2.0", commit=OTHER_SHA, branch="main", author="alice"
    )
    assert other.outcome == "refused" and "already exists for commit" in other.note
    assert d.w.uow.store.releases["1.2.0"].commit == SHA


def test_a_green_ci_build_of_main_creates_a_release_and_promotes_it_to_staging(d: Driver) -> None:
    rec = d.build(ci_build("main", SHA, "SUCCESS", "ci-1"))
    assert rec.outcome == "applied", rec.note
    version = f"0.0.0-main.{SHA[:7]}"
    assert d.w.uow.store.releases[version].commit == SHA
    assert d.rollout(version, "staging").state is State.MIGRATING
    again = d.build(ci_build("main", SHA, "SUCCESS", "ci-1"))
    assert again.outcome == "ignored"


def test_a_green_ci_build_of_a_release_branch_starts_production_which_waits(d: Driver) -> None:
    d.build(ci_build("release/2.0.0", SHA, "SUCCESS", "ci-2"))
    assert d.rollout("2.0.0", "production").state is State.AWAITING_APPROVAL


@pytest.mark.parametrize(
    ("branch", "status"),
    [("main", "FAILURE"), ("main", "WORKING"), ("feature/x", "SUCCESS")],
)
def test_other_ci_builds_start_nothing(d: Driver, branch: str, status: str) -> None:
    rec = d.build(ci_build(branch, SHA, status, "ci-3"))
    assert rec.outcome == "ignored"
    assert d.w.uow.store.releases == {}


def test_a_release_branch_that_is_not_semver_is_dead_lettered(d: Driver) -> None:
    rec = d.build(ci_build("release/next", SHA, "SUCCESS", "ci-4"))
    assert rec.outcome == "refused" and "semver" in rec.note


def test_cancel_only_before_anything_is_deployed(d: Driver) -> None:
    create(d)
    promote(d, "1.2.0", "production")
    assert (
        d.command(type="release.cancel", release="1.2.0", env="production", actor="alice").outcome
        == "applied"
    )
    assert d.rollout("1.2.0", "production").state is State.CANCELLED
    promote(d, "1.2.0", "staging")
    refused = d.command(type="release.cancel", release="1.2.0", env="staging", actor="alice")
    assert refused.outcome == "refused" and "migrating" in refused.note


def test_illegal_commands_are_dead_lettered_with_the_reason(d: Driver) -> None:
    create(d)
    rec = d.command(type="release.approve", release="1.2.0", env="staging", approver="bob")
    assert rec.outcome == "refused" and "no rollout" in rec.note
    promote(d, "1.2.0", "staging")
    rec = d.command(type="release.approve", release="1.2.0", env="staging", approver="bob")
    assert rec.outcome == "refused" and "not awaiting approval" in rec.note
    letter = d.w.uow.store.dead_letters[rec.key]
    assert letter.topic == "release-commands" and "release.approve" in letter.payload


def test_an_effect_that_fails_is_finished_by_the_redelivery(d: Driver) -> None:
    create(d)
    calls = {"n": 0}
    real_start = d.w.builds.start

    def flaky(request):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("Cloud Build unavailable")
        return real_start(request)

    d.w.builds.start = flaky  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        d.command(
            event_id="p-1", type="release.promote", release="1.2.0", env="staging", actor="alice"
        )
    assert d.rollout("1.2.0", "staging").state is State.MIGRATING  # committed before the effect
    assert "1.2.0/staging/1/migrate" not in d.w.builds.started

    d.command(
        event_id="p-1", type="release.promote", release="1.2.0", env="staging", actor="alice"
    )  # Pub/Sub redelivers
    assert "1.2.0/staging/1/migrate" in d.w.builds.started
    assert all(p.effects_done for p in d.w.uow.store.processed.values())


def test_the_tick_finishes_an_outbox_a_crash_left_behind(d: Driver) -> None:
    create(d)
    d.w.builds.start = _broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        promote(d, "1.2.0", "staging")
    d.w.builds.start = type(d.w.builds).start.__get__(d.w.builds)  # type: ignore[method-assign]
    d.w.clock.advance(minutes=2)
    d.tick()
    assert "1.2.0/staging/1/migrate" in d.w.builds.started


def _broken(request: object) -> str:
    raise ConnectionError("down")


def test_a_tick_for_an_unknown_environment_is_dead_lettered(d: Driver) -> None:
    rec = d.tick("qa")
    assert rec.outcome == "refused" and "unknown environment 'qa'" in rec.note


def test_what_the_deploy_build_recorded_is_what_a_rollback_restores(d: Driver) -> None:
    create(d, "1.0.0")
    promote(d, "1.0.0", "staging")
    d.step("1.0.0/staging/1/migrate", "SUCCESS")
    d.w.uow.record_deployment("1.0.0", "staging", 1, {"run:api": "api-00007-abc"}, "b")
    d.step("1.0.0/staging/1/deploy", "SUCCESS")
    d.w.clock.advance(minutes=10)
    d.tick()
    current = d.env("staging").current
    assert current is not None
    assert current.artifacts["run:api"] == "api-00007-abc"
    create(d, "1.1.0")
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.w.uow.record_deployment("1.1.0", "staging", 2, {"run:api": "stale-attempt"}, "b")
    d.step("1.1.0/staging/1/deploy", "FAILURE")
    assert d.w.deploy_target.calls == [("1.0.0", "staging")]
    assert d.env("staging").current == current


def test_a_release_turns_its_flags_on_when_live_and_a_rollback_takes_them_back(d: Driver) -> None:
    create(d, "1.0.0")
    to_live(d, "1.0.0")
    rec = d.command(
        type="release.create",
        version="1.1.0",
        commit=SHA,
        branch="main",
        author="alice",
        artifacts={"flags": "videoCalls=10,events=25"},
    )
    assert rec.outcome == "applied", rec.note
    promote(d, "1.1.0", "staging")
    d.step("1.1.0/staging/1/migrate", "SUCCESS")
    d.step("1.1.0/staging/1/deploy", "SUCCESS")
    assert d.w.flags.flags.get("staging") is None  # nothing before live
    d.w.clock.advance(minutes=10)
    d.tick()
    assert d.w.flags.flags["staging"] == {"videoCalls": 10, "events": 25}
    flags = d.rollout("1.1.0", "staging").steps["flags"]
    assert flags.status == "on"
    assert [c["flag"] for c in flags.detail["applied"]] == ["videoCalls", "events"]

    d.w.flags.flags["staging"]["events"] = 50  # someone changed it since: left alone
    d.command(type="release.rollback", env="staging", reason="bad", actor="ops")
    assert d.rollout("1.1.0", "staging").state is State.ROLLED_BACK
    assert d.w.flags.flags["staging"] == {"videoCalls": 0.0, "events": 50}
    assert d.rollout("1.1.0", "staging").steps["flags"].status == "off"


def test_a_release_with_a_bad_flag_spec_is_refused_at_create(d: Driver) -> None:
    rec = d.command(
        type="release.create",
        version="1.0.0",
        commit=SHA,
        branch="main",
        author="alice",
        artifacts={"flags": "videoCalls=140"},
    )
    assert rec.outcome == "refused"
    assert "percent must be in (0, 100]" in rec.note
    protected = d.command(
        type="release.create",
        version="1.0.1",
        commit=SHA,
        branch="main",
        author="alice",
        artifacts={"flags": "panicTracking=50"},
    )
    assert protected.outcome == "refused"
    assert "protected" in protected.note


def test_production_can_require_two_distinct_approvers(plane: PlaneConfig) -> None:
    production = plane.env("production").model_copy(update={"approvals": 2})
    two = plane.model_copy(
        update={"environments": {**plane.environments, "production": production}}
    )
    d = Driver(make_world(two))
    create(d, author="alice")
    promote(d, "1.2.0", "production")
    first = d.command(
        type="release.approve", release="1.2.0", env="production", approver="bob", reason="ok"
    )
    assert first.outcome == "applied"
    assert "1 more approval" in first.note
    assert d.rollout("1.2.0", "production").state is State.AWAITING_APPROVAL
    assert d.rollout("1.2.0", "production").steps["approval"].status == "approved 1/2"
    again = d.command(
        type="release.approve", release="1.2.0", env="production", approver="bob", reason="still ok"
    )
    assert again.outcome == "refused"
    assert "already approved" in again.note
    second = d.command(
        type="release.approve", release="1.2.0", env="production", approver="carol", reason="ok"
    )
    assert second.outcome == "applied"
    rollout = d.rollout("1.2.0", "production")
    assert rollout.state is State.MIGRATING
    assert [a["approver"] for a in rollout.steps["approval"].detail["approvers"]] == [
        "bob",
        "carol",
    ]


def test_a_decision_must_be_signed_by_its_approver(d: Driver) -> None:
    create(d, author="alice")
    promote(d, "1.2.0", "production")
    decide = {"type": "release.approve", "release": "1.2.0", "env": "production"}

    unsigned = d.command(sign=False, **decide, approver="bob")
    assert unsigned.outcome == "refused" and "is not signed" in unsigned.note
    forged = d.command(**decide, approver="bob", id_token="not-a-jwt")
    assert forged.outcome == "refused" and "ID token rejected" in forged.note
    other = d.command(**decide, approver="bob", id_token=FakeVerifier.token_of("carol"))
    assert other.outcome == "refused" and "does not match the signed-in user" in other.note
    assert d.rollout("1.2.0", "production").state is State.AWAITING_APPROVAL
    assert all("not-a-jwt" not in letter.payload for letter in d.w.uow.store.dead_letters.values())

    ok = d.command(event_id="approve-1", **decide, approver="bob")
    assert ok.outcome == "applied"
    # redelivered after its token stopped verifying: still the approval it was, not a refusal
    again = d.command(event_id="approve-1", **decide, approver="bob", id_token="expired")
    assert again.outcome == "applied"
    assert d.rollout("1.2.0", "production").state is State.MIGRATING


def test_unsigned_decisions_are_taken_at_their_word_when_signatures_are_off(
    plane: PlaneConfig,
) -> None:
    control = plane.control.model_copy(update={"signed_approvals": False, "signed_commands": False})
    d = Driver(make_world(plane.model_copy(update={"control": control})))
    create(d, author="alice")
    promote(d, "1.2.0", "production")
    ok = d.command(
        sign=False, type="release.approve", release="1.2.0", env="production", approver="bob"
    )
    assert ok.outcome == "applied"


def test_the_migrate_step_records_what_the_release_applied(d: Driver) -> None:
    d.w.bus.ports.migrations.versions[("1.2.0", "staging")] = ["1.0.0", "1.1.0"]  # type: ignore[attr-defined]
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    rollout = d.rollout("1.2.0", "staging")
    assert rollout.state is State.DEPLOYING
    assert "1.2.0/staging/1/deploy" in d.w.builds.started  # the record never holds up the deploy
    migrate = rollout.steps["migrate"]
    assert migrate.detail["applied"] == {"versions": ["1.0.0", "1.1.0"], "schemaVersion": "1.1.0"}
    assert migrate.status == "SUCCESS" and migrate.build_id is not None
    d.step("1.2.0/staging/1/migrate", "WORKING")  # late: still changes nothing
    assert d.rollout("1.2.0", "staging").steps["migrate"].status == "SUCCESS"


def test_an_unreadable_schema_history_is_recorded_and_the_rollout_goes_on(d: Driver) -> None:
    class Unreadable:
        def applied(self, release: str, env: object) -> dict[str, object]:
            return {"error": "schema history of demo-avalo-staging unreadable: 503"}

    d.w.bus.ports.migrations = Unreadable()
    create(d)
    promote(d, "1.2.0", "staging")
    d.step("1.2.0/staging/1/migrate", "SUCCESS")
    rollout = d.rollout("1.2.0", "staging")
    assert rollout.state is State.DEPLOYING
    assert "unreadable" in rollout.steps["migrate"].detail["applied"]["error"]
