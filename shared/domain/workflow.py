"""What each command and event does to a rollout: pure rules over a `Change`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from shared.domain import canary
from shared.domain.builds import (
    CI_BUILD_ARTIFACT,
    SBOM_ARTIFACT,
    SBOM_REPORT,
    SBOM_STEP,
    Build,
    CiOrigin,
    StepBuild,
    rank,
)
from shared.domain.change import RELEASE_FLAGS, Change, restore_target
from shared.domain.commands import (
    SEMVER,
    AbortCanary,
    AdvanceCanary,
    ApproveRelease,
    CancelRollout,
    CreateRelease,
    PromoteRelease,
    RejectRelease,
    RollbackEnv,
)
from shared.domain.messages import (
    BackupCompleted,
    BackupStarted,
    BakeVerdict,
    FlagsSet,
    GatesCompleted,
    LiveBreach,
    MigrationsRecorded,
    RestoreCompleted,
    SmokeCompleted,
    StepReport,
)
from shared.domain.model import EnvironmentState, Release, Rollout
from shared.domain.states import IN_FLIGHT, State
from shared.errors import Refused
from shared.flags.releases import parse_requirements

CANCELLABLE = frozenset({State.PENDING, State.GATING, State.AWAITING_APPROVAL})
ROLLBACKABLE = frozenset(
    {State.DEPLOYING, State.VERIFYING, State.BAKING, State.LIVE, State.ROLLBACK_FAILED}
)
STAGING, PRODUCTION, MAIN = "staging", "production", "main"
RELEASE_BRANCH_PREFIX = "release/"


# -- releases ------------------------------------------------------------------------------


def create_release(existing: Release | None, cmd: CreateRelease, now: datetime) -> Release | None:
    """The release to write, or None when the same release already exists (a repeat)."""
    if existing is not None:
        if existing.commit == cmd.commit:
            return None
        raise Refused(
            f"release {cmd.version} already exists for commit {existing.commit}; "
            f"refusing commit {cmd.commit} (pick a new version)"
        )
    if RELEASE_FLAGS in (cmd.artifacts or {}):
        parse_requirements((cmd.artifacts or {})[RELEASE_FLAGS])  # a bad spec is refused now
    return Release(
        version=cmd.version,
        commit=cmd.commit,
        branch=cmd.branch,
        author=cmd.author,
        created_at=now,
        artifacts=cmd.artifacts or {},
        committed_at=cmd.committed_at,
    )


def branch_release(branch: str, commit: str) -> tuple[str, str] | None:
    """The release a green CI build of `branch` creates and the env it goes to: `main` →
    `0.0.0-main.<sha7>` in staging, `release/X.Y.Z` → `X.Y.Z` in production; else None."""
    if branch == MAIN:
        return f"0.0.0-main.{commit[:7]}", STAGING
    if branch.startswith(RELEASE_BRANCH_PREFIX):
        return branch.removeprefix(RELEASE_BRANCH_PREFIX), PRODUCTION
    return None


def ci_release(build: Build, ci: CiOrigin) -> tuple[CreateRelease, str] | None:
    """A successful CI build of `main` or `release/X.Y.Z`: the release to create and where to."""
    target = branch_release(ci.branch, ci.commit) if build.succeeded else None
    if target is None:
        return None
    version, env = target
    if not re.match(SEMVER, version):
        raise Refused(f"ci build {build.id}: branch {ci.branch} does not name a semver version")
    author = build.substitutions.get("_AUTHOR") or "cloud-build-ci"
    committed = build.commit_time(ci.commit)  # none recorded: lead time from the creation
    cmd = CreateRelease(
        type="release.create",
        version=version,
        commit=ci.commit,
        branch=ci.branch,
        author=author,
        artifacts=ci_artifacts(build),
        committed_at=committed.committed_at if committed else None,
    )
    return cmd, env


def ci_artifacts(build: Build) -> dict[str, str]:
    """What a release made by a CI build links: that build (the gates read it) and the bill of
    materials its `sbom` step made, where the build uploaded it."""
    out = {CI_BUILD_ARTIFACT: build.id}
    sbom = build.uploaded(SBOM_REPORT) if build.step_succeeded(SBOM_STEP) else None
    if sbom:
        out[SBOM_ARTIFACT] = sbom
    return out


# -- commands on a rollout -----------------------------------------------------------------


def promote(c: Change, cmd: PromoteRelease) -> None:
    if c.env.frozen is not None:
        f = c.env.frozen
        raise Refused(
            f"environment {cmd.env} is frozen by {f.by} since {f.since.isoformat()} "
            f"({f.reason}); promotions are refused until it is unfrozen"
        )
    r = c.rollout
    if r is not None and r.state in IN_FLIGHT | {State.LIVE, State.ROLLBACK_FAILED}:
        raise Refused(f"{c.what} is already {r.state} (attempt {r.attempt})")
    c.start(cmd.actor)
    c.move(State.GATING, actor=cmd.actor)


def _awaiting(c: Change) -> Rollout:
    r = c.current()
    if r.state is not State.AWAITING_APPROVAL:
        raise Refused(f"{c.what} is {r.state}, not awaiting approval")
    return r


def _four_eyes(c: Change, cmd: ApproveRelease) -> None:
    if cmd.approver == c.release.author:
        raise Refused(
            f"{c.what}: {cmd.approver} wrote this release and may not approve it (four-eyes)"
        )


def paused_bake(r: Rollout) -> bool:
    step = r.steps.get("bake")
    return r.state is State.BAKING and step is not None and step.status == "paused"


def approve(c: Change, cmd: ApproveRelease) -> None:
    if c.rollout is not None and paused_bake(c.rollout):
        _resume_paused_bake(c, cmd)
        return
    r = _awaiting(c)
    _four_eyes(c, cmd)
    step = r.steps.get("approval")
    approvers: list[dict[str, str]] = list(step.detail.get("approvers", [])) if step else []
    if any(a["approver"] == cmd.approver for a in approvers):
        raise Refused(f"{c.what}: {cmd.approver} has already approved it")
    approvers.append({"approver": cmd.approver, "reason": cmd.reason, "at": c.now.isoformat()})
    needed = c.cfg.approvals
    detail = {"approver": cmd.approver, "reason": cmd.reason, "approvers": approvers}
    if len(approvers) < needed:
        c.set_step("approval", f"approved {len(approvers)}/{needed}", detail=detail)
        c.note = f"{cmd.approver} approved; {needed - len(approvers)} more approval(s) needed"
        return
    c.set_step("approval", "approved", finished_at=c.now, detail=detail)
    c.move(State.MIGRATING, actor=cmd.approver, reason=cmd.reason or None)


def _resume_paused_bake(c: Change, cmd: ApproveRelease) -> None:
    """A person judged the paused bake good: it goes live, their name and reason recorded."""
    _four_eyes(c, cmd)
    step = c.current().steps["bake"]
    detail = {"approvedBy": cmd.approver, "approvedReason": cmd.reason, "pausedReason": step.reason}
    c.set_step("bake", "approved", finished_at=c.now, detail=detail)
    why = f"paused bake approved: {cmd.reason}" if cmd.reason else "paused bake approved"
    if canary.running(c) is not None:  # paused in a canary step: the canary passes now
        canary.passed(c, actor=cmd.approver, reason=why)
        return
    if canary.finishing(c) is not None:  # after a canary: live once Hosting, rules… are out
        c.note = f"{c.what}: paused bake approved; live when the finish build succeeds"
        return
    c.move(State.LIVE, actor=cmd.approver, reason=why)


def reject(c: Change, cmd: RejectRelease) -> None:
    _awaiting(c)
    detail = {"approver": cmd.approver, "reason": cmd.reason}
    c.set_step("approval", "rejected", finished_at=c.now, reason=cmd.reason, detail=detail)
    c.move(State.REJECTED, actor=cmd.approver, reason=cmd.reason or "rejected")


def cancel(c: Change, cmd: CancelRollout) -> None:
    r = c.current()
    if r.state not in CANCELLABLE:
        hint = "roll it back instead" if r.state in ROLLBACKABLE else "it cannot be cancelled now"
        raise Refused(f"{c.what} is {r.state}: {hint}")
    c.move(State.CANCELLED, actor=cmd.actor, reason="cancelled")


def advance_canary(c: Change, cmd: AdvanceCanary) -> None:
    canary.in_step(c)
    canary.advance(c, actor=cmd.actor, reason=cmd.reason or None)


def abort_canary(c: Change, cmd: AbortCanary) -> None:
    canary.abort(c, actor=cmd.actor, reason=cmd.reason)


def rollout_to_roll_back(env: EnvironmentState) -> tuple[str, int | None] | None:
    """Which rollout a `release.rollback` of `env` means: the one in flight, else the live one."""
    if env.lock is not None:
        return env.lock.release, env.lock.attempt
    if env.current is not None:
        return env.current.release, None
    return None


def rollback(c: Change, cmd: RollbackEnv) -> None:
    r = c.current()
    if r.state not in ROLLBACKABLE:
        hint = "cancel it instead" if r.state in CANCELLABLE else "wait for it to finish"
        raise Refused(f"{c.what} is {r.state}: nothing deployed to roll back; {hint}")
    target = restore_target(c.env, r, cmd.to_release)
    if target is None:
        raise Refused(f"no earlier release is recorded in {cmd.env}: nothing to roll back to")
    if paused_bake(r):  # a person judged the paused bake: recorded on the step too
        detail = {"rolledBackBy": cmd.actor, "rolledBackReason": cmd.reason}
        c.set_step("bake", "rolled_back", finished_at=c.now, detail=detail)
    c.begin_rollback(target, actor=cmd.actor, reason=cmd.reason)


# -- events from builds and steps ----------------------------------------------------------

# A rollout being (or already) rolled back: what lands late must not stay serving.
_UNDONE = frozenset({State.ROLLING_BACK, State.ROLLED_BACK})

_BUILD_STEP_STATE = {
    "migrate": State.MIGRATING,
    "deploy": State.DEPLOYING,
    "finish": State.BAKING,
}


def build_progress(
    c: Change,
    origin: StepBuild,
    build: Build,
    artifacts: dict[str, str] | None = None,
    migrations: dict[str, Any] | None = None,
) -> None:
    """Record a build status; a final one moves the rollout on. Never moves backwards.

    `artifacts` are what a successful deploy build recorded as now serving: the references a
    later rollback of this environment restores. `migrations`: what a successful migrate
    build applied (evidence, recorded by the same transition).
    """
    r = c.current()
    if r.attempt != origin.attempt:
        c.note = f"build {build.id} belongs to attempt {origin.attempt}, rollout is on {r.attempt}"
        return
    record = r.steps.get(origin.step)
    if record is not None and record.build_id not in (None, build.id):
        c.note = f"build {build.id} is not the step's build {record.build_id}"
        return
    if record is not None and rank(record.status) >= rank(build.status) and record.build_id:
        c.note = f"{origin.step} already at {record.status}; {build.status} changes nothing"
        return
    c.set_step(
        origin.step,
        build.status,
        build_id=build.id,
        finished_at=c.now if build.final else None,
        reason=None if build.succeeded or not build.final else build.failure_reason(),
        detail={
            **({"logUrl": build.log_url} if build.log_url else {}),
            **({"artifacts": artifacts} if artifacts and build.succeeded else {}),
            **({"applied": migrations} if migrations is not None and build.succeeded else {}),
        },
    )
    if origin.step == "finish" and build.succeeded and r.state in _UNDONE:
        canary.restore_again(c, f"the finish build {build.id}")
        return
    if not build.final or r.state is not _BUILD_STEP_STATE[origin.step]:
        return
    if origin.step == "finish":
        canary.finish_built(c, build)
    elif build.succeeded:
        nxt = State.DEPLOYING if origin.step == "migrate" else State.VERIFYING
        c.move(nxt, actor="cloud-build")
    elif origin.step == "migrate":
        c.move(State.FAILED, actor="cloud-build", reason=build.failure_reason())
    else:
        target = restore_target(c.env, r, None)
        c.begin_rollback(target, actor="cloud-build", reason=build.failure_reason())


def _step_status(report: StepReport) -> str:
    return "skipped" if not report.ran else ("passed" if report.ok else "failed")


def _report_detail(report: StepReport) -> dict[str, object]:
    return {
        "summary": report.summary,
        "ran": report.ran,
        "checks": [chk.model_dump() for chk in report.checks],
        **report.detail,
    }


def _expecting(
    c: Change,
    state: State,
    msg: GatesCompleted
    | SmokeCompleted
    | RestoreCompleted
    | BakeVerdict
    | BackupCompleted
    | BackupStarted,
) -> bool:
    r = c.current()
    if r.attempt != msg.attempt or r.state is not state:
        c.note = f"{msg.kind} result for attempt {msg.attempt} ignored: rollout is {r.state}"
        return False
    return True


def _failure_reason(report: StepReport) -> str:
    return "; ".join(report.failures()) or report.summary


def gates_completed(c: Change, msg: GatesCompleted) -> None:
    if not _expecting(c, State.GATING, msg):
        return
    report = msg.report
    failed = report.ran and not report.ok
    c.set_step(
        "gates",
        _step_status(report),
        finished_at=c.now,
        reason=_failure_reason(report) if failed else None,
        detail=_report_detail(report),
    )
    if failed:
        c.move(State.BLOCKED, actor="gates", reason=_failure_reason(report))
    elif c.cfg.approval_required:
        c.set_step("approval", "waiting")
        c.move(State.AWAITING_APPROVAL, actor="gates")
    else:
        c.move(State.MIGRATING, actor="gates")


def smoke_completed(c: Change, msg: SmokeCompleted) -> None:
    if not _expecting(c, State.VERIFYING, msg):
        return
    report = msg.report
    failed = report.ran and not report.ok
    c.set_step("smoke", _step_status(report), finished_at=c.now, detail=_report_detail(report))
    if failed:
        target = restore_target(c.env, c.current(), None)
        c.begin_rollback(target, actor="smoke", reason=_failure_reason(report))
    else:
        c.move(State.BAKING, actor="smoke")
        canary.start(c)


def backup_completed(c: Change, msg: BackupCompleted) -> None:
    """The backup before migrating: done, the migrate build starts; failed, nothing was
    changed yet, so the rollout fails with the reason (promote it again to retry)."""
    if not _expecting(c, State.MIGRATING, msg):
        return
    step = c.current().steps.get("backup")
    if step is None or step.status != "running":
        # a second backup of the same attempt (its runner was carried out again): the first
        # one's result already moved the rollout on
        c.note = f"backup result ignored: the backup step is {step.status if step else 'missing'}"
        return
    report = msg.report
    if report.ran and report.ok:
        c.set_step("backup", "done", finished_at=c.now, detail=_report_detail(report))
        c.start_build("migrate")
        return
    reason = f"backup failed: {report.summary}"
    c.set_step("backup", "failed", finished_at=c.now, reason=reason, detail=_report_detail(report))
    c.move(State.FAILED, actor="backup", reason=reason)


def backup_started(c: Change, msg: BackupStarted) -> None:
    """A managed export runs on: the step records where and its operation (the tick polls
    it), and the lock is renewed for it. Each tick's poll that finds it still running says so
    again, renewing the lease as a bake's ticks do, so an export longer than the lease keeps
    the env's lock."""
    if not _expecting(c, State.MIGRATING, msg):
        return
    step = c.current().steps.get("backup")
    if step is None or step.status != "running":
        c.note = f"backup started for a step that is {step.status if step else 'missing'}"
        return
    c.set_step("backup", "running", detail=_report_detail(msg.report))
    c.renew_lock()


