"""Canary steps of a bake (docs/CANARY.md): pure rules over a `Change`.

With `canary = [10, 50]` an env's bake runs one step per percentage: the new release gets that
share of the traffic (a `SplitTraffic` effect), the step bakes `canary_step_minutes` (default
`bake_minutes`) with analysis,
and the next step follows. After the last one the new release gets 100 %, and once that split
is applied the `finish` build deploys what cannot split traffic (Hosting, Firestore rules and
indexes: the deploy build left them out); its success takes the rollout live, its failure rolls
back like any failure of the bake. The step's state is the rollout's `canary` step: `steps`,
`index`, `percent`, `stepSince`, `holding` (an inconclusive analysis at a step's end waits
for `release advance`/`abort`) and `inconclusive` (the steps an env with
`on_inconclusive = "promote"` went past unjudged: the bake then ends `inconclusive`).
A breach, a judge `fail` or `release abort` rolls back, which sends all traffic to stable.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.domain.builds import Build
from shared.domain.change import Change, restore_target
from shared.domain.effects import Restore, SplitTraffic
from shared.domain.messages import StepReport, TrafficSplit
from shared.domain.model import Rollout, StepRecord
from shared.domain.states import State
from shared.errors import Refused

RUNNING = "running"
WAITING = "waiting"  # the finish build waits for the 100 % split to be applied


def start(c: Change) -> None:
    """Entering the bake of an env with canary steps: the first step's split."""
    steps = c.canary_steps()
    if not steps:
        if c.cfg.canary:
            c.note = f"{c.what}: no stable release in {c.cfg.name}: no canary steps"
        return
    c.set_step("canary", RUNNING, detail={"steps": steps, "index": 0, "holding": None})
    _split(c, steps[0])


def running(c: Change) -> StepRecord | None:
    step = c.current().steps.get("canary")
    return step if step is not None and step.status == RUNNING else None


def in_step(c: Change) -> StepRecord:
    """The running canary step, or `Refused` naming the state the rollout is in."""
    r = c.current()
    step = running(c) if r.state is State.BAKING else None
    if step is None and finishing(c) is not None:
        raise Refused(
            f"{c.what} has passed its canary steps and is deploying what cannot split traffic "
            "(the finish build), not in a canary step; `release rollback` rolls it back"
        )
    if step is None:
        where = "baking without canary steps" if r.state is State.BAKING else str(r.state)
        raise Refused(f"{c.what} is {where}, not in a canary step")
    return step


def finishing(c: Change) -> StepRecord | None:
    """The `finish` step while it has not ended: the canary passed, the rollout is still
    baking until Hosting, rules and indexes are deployed."""
    r = c.current()
    step = r.steps.get("finish")
    if r.state is not State.BAKING or step is None or step.finished_at is not None:
        return None
    return step


def on_tick(c: Change, report: StepReport) -> None:
    """A bake tick with no breach during a canary step: at the step's end, the next step.
    An inconclusive analysis there does what the env's `on_inconclusive` says of a bake:
    `pause` holds the step for a person (alerted once); `promote` goes on to the next step,
    recorded as inconclusive, never as passed."""
    step = running(c)
    if step is None:  # the caller checked; a tick outside a canary step changes nothing
        return
    since = step.detail.get("stepSince")
    if since is None or c.now - _when(since) < timedelta(minutes=c.cfg.step_minutes):
        return
    if report.ran:
        advance(c, actor="monitoring", reason=None)
        return
    if step.detail.get("holding"):
        c.note = f"{c.what}: canary step held ({step.detail['holding']}); waits for a person"
        return
    reason = f"canary at {step.detail.get('percent')} %: inconclusive: {report.summary}"
    if c.cfg.inconclusive_action == "promote":
        unjudged = [*step.detail.get("inconclusive", []), reason]
        c.set_step("canary", RUNNING, detail={"inconclusive": unjudged})
        advance(c, actor="monitoring", reason=None)
        c.note = f"{c.note} ({reason}: on_inconclusive = promote)"
        return
    c.set_step("canary", RUNNING, detail={"holding": reason})
    key = f"{c.release.version}/{c.cfg.name}/{c.current().attempt}/canary-{step.detail['index']}"
    c.alert(key, f"{reason}; `release advance` or `release abort`", report)
    c.note = f"{c.what}: {reason}"


