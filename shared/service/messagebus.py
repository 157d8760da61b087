"""The message bus: every message, from Pub/Sub or from a finished step, goes through here.

For each message: a cheap duplicate check, then one transaction (handler + processed record +
outbox), then the outbox is carried out and marked done. A refused message is dead-lettered
and acknowledged; any other error escapes so Pub/Sub redelivers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.backups.model import BackupRecord
from shared.clock import Clock
from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import INTERNAL, DeadLetter, brief, event_key, refuse
from shared.domain import workflow
from shared.domain.builds import StepBuild, origin
from shared.domain.commands import FREE_TEXT_FIELDS, HumanCommand
from shared.domain.effects import Effect
from shared.domain.messages import (
    BackupCompleted,
    BackupStarted,
    BakeVerdict,
    BuildStatusChanged,
    LiveBreach,
    MonitoringTick,
    OperationFinished,
    StepReport,
)
from shared.domain.model import Rollout
from shared.domain.states import DEPLOYED_SOMETHING, State
from shared.errors import ConfigError, Refused
from shared.mobile.breach import judge
from shared.mobile.handler import due as mobile_due
from shared.mobile.messages import CrashBreach, StoreObserved, TrainDue
from shared.mobile.model import Train, mobile_builds
from shared.mobile.settings import MobileConfig
from shared.redaction import redact
from shared.service import handlers, outbox
from shared.service.ports import (
    OUTBOX_LEASE,
    Ports,
    Processed,
    Tx,
    UnitOfWork,
)

if TYPE_CHECKING:
    from shared.approvals.tokens import Identity

log = logging.getLogger(__name__)
SWEEP_BATCH = 20
VITALS_LOOKBACK = timedelta(hours=6)  # Play's hourly vitals arrive late: look back generously


class MessageBus:
    def __init__(self, *, uow: UnitOfWork, plane: PlaneConfig, clock: Clock, ports: Ports) -> None:
        self.uow, self.plane, self.clock, self.ports = uow, plane, clock, ports
        # train nudges this instance already handed over (their ids make a repeat a no-op;
        # remembering them saves each tick the duplicate's read)
        self._nudged: set[str] = set()

    def handle(
        self,
        message: object,
        *,
        event_id: str,
        topic: str,
        payload: bytes = b"",
        attributes: dict[str, str] | None = None,
    ) -> Processed:
        if isinstance(message, MonitoringTick):
            return self._tick(message, event_id, topic)
        # verified outside the transaction: it may fetch Google's keys and the env's secrets
        message, signer, unsigned = self._admit(message)
        message = self._with_migrations(message)
        try:
            record, fresh = self.uow.atomically(
                lambda tx: self._apply(tx, message, event_id, topic, unsigned, signer)
            )
        except Refused as exc:
            return self.refuse(
                exc.reason,
                event_id=event_id,
                topic=topic,
                payload=payload,
                attributes=attributes or {},
            )
        # a fresh outbox is this runner's (claimed in its transaction); a redelivery's is not
        return self._carry_out(record, claimed=fresh)

    def refuse(
        self,
        reason: str,
        *,
        event_id: str,
        topic: str,
        payload: bytes,
        attributes: dict[str, str],
    ) -> Processed:
        """Dead-letter a message that can never be valid, and remember it was handled."""
        now = self.clock()

        def record(dead: DeadLetter) -> Processed:
            return Processed(
                event_id=event_id, topic=topic, at=now, outcome="refused", note=dead.reason
            )

        dead = refuse(
            lambda dead: self.uow.refuse(record(dead), dead),
            reason,
            event_id=event_id,
            topic=topic,
            payload=payload,
            attributes=attributes,
            now=now,
        )
        return record(dead)

    # -- the transaction ---------------------------------------------------------------------

    def _with_migrations(self, message: object) -> object:
        """A migrate build's success carries what the build applied (the env's schema
        history, read here, outside the transaction): recorded by the same transition."""
        if not isinstance(message, BuildStatusChanged) or not message.build.succeeded:
            return message
        try:
            source = origin(message.build)
        except Refused:
            return message  # the handler refuses it with the reason
        if not isinstance(source, StepBuild) or source.step != "migrate":
            return message
        try:
            cfg = self.plane.env(source.env)
        except ConfigError:
            return message
        applied = self.ports.migrations.applied(source.release, cfg)
        return message.model_copy(update={"migrations": applied})

    def _admit(self, message: object) -> tuple[object, Identity | None, Refused | None]:
        """A command from a person: as sent by its verified sender (or why it may not be
        sent), its free text scrubbed of secrets, the env's own secret values included."""
        if not isinstance(message, HumanCommand):
            return message, None, None
        texts: dict[str, str] = {}
        for name in FREE_TEXT_FIELDS:
            text = getattr(message, name, None)
            if isinstance(text, str) and text:
                texts[name] = text
        if texts:  # first: a refused command's dead letter is scrubbed with them too
            self._remember_secrets(getattr(message, "env", None))
        try:
            message, signer = self.ports.approvals.check(message)
        except Refused as exc:
            return message, None, exc
        if texts:
            message = message.model_copy(update={f: redact(t) for f, t in texts.items()})
        return message, signer, None

    def _remember_secrets(self, env: object) -> None:
        if not isinstance(env, str) or env not in self.plane.environments:
            return
        try:
            self.ports.secret_values.remember(self.plane.env(env))
        except Exception as exc:  # the credential shapes are still scrubbed
            log.warning("secrets of %s not read for redaction: %s", env, brief(exc))

    def _apply(
        self,
        tx: Tx,
        message: object,
        event_id: str,
        topic: str,
        unsigned: Refused | None = None,
        signer: Identity | None = None,
    ) -> tuple[Processed, bool]:
        """The event's record, and whether this call made it (False: a duplicate)."""
        release, env = handlers.coordinates(message)
        tx.prefetch(topic, event_id, release, env)
        done = tx.processed(topic, event_id)
        if done is not None:  # a redelivery: its outbox may still need carrying out
            log.info("duplicate event, already %s", done.outcome, extra={"event_id": event_id})
            return done, False
        if unsigned is not None:  # refused only now: a redelivery whose token expired is not
            raise unsigned
        now = self.clock()
        handler = handlers.HANDLERS.get(type(message))
        if handler is None:
            raise Refused(f"no handler for {type(message).__name__}")
        ctx = handlers.Context(
            tx=tx,
            plane=self.plane,
            now=now,
            event_id=event_id,
            key=event_key(topic, event_id),
            signer=signer,
        )
        handler(message, ctx)
        record = Processed(
            event_id=event_id,
            topic=topic,
            at=now,
            outcome="applied" if ctx.wrote else "ignored",
            note=ctx.note,
            release=ctx.release or release,
            env=env,
            effects=ctx.effects,
            effects_done=not ctx.effects,
            claimed_until=now + OUTBOX_LEASE if ctx.effects else None,
        )
        tx.mark_processed(record)
        log.info(
            "%s: %s",
            record.outcome,
            ctx.note or type(message).__name__,
            extra={"event_id": event_id, "release": release, "env": env},
        )
        return record, True

    # -- the outbox ----------------------------------------------------------------------------

    def _carry_out(self, record: Processed, *, claimed: bool) -> Processed:
        """Carry out an outbox this runner holds the claim on (`claimed`), or takes now; the
        record as it is stored afterwards."""
        if record.effects_done:
            return record
        if not claimed:
            now = self.clock()
            taken = self.uow.claim(record.key, now, now + OUTBOX_LEASE)
            if taken is None:
                log.info("outbox held by another runner", extra={"event_id": record.event_id})
                return record
            record = taken
        try:
            for n, effect in enumerate(record.effects):
                self._run(effect, f"{record.key}/{n}")
        except Exception:
            self._give_up_claim(record.key)
            raise
        self.uow.finish_effects(record.key)
        return record.model_copy(update={"effects_done": True})

    def _give_up_claim(self, key: str) -> None:
        try:
            self.uow.release_claim(key)
        except Exception as exc:  # the claim then lapses by itself
            log.warning("claim on %s not released: %s", key, type(exc).__name__)

    def _run(self, effect: Effect, follow_up_id: str) -> None:
        runner = outbox.RUNNERS.get(type(effect))
        if runner is None:  # an outbox written by a newer version: leave it for that one
            raise TypeError(f"no runner for effect {type(effect).__name__}")
        outside = outbox.Outside(self.ports, self.plane, self.uow.read_release)
        follow_up = runner(outside, effect)
        if follow_up is not None:
            self.handle(follow_up, event_id=follow_up_id, topic=INTERNAL)

    # -- the monitoring tick -------------------------------------------------------------------

    def _tick(self, tick: MonitoringTick, event_id: str, topic: str) -> Processed:
        now = self.clock()
        if tick.env is not None and tick.env not in self.plane.environments:
            known = ", ".join(sorted(self.plane.environments))
            return self.refuse(
                f"unknown environment {tick.env!r} (known: {known})",
                event_id=event_id,
                topic=topic,
                payload=b"",
                attributes={},
            )
        if tick.env is not None:
            key = f"{event_key(topic, event_id)}/{tick.env}"
            self._settle_backups(tick.env, key)
            self._watch(tick.env, key)
            self._trains(tick.env)
            note = f"ticked {tick.env}"
        else:
            # The scheduler's tick: finish what crashes left, then one tick per environment,
            # each its own delivery: a slow restore or an unreadable metrics source in one
            # environment neither delays nor stops the others, and is retried on its own.
            self._sweep(now)
            for name in self.plane.environments:
                self.ports.ticks.publish(name)
            note = f"sent ticks to {', '.join(self.plane.environments)}"
        return Processed(event_id=event_id, topic=topic, at=now, outcome="applied", note=note)

    def _sweep(self, now: datetime) -> None:
        """Carry out outboxes whose runner died (their claim lapsed), the oldest first; one
        that fails again is left for the next tick and does not stop the others."""
        for left in self.uow.unfinished(now, limit=SWEEP_BATCH):
            try:
                self._carry_out(left, claimed=False)
            except Exception:
                log.exception("outbox still failing", extra={"event_id": left.event_id})

    def _settle_backups(self, env_name: str, tick_key: str) -> None:
        """Backups and imports that run on (managed exports and imports, polled here): each
        one that has ended brings its result to whoever asked, once (its id names the
        result): the rollout's backup step, or the `backup.take|restore` operation. A rollout
        whose backup is still running has its lock renewed on every tick, as a bake does. A
        poll that fails is retried on the next tick."""

        def deliver(record: BackupRecord) -> None:
            if record.restoring is not None:
                self._restore_ended(record, env_name)
                return
            report = outbox.backup_report(record)
            key = f"backup/{record.id}"
            coords = _rollout_of(record, env_name)
            if coords is not None:
                self.handle(BackupCompleted(**coords, report=report), event_id=key, topic=INTERNAL)
            elif record.for_operation is not None:
                if report.ok:
                    report = outbox.taken_report(record)
                self._close(env_name, record.for_operation, report, key)

        def still(record: BackupRecord) -> None:
            coords = _rollout_of(record, env_name)
            if coords is not None:
                running = BackupStarted(**coords, report=outbox.backup_report(record))
                key = f"backup/{record.id}/running/{tick_key}"  # once per tick
                self.handle(running, event_id=key, topic=INTERNAL)

        try:
            self.ports.backups.settle(self.plane.env(env_name), deliver, still)
        except Exception as exc:
            log.warning("backups of %s not polled: %s", env_name, brief(exc))

    def _restore_ended(self, record: BackupRecord, env_name: str) -> None:
        """A managed import's end closes the `backup.restore` operation that asked for it."""
        run = record.restoring
        if run is None or run.operation is None:
            return  # nobody to tell: its end is only recorded
        report = outbox.restore_report(record, run.collections, None)
        self._close(env_name, run.operation, report, f"backup/{record.id}/restore/{run.operation}")

    def _close(self, env_name: str, operation: str, report: StepReport, key: str) -> None:
        done = OperationFinished(
            env=env_name,
            operation=operation,
            ok=report.ok,
            result=report.summary,
            detail=report.detail,
        )
        self.handle(done, event_id=key, topic=INTERNAL)

    def _watch(self, env_name: str, event_id: str) -> None:
        """Judge the env's metrics: the rollout baking in it, else the release live in it."""
        cfg = self.plane.env(env_name)
        env = self.uow.read_environment(env_name)
        if env.lock is not None:
            rollout = self.uow.read_rollout(env.lock.release, env_name)
            if rollout is not None and rollout.attempt == env.lock.attempt:
                if rollout.state is State.BAKING:
                    stable = env.current.release if env.current is not None else None
                    self._bake_check(rollout, cfg, event_id, stable)
                if rollout.state in DEPLOYED_SOMETHING | {State.ROLLING_BACK}:
                    return  # the live release is being replaced: its metrics are not its own
        if env.current is not None:
            live = self.uow.read_rollout(env.current.release, env_name)
            if live is not None and live.state is State.LIVE:
                self._live_check(live, cfg, env.current.since)

    def _trains(self, env_name: str) -> None:
        """Mobile trains (docs/MOBILE.md): the release live in the testing env goes to internal
        testing / TestFlight; a Play production step whose bake passed moves to the next
        fraction. Each nudge's id names release, platform and step: it happens once."""
        mobile = self.plane.mobile
        if mobile is None:
            return
        testing = env_name == mobile.testing_env
        current = self.uow.read_environment(env_name).current if testing else None
        if current is not None and f"mobile/{current.release}" not in self._nudged:
            release = self.uow.read_release(current.release)
            try:
                builds = mobile_builds(release.artifacts) if release is not None else {}
            except ValueError:  # recorded before builds were checked at create: not a train
                builds = {}
            for platform in builds:
                due = TrainDue(release=current.release, platform=platform, verb="promote")
                self._nudge(due, f"mobile/{current.release}/{platform}/testing")
            self._nudged.add(f"mobile/{current.release}")  # its builds were all nudged
        if env_name == mobile.env and mobile.android is not None:
            lock = self.uow.atomically(lambda tx: tx.track_lock("android", "production"))
            train = lock and self.uow.atomically(lambda tx: tx.train(lock.release, "android"))
            if train and mobile_due(train, mobile, self.clock()):
                nudge = TrainDue(release=train.release, platform="android", verb="advance")
                self._nudge(nudge, f"mobile/{train.release}/android/step-{train.step + 1}")
            if train and train.track == "production" and train.status == "inProgress":
                self._vitals(train, mobile)
        if env_name == mobile.env and mobile.ios is not None:
            self._phased_release()

    def _phased_release(self) -> None:
        """Apple moves a phased release along by itself (a day at a time, COMPLETE after day
        7, resumed after 30 days of pauses): the App Store train is read on the mobile env's
        tick and records what moved. Unreadable: logged, read again on the next tick."""
        lock = self.uow.atomically(lambda tx: tx.track_lock("ios", "appstore"))
        train = lock and self.uow.atomically(lambda tx: tx.train(lock.release, "ios"))
        if not train or train.pending is not None or train.status not in ("ACTIVE", "PAUSED"):
            return
        try:
            view = self.ports.stores.progress(train)
        except Exception as exc:
            log.warning("app store unreadable: %s", brief(exc), extra={"release": train.release})
            return
        if view is None or (view.status, view.day) == (train.status, train.day):
            return
        seen = StoreObserved(release=train.release, platform="ios", seq=train.seq, view=view)
        key = f"observed/ios/{train.release}/{train.seq}/{view.status}/{view.day}"
        self.handle(seen, event_id=key, topic=INTERNAL)

    def _vitals(self, train: Train, mobile: MobileConfig) -> None:
        """The Play Developer Reporting API's hourly crash rate of the build in production: a
        breach halts like any other. Unreadable vitals are logged, never a verdict."""
        if self.ports.vitals is None:
            return
        now = self.clock()
        try:
            windows = self.ports.vitals.crash_windows(train.build, now - VITALS_LOOKBACK, now)
        except Exception as exc:
            log.warning("play vitals unreadable: %s", brief(exc), extra={"release": train.release})
            return
        breach = judge(windows, mobile.crash, f"android build {train.build} (Play vitals)")
        if breach is None:
            return
        message = CrashBreach(
            release=train.release,
            platform="android",
            build=train.build,
            signal="play-vitals",
            reason=breach.reason,
            evidence={**breach.evidence, "signal": "play-vitals"},
        )
        key = f"vitals/android/{train.build}/{breach.last_window.isoformat()}"
        self.handle(message, event_id=key, topic=INTERNAL)

    def _nudge(self, due: TrainDue, key: str) -> None:
        if key not in self._nudged:
            self.handle(due, event_id=key, topic=INTERNAL)
            self._nudged.add(key)

    def _bake_check(
        self, rollout: Rollout, cfg: EnvConfig, event_id: str, stable: str | None
    ) -> None:
        """Every tick of a bake is recorded: it renews the rollout's lock, counts a metrics
        source that cannot be read (and resets the count on a good read), and ends the bake on
        a breach, at its end, or at the error limit."""
        now = self.clock()
        error = None
        try:
            report = self.ports.bake.evaluate(rollout, cfg, now, stable)
        except Exception as exc:  # counted, never a verdict: no data is not good data
            log.warning("metrics unreadable: %s", brief(exc), extra={"env": cfg.name})
            error = brief(exc)
            report = StepReport(ran=False, ok=False, summary=f"metrics unreadable: {error}")
        verdict = BakeVerdict(
            release=rollout.release,
            env=cfg.name,
            attempt=rollout.attempt,
            report=report,
            finished=workflow.bake_finished(rollout, cfg.bake_minutes, now),
            error=error,
        )
        self.handle(verdict, event_id=event_id, topic=INTERNAL)

    def _live_check(self, rollout: Rollout, cfg: EnvConfig, since: datetime) -> None:
        report = self.ports.bake.watch(rollout, cfg, since, self.clock())
        if not report.ran or report.ok:
            return
        breach = LiveBreach(
            release=rollout.release,
            env=cfg.name,
            attempt=rollout.attempt,
            report=report,
            breach_start=report.detail["breachStart"],
            breach_end=report.detail["breachEnd"],
            window_seconds=report.detail["windowSeconds"],
        )
        # one id per breaching window: a redelivered tick changes nothing, a new window of
        # the same incident extends it, and only a new incident alerts
        key = f"live/{cfg.name}/{rollout.release}/{rollout.attempt}/{breach.breach_end}"
        self.handle(breach, event_id=key, topic=INTERNAL)


def _rollout_of(record: BackupRecord, env: str) -> dict[str, Any] | None:
    """The rollout attempt whose backup step `record` is (release, env, attempt), if any."""
    if record.trigger != "rollout" or not record.release or record.attempt is None:
        return None
    return {"release": record.release, "env": env, "attempt": record.attempt}