def restore_completed(c: Change, msg: RestoreCompleted) -> None:
    if not _expecting(c, State.ROLLING_BACK, msg):
        return
    report = msg.report
    ok = report.ran and report.ok
    c.set_step(
        "rollback",
        "restored" if ok else "failed",
        finished_at=c.now,
        reason=None if ok else report.summary,
        detail=_report_detail(report),
    )
    if ok:
        c.move(State.ROLLED_BACK, actor="deploy-target", reason=c.current().reason)
    else:
        c.move(State.ROLLBACK_FAILED, actor="deploy-target", reason=report.summary)


def bake_verdict(c: Change, msg: BakeVerdict) -> None:
    """One tick of a bake. It renews the rollout's lock (a bake is never orphaned), counts a
    metrics source that cannot be read (a good read resets the count) and acts at the limit;
    otherwise a confirmed breach rolls back and the end of the bake goes live."""
    if not _expecting(c, State.BAKING, msg):
        return
    c.renew_lock()
    step = c.current().steps.get("bake")
    if step is not None and step.status == "paused":
        c.note = f"{c.what}: bake paused ({step.reason}); waits for a person"
        return
    errors = int(step.detail.get("consecutiveErrors", 0)) if step else 0
    if msg.error is not None:
        _bake_error(c, msg, errors + 1)
        return
    if errors:
        c.set_step("bake", "running", detail={"consecutiveErrors": 0})
    report = msg.report
    if report.ran and not report.ok:
        c.set_step("bake", "failed", finished_at=c.now, detail=_report_detail(report))
        canary.ended(c)
        target = restore_target(c.env, c.current(), None)
        c.begin_rollback(target, actor="monitoring", reason=_failure_reason(report))
    elif canary.running(c) is not None:
        c.set_step("bake", "running", detail=_report_detail(report))
        canary.on_tick(c, report)
    elif canary.finishing(c) is not None:  # still watched; live when the finish build is done
        kept = "approved" if step is not None and step.status == "approved" else "running"
        c.set_step("bake", kept, detail=_report_detail(report))
        c.note = f"{c.what}: the canary passed; waiting for the finish build"
    elif msg.finished and not report.ran:
        inconclusive(c, report)
    elif msg.finished:
        c.set_step("bake", "passed", finished_at=c.now, detail=_report_detail(report))
        c.move(State.LIVE, actor="monitoring")