def advance(c: Change, *, actor: str, reason: str | None) -> None:
    """The next step's split now; after the last step, 100 % and live."""
    step = running(c)
    if step is None:  # the command handler refuses this before; nothing to advance
        return
    steps: list[int] = list(step.detail["steps"])
    nxt = int(step.detail["index"]) + 1
    if nxt < len(steps):
        c.set_step("canary", RUNNING, detail={"index": nxt, "holding": None})
        _split(c, steps[nxt])
        c.note = f"{c.what}: canary advanced to {steps[nxt]} % by {actor}"
        return
    unjudged = step.detail.get("inconclusive")
    ended = f"canary ended {steps}, unjudged: {'; '.join(unjudged)}" if unjudged else None
    passed(c, actor=actor, reason=reason or ended or f"canary passed {steps}")


def passed(c: Change, *, actor: str, reason: str) -> None:
    """The canary passed (its last step, or a person approved its paused bake): 100 % to the
    new release, then the finish build. Hosting, rules and indexes go once the new release
    serves all traffic (a new frontend may need the new backend everywhere), so
    `traffic_split` starts that build when the split is applied."""
    c.set_step("canary", "passed", finished_at=c.now, detail={"holding": None})
    _split(c, 100)
    detail = {"after": "split to 100 %", "canaryPassed": reason, "advancedBy": actor}
    c.set_step("finish", WAITING, detail=detail)
    c.note = f"{c.what}: {reason}; 100 % to it, then the finish build"


def start_finish(c: Change) -> None:
    """The 100 % split is applied: the finish build deploys what cannot split traffic."""
    c.start_build("finish", part="rest")
    c.note = f"{c.what}: serves all traffic; the finish build deploys Hosting, rules and indexes"


def finish_built(c: Change, build: Build) -> None:
    """The finish build ended (the caller recorded it on the step): live, or roll back."""
    step = c.current().steps.get("bake")
    if not build.succeeded:
        reason = f"after the canary passed, the finish build failed: {build.failure_reason()}"
        c.set_step("bake", "failed", finished_at=c.now, reason=reason)
        target = restore_target(c.env, c.current(), None)
        c.begin_rollback(target, actor="cloud-build", reason=reason)
        return
    if step is not None and step.status == "paused":  # a person decides (approve / rollback)
        c.note = f"{c.what}: finish build done; the bake is paused and waits for a person"
        return
    if step is None or step.status == "running":
        unjudged = c.current().steps["canary"].detail.get("inconclusive")
        c.set_step("bake", "inconclusive" if unjudged else "passed", finished_at=c.now)
    why = str(c.current().steps["finish"].detail.get("canaryPassed") or "canary passed")
    c.move(State.LIVE, actor="cloud-build", reason=why)


def abort(c: Change, *, actor: str, reason: str) -> None:
    step = in_step(c)
    why = f"canary aborted at {step.detail.get('percent')} %: {reason or 'no reason given'}"
    c.set_step("canary", "aborted", finished_at=c.now, reason=why)
    c.set_step("bake", "failed", finished_at=c.now, reason=why)
    c.begin_rollback(restore_target(c.env, c.current(), None), actor=actor, reason=why)


def ended(c: Change) -> None:
    """The bake failed during a canary step (breach, judge `fail`, metrics): the step ends too."""
    if running(c) is not None:
        c.set_step("canary", "aborted", finished_at=c.now)


