"""One event's effect on release state, computed in memory with no I/O.

A `Change` wraps what a transaction loaded (release, rollout, environment), applies the domain
rules, and collects what must be written back and which side effects to run after the commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from shared.config import EnvConfig
from shared.domain.builds import StepKind
from shared.domain.effects import (
    Alert,
    BreachAlert,
    Effect,
    PublishEvent,
    ReleaseEvent,
    Restore,
    RunBackup,
    RunGates,
    RunSmoke,
    SetFlags,
    StartBuild,
)
from shared.domain.messages import StepReport
from shared.domain.model import (
    OWN_URL,
    Deployed,
    DeployPart,
    EnvironmentState,
    HistoryEntry,
    LastMove,
    Release,
    Rollout,
    StepName,
    StepRecord,
)
from shared.domain.states import HOLDS_LOCK, State, check_move
from shared.errors import Refused

# Build-backed steps -> the Cloud Build config that runs them (paths relative to the repo).
# The release artifact that names the flags a release turns on when live ("videoCalls=10,…").
RELEASE_FLAGS = "flags"
# The `finish` step is a second run of the deploy build: what cannot split traffic, after a
# canary passed (docs/CANARY.md).
BUILD_CONFIGS: dict[str, str] = {
    "migrate": "cloudbuild/migrate.yaml",
    "deploy": "cloudbuild/deploy.yaml",
    "finish": "cloudbuild/deploy.yaml",
}


@dataclass
class Change:
    now: datetime
    event_id: str
    cfg: EnvConfig
    release: Release
    env: EnvironmentState
    rollout: Rollout | None
    effects: list[Effect] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    env_changed: bool = False
    rollout_changed: bool = False
    note: str = ""

    # -- reading ---------------------------------------------------------------------------

    @property
    def what(self) -> str:
        return f"release {self.release.version} in {self.cfg.name}"

    def current(self) -> Rollout:
        if self.rollout is None:
            raise Refused(f"{self.what}: no rollout (promote it first)")
        return self.rollout

    def canary_steps(self) -> list[int]:
        """The canary steps this rollout runs: the env's, unless nothing stable serves to
        compare with or send traffic back to (an env's first release serves all at once, as
        Cloud Deploy's and Argo Rollouts' first rollout does). The lock keeps this the same
        from the deploy to the bake."""
        if not self.cfg.canary or restore_target(self.env, self.current(), None) is None:
            return []
        return list(self.cfg.canary)

    # -- moving ------------------------------------------------------------------------------

    def start(self, actor: str) -> None:
        """Create the rollout, or begin a new attempt of a finished one, in `pending`."""
        old = self.rollout
        src = old.state if old else None
        check_move(src, State.PENDING, what=self.what)
        self.rollout = Rollout(
            release=self.release.version,
            env=self.cfg.name,
            state=State.PENDING,
            attempt=old.attempt + 1 if old else 1,
            actor=actor,
            created_at=self.now,
            updated_at=self.now,
            state_since=self.now,
        )
        self._claim_lock()
        self.rollout_changed = True
        self._record(src, State.PENDING, actor, None)

    def move(self, dst: State, *, actor: str, reason: str | None = None) -> None:
        """Make one legal move, with its history line, lock, environment and effects."""
        rollout = self.current()
        src = rollout.state
        check_move(src, dst, what=self.what)
        rollout.state, rollout.state_since, rollout.updated_at = dst, self.now, self.now
        rollout.reason = reason
        self.rollout_changed = True
        if dst in HOLDS_LOCK:
            self._claim_lock()
        else:
            self._free_lock()
        self._record(src, dst, actor, reason)
        self._enter(dst)

    def set_step(self, name: StepName, status: str, **fields: object) -> StepRecord:
        rollout = self.current()
        old = rollout.steps.get(name)
        detail = {**(old.detail if old else {}), **fields.pop("detail", {})}  # type: ignore[dict-item]
        record = StepRecord.model_validate(
            {
                "status": status,
                "started_at": old.started_at if old and old.started_at else self.now,
                "detail": detail,
                **fields,
            }
        )
        rollout.steps[name] = record
        rollout.updated_at = self.now
        self.rollout_changed = True
        return record

    # -- internals ---------------------------------------------------------------------------

    def _claim_lock(self) -> None:
        rollout = self.current()
        holder = self.env.holder(self.now)
        if holder is not None and not self.env.held_by(rollout, self.now):
            raise Refused(
                f"environment {self.cfg.name} is locked by release {holder.release} "
                f"(attempt {holder.attempt}) until {holder.lease_until.isoformat()}"
            )
        minutes = self.cfg.lock_lease_minutes
        if rollout.state is State.BAKING:  # the bake, or each canary step's
            steps = len(self.cfg.canary)
            minutes += math.ceil(self.cfg.step_minutes * steps if steps else self.cfg.bake_minutes)
        self.env.lock = self.env.lease(rollout, self.now, minutes)
        self.env_changed = True

    def renew_lock(self) -> None:
        """Extend the lease of the lock this rollout holds (or held, if nobody took it since
        it lapsed); a lock someone else holds now is left alone."""
        holder = self.env.holder(self.now)
        if holder is None or self.env.held_by(self.current(), self.now):
            self._claim_lock()

    def _free_lock(self) -> None:
        if self.env.lock is not None and self.env.held_by(self.current(), self.now):
            self.env.lock = None
            self.env_changed = True

    def _record(self, src: State | None, dst: State, actor: str, reason: str | None) -> None:
        rollout = self.current()
        self.env.last = LastMove(
            release=rollout.release, attempt=rollout.attempt, state=dst, reason=reason, at=self.now
        )
        self.env_changed = True
        self.release.history_seq += 1
        self.history.append(
            HistoryEntry(
                seq=self.release.history_seq,
                event_id=self.event_id,
                env=rollout.env,
                attempt=rollout.attempt,
                from_state=src,
                to_state=dst,
                actor=actor,
                at=self.now,
                reason=reason,
            )
        )
        event = ReleaseEvent(
            key=f"{rollout.release}/{rollout.env}/{rollout.attempt}/{dst}",
            release=rollout.release,
            env=rollout.env,
            attempt=rollout.attempt,
            from_state=src,
            to_state=dst,
            actor=actor,
            reason=reason,
            at=self.now,
            event_id=self.event_id,
        )
        self.effects.append(PublishEvent(**self._coords(), event=event))

    def _coords(self) -> dict[str, str | int]:
        r = self.current()
        return {"release": r.release, "env": r.env, "attempt": r.attempt}

    def _enter(self, state: State) -> None:
        on_enter = {
            State.GATING: self._enter_gating,
            State.MIGRATING: self._enter_migrating,
            State.DEPLOYING: self._enter_deploying,
            State.VERIFYING: self._enter_verifying,
            State.BAKING: lambda: self.set_step("bake", "running"),
            State.LIVE: self._enter_live,
            State.ROLLED_BACK: self._enter_rolled_back,
        }.get(state)
        if on_enter is not None:
            on_enter()

    def _enter_gating(self) -> None:
        self.set_step("gates", "running")
        self.effects.append(RunGates(**self._coords()))

    def _enter_verifying(self) -> None:
        self.set_step("smoke", "running")
        deploy = self.current().steps.get("deploy")
        artifacts = deploy.detail.get("artifacts") if deploy else None
        own = artifacts.get(OWN_URL) if isinstance(artifacts, dict) else None
        self.effects.append(RunSmoke(**self._coords(), url=str(own) if own else None))

    def _enter_migrating(self) -> None:
        """A backup of the env's database first where the env asks for one (production by
        default); its result starts the migrate build (`workflow.backup_completed`)."""
        if self.cfg.backs_up:
            self.set_step("backup", "running")
            self.effects.append(RunBackup(**self._coords()))
        else:
            self.start_build("migrate")

    def _enter_deploying(self) -> None:
        """With canary steps, the deploy build ships only what can split traffic; the rest
        follows in the `finish` build once the canary passed (`canary.advance`)."""
        self.start_build("deploy", part="split" if self.canary_steps() else "all")

    def start_build(self, step: StepKind, *, part: DeployPart = "all") -> None:
        self.set_step(step, "STARTING", detail={"part": part} if part != "all" else {})
        self.effects.append(
            StartBuild(
                **self._coords(),
                step=step,
                config=BUILD_CONFIGS[step],
                env_project=self.cfg.project,
                commit=self.release.commit,
                part=part,
            )
        )

    def _enter_live(self) -> None:
        if self.env.current is not None and self.env.current.release != self.release.version:
            self.env.previous = self.env.current
        # what the deploy build recorded, and after a canary what the finish build added
        steps = self.current().steps
        recorded = {
            key: value
            for name in ("deploy", "finish")
            if (step := steps.get(name)) is not None
            for key, value in step.detail.get("artifacts", {}).items()
        }
        self.env.current = Deployed(
            release=self.release.version,
            artifacts={**self.release.artifacts, **recorded},
            since=self.now,
        )
        spec = self.release.artifacts.get(RELEASE_FLAGS, "")
        if spec:
            self.set_step("flags", "turning_on", detail={"spec": spec})
            self.effects.append(SetFlags(**self._coords(), flags=spec))
        self.env_changed = True

    def alert(self, key: str, reason: str, report: StepReport) -> None:
        """Tell people about a breach (`release-events`, `monitoring.breach`); `key` is the
        incident, so every copy of this alert is one notification."""
        failed = [chk for chk in report.checks if chk.required and not chk.ok]
        alert = BreachAlert(
            key=key,
            env=self.cfg.name,
            release=self.release.version,
            metric=", ".join(chk.name for chk in failed) or None,
            reason=reason,
            at=self.now,
            evidence={chk.name: chk.detail for chk in failed},
        )
        self.effects.append(Alert(**self._coords(), alert=alert))

    def begin_rollback(self, target: Deployed | None, *, actor: str, reason: str) -> None:
        """Move to `rolling_back` and ask the deploy target to restore `target`."""
        self.move(State.ROLLING_BACK, actor=actor, reason=reason)
        detail = {"target": target.release if target else None, "failedFrom": self.release.version}
        self.set_step("rollback", "running", finished_at=None, reason=reason, detail=detail)
        self.effects.append(Restore(**self._coords(), target=target))

    def _enter_rolled_back(self) -> None:
        record = self.current().steps.get("rollback")
        target = record.detail.get("target") if record else None
        restored = next(
            (d for d in (self.env.current, self.env.previous) if d and d.release == target), None
        )
        if restored is not None:
            if self.env.current != restored:
                self.env.previous = None
            # it serves again from now: the live watch must not judge it on the windows of
            # the release just rolled back
            self.env.current = restored.model_copy(update={"since": self.now})
            self.env_changed = True
        flags = self.current().steps.get("flags")
        applied = flags.detail.get("applied", []) if flags else []
        if applied:  # take back the flags this release turned on when it went live
            self.set_step("flags", "turning_off")
            self.effects.append(SetFlags(**self._coords(), undo=applied))


def restore_target(env: EnvironmentState, rollout: Rollout, wanted: str | None) -> Deployed | None:
    """The deployed release a rollback of `rollout` must bring back, or None if none is known.

    An in-flight rollout never became `current`, so `current` is the last known good; a live
    rollout is `current`, so `previous` is.
    """
    is_current = env.current is not None and env.current.release == rollout.release
    known = [d for d in (env.previous if is_current else env.current,) if d is not None]
    if wanted is not None:
        match = [d for d in (env.current, env.previous) if d and d.release == wanted]
        if not match or wanted == rollout.release:
            names = ", ".join(d.release for d in (env.current, env.previous) if d) or "none"
            raise Refused(
                f"no deployed artifacts recorded for release {wanted} in {env.name} "
                f"(recorded: {names}); cannot roll back to it"
            )
        return match[0]
    return known[0] if known else None