def inconclusive(c: Change, report: StepReport) -> None:
    """A bake that ended with too little evidence to judge (whatever judged it: too little
    traffic, a marginal canary). Never a pass: it goes live recorded as inconclusive, or, with
    `on_inconclusive = "pause"` (production's default), waits in `baking` for a person:
    `release approve` takes it live, `release rollback` rolls it back. People hear of it once."""
    reason = f"bake inconclusive: {report.summary}"
    if c.cfg.inconclusive_action == "promote":
        c.set_step("bake", "inconclusive", finished_at=c.now, detail=_report_detail(report))
        c.move(State.LIVE, actor="monitoring", reason=report.summary)
        return
    detail = {**_report_detail(report), "pausedFor": "inconclusive"}
    c.set_step("bake", "paused", reason=reason, detail=detail)
    key = f"{c.release.version}/{c.cfg.name}/{c.current().attempt}/bake-paused"
    c.alert(key, f"bake paused for a person: {reason}", report)
    c.note = f"{c.what}: bake paused: {reason}; approve it to go live or roll it back"


def _bake_error(c: Change, msg: BakeVerdict, errors: int) -> None:
    limit = c.cfg.metrics_error_limit
    detail = {"consecutiveErrors": errors, "lastError": msg.error}
    if errors < limit:
        c.set_step("bake", "running", detail=detail)
        c.note = f"{c.what}: metrics unreadable ({errors}/{limit}): {msg.error}"
        return
    reason = f"metrics unreadable {errors} ticks in a row (limit {limit}): {msg.error}"
    if c.cfg.on_metrics_error == "pause":
        c.set_step("bake", "paused", reason=reason, detail=detail)
        key = f"{c.release.version}/{c.cfg.name}/{c.current().attempt}/bake-paused"
        c.alert(key, f"bake paused: {reason}", msg.report)
        c.note = f"{c.what}: bake paused: {reason}"
        return
    c.set_step("bake", "failed", finished_at=c.now, reason=reason, detail=detail)
    canary.ended(c)
    target = restore_target(c.env, c.current(), None)
    c.begin_rollback(target, actor="monitoring", reason=reason)