def traffic_split(c: Change, msg: TrafficSplit) -> None:
    """Record what a split did; a split that failed during the canary rolls back."""
    r = c.current()
    step = r.steps.get("canary")
    if r.attempt != msg.attempt or step is None:
        c.note = f"traffic split for attempt {msg.attempt} ignored: rollout is {r.state}"
        return
    report = msg.report
    evidence: dict[str, Any] = {
        "percent": msg.percent,
        "ok": report.ok,
        "ran": report.ran,
        "summary": report.summary,
        "at": c.now.isoformat(),
    }
    c.set_step("canary", step.status, detail={"split": evidence})
    if r.state in (State.ROLLING_BACK, State.ROLLED_BACK) and report.ran and report.ok:
        restore_again(c, f"a {msg.percent} % split")
        return
    finish = finishing(c)
    if msg.percent == 100 and finish is not None and finish.status == WAITING:
        if report.ok or not report.ran:
            start_finish(c)
            return
        reason = f"after the canary passed, traffic split to 100 % failed: {report.summary}"
        c.set_step("finish", "failed", finished_at=c.now, reason=reason)
        c.set_step("bake", "failed", finished_at=c.now, reason=reason)
        c.begin_rollback(restore_target(c.env, r, None), actor="deploy-target", reason=reason)
        return
    if report.ok or not report.ran:
        c.note = f"{c.what}: traffic split {msg.percent} %: {report.summary}"
        return
    reason = f"traffic split to {msg.percent} % failed: {report.summary}"
    if r.state is State.BAKING and step.status == RUNNING:
        c.set_step("canary", "aborted", finished_at=c.now, reason=reason)
        c.set_step("bake", "failed", finished_at=c.now, reason=reason)
        target = restore_target(c.env, r, None)
        c.begin_rollback(target, actor="deploy-target", reason=reason)
    else:
        key = f"{c.release.version}/{c.cfg.name}/{r.attempt}/split-{msg.percent}"
        c.alert(key, reason, report)


def restore_again(c: Change, what: str) -> None:
    """A split or a finish build carried out after the rollback's restore (they run
    independently) would leave the new release serving: restore the rollback's target once
    more (safe to repeat). Not once another rollout holds the env: that one deploys now."""
    r = c.current()
    record = r.steps.get("rollback")
    wanted = record.detail.get("target") if record else None
    target = next((d for d in (c.env.current, c.env.previous) if d and d.release == wanted), None)
    holder = c.env.holder(c.now)
    if holder is not None and not c.env.held_by(r, c.now):
        c.note = f"{c.what}: {what} landed after the rollback; {holder.release} holds the env now"
        return
    if target is None:
        c.note = f"{c.what}: {what} landed during the rollback; nothing to restore"
        return
    c.effects.append(Restore(release=r.release, env=r.env, attempt=r.attempt, target=target))
    c.note = f"{c.what}: {what} landed during the rollback; {wanted} restored again"


def _split(c: Change, percent: int) -> None:
    r = c.current()
    deploy = r.steps.get("deploy")
    recorded: dict[str, str] = dict(deploy.detail.get("artifacts", {})) if deploy else {}
    status = r.steps["canary"].status
    c.set_step("canary", status, detail={"percent": percent, "stepSince": c.now.isoformat()})
    stable = restore_target(c.env, r, None)
    c.effects.append(
        SplitTraffic(
            release=r.release,
            env=r.env,
            attempt=r.attempt,
            percent=percent,
            canary=recorded,
            stable=stable,
        )
    )


def _when(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def progress(rollout: Rollout, stable: str | None) -> dict[str, Any] | None:
    """What `status` shows of a rollout's canary: the step, the split, and any hold."""
    step = rollout.steps.get("canary")
    finish = rollout.steps.get("finish")
    if step is None or rollout.state is not State.BAKING:
        return None
    if step.status == "passed" and finish is not None and finish.finished_at is None:
        return _finishing(rollout, step, finish)
    if step.status != RUNNING:
        return None
    d = step.detail
    percent = int(d.get("percent", 0))
    split = {rollout.release: percent, **({stable: 100 - percent} if stable else {})}
    applied = d.get("split") or {}
    return {
        "step": int(d.get("index", 0)) + 1,
        "steps": list(d.get("steps", [])),
        "percent": percent,
        "split": split,
        "stepSince": d.get("stepSince"),
        "applied": applied.get("percent") == percent and bool(applied.get("ok")),
        "holding": d.get("holding"),
    }


def _finishing(rollout: Rollout, step: StepRecord, finish: StepRecord) -> dict[str, Any]:
    steps = list(step.detail.get("steps", []))
    applied = step.detail.get("split") or {}
    return {
        "step": len(steps),
        "steps": steps,
        "percent": 100,
        "split": {rollout.release: 100},
        "stepSince": step.detail.get("stepSince"),
        "applied": applied.get("percent") == 100 and bool(applied.get("ok")),
        "holding": None,
        "inconclusive": step.detail.get("inconclusive") or [],
        "finishing": {"status": finish.status, "buildId": finish.build_id},
    }