def live_breach(c: Change, msg: LiveBreach) -> None:
    """A confirmed breach while live: record it and alert once per incident; roll back too
    when the env says so (`live_breach = "rollback"`) and there is something to go back to.

    The watch sees a breach that goes on tick after tick; a run that starts within a window
    of the one recorded is the same incident: its extent is updated, nobody is alerted again.
    """
    r = c.current()
    if r.attempt != msg.attempt or r.state is not State.LIVE:
        c.note = f"live breach for attempt {msg.attempt} ignored: rollout is {r.state}"
        return
    step = timedelta(seconds=msg.window_seconds)
    seen = r.steps.get("watch")
    last_end = seen.detail.get("breachEnd") if seen and seen.status == "breach" else None
    ongoing = (
        isinstance(last_end, str) and msg.breach_start <= datetime.fromisoformat(last_end) + step
    )
    reason = _failure_reason(msg.report)
    first = seen.detail.get("breachStart") if ongoing and seen else msg.breach_start.isoformat()
    detail = {
        **_report_detail(msg.report),
        "breachStart": first,
        "breachEnd": msg.breach_end.isoformat(),
    }
    c.set_step("watch", "breach", finished_at=c.now, reason=reason, detail=detail)
    if ongoing:
        c.note = f"{c.what}: the breach since {first} goes on"
        return
    c.alert(f"{c.release.version}/{c.cfg.name}/{r.attempt}/{first}", reason, msg.report)
    if c.cfg.live_breach != "rollback":
        c.note = f"{c.what}: breach while live, alerted (live_breach = alert)"
        return
    holder = c.env.holder(c.now)
    target = restore_target(c.env, r, None)
    if holder is not None or target is None:
        why = f"{holder.release} holds the lock" if holder else "no earlier release is recorded"
        c.note = f"{c.what}: breach while live, alerted; not rolled back: {why}"
        return
    c.begin_rollback(target, actor="monitoring", reason=f"while live: {reason}")


def migrations_recorded(c: Change, msg: MigrationsRecorded) -> None:
    r = c.current()
    step = r.steps.get("migrate")
    if r.attempt != msg.attempt or step is None:
        c.note = f"migrations of attempt {msg.attempt} ignored: rollout is on {r.attempt}"
        return
    c.set_step(
        "migrate",
        step.status,
        build_id=step.build_id,  # kept: a late build status is judged against it
        finished_at=step.finished_at,
        reason=step.reason,
        detail={"applied": msg.applied},
    )
    versions = msg.applied.get("versions")
    c.note = (
        f"migrations applied: {', '.join(versions) or 'none'}"
        if versions is not None
        else (f"migrations not recorded: {msg.applied.get('error')}")
    )


def flags_set(c: Change, msg: FlagsSet) -> None:
    """Record what the release did to flags: a rollback takes back exactly these."""
    r = c.current()
    if r.attempt != msg.attempt:
        c.note = f"flags result for attempt {msg.attempt} ignored: rollout is on {r.attempt}"
        return
    names = ", ".join(str(ch["flag"]) for ch in msg.changes) or "none"
    if msg.undo:
        c.set_step("flags", "off", finished_at=c.now, detail={"reverted": list(msg.changes)})
        c.note = f"flags taken back: {names}"
    else:
        c.set_step("flags", "on", finished_at=c.now, detail={"applied": list(msg.changes)})
        c.note = f"flags turned on: {names}"


def bake_finished(rollout: Rollout, bake_minutes: int, now: datetime) -> bool:
    return now - rollout.state_since >= timedelta(minutes=bake_minutes)
