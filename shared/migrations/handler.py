"""The migrations engine: plan, up, down, validate, repair and baseline for one environment.

Everything that can be refused is refused before anything is written: the plan is computed
and checked first, then the lock is taken and the plan computed again (another run may have
moved the database on while this one waited), and only then does a migration run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from shared.clock import utcnow
from shared.config import PRODUCTION, EnvConfig
from shared.migrations import planning
from shared.migrations.context import MigrationContext
from shared.migrations.errors import BadMigrationInput, MigrationFailed
from shared.migrations.files import Migration
from shared.migrations.history import HistoryStore
from shared.migrations.lock import MigrationLock
from shared.migrations.model import (
    AppliedVersions,
    Checkpoint,
    Plan,
    PlanItem,
    RunReport,
    SchemaCurrent,
    VersionRecord,
    VersionRun,
)
from shared.migrations.ports import ProgressSink, SnapshotPort
from shared.migrations.progress import NoProgress
from shared.migrations.versions import SemVer
from shared.migrations.writer import ChunkedWriter
from shared.redaction import redact

log = logging.getLogger("shared.migrations")
T = TypeVar("T")
Way = Literal["up", "down"]


class Engine:
    def __init__(
        self,
        db: Any,
        env: EnvConfig,
        migrations: list[Migration],
        *,
        actor: str,
        release: str | None = None,
        snapshots: SnapshotPort | None = None,
        local: bool = True,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(minutes=10),
        chunk_size: int = 500,
        progress: Callable[[], ProgressSink] = NoProgress,
    ) -> None:
        self.db, self.env, self.migrations = db, env, migrations
        self.by_version = {m.info.version: m for m in migrations}
        self.actor, self.release, self.snapshots, self.local = actor, release, snapshots, local
        self.clock, self.lease, self.chunk_size, self.progress = clock, lease, chunk_size, progress
        self.history = HistoryStore(db)
        self.run_id = uuid.uuid4().hex[:12]
        self._lock: MigrationLock | None = None

    # -- reading ---------------------------------------------------------------------------
    def plan(self) -> Plan:
        return planning.build_plan([m.info for m in self.migrations], self.history.entries())

    def validate(self) -> Plan:
        plan = self.plan()
        planning.require_valid(plan)
        return plan

    def applied_by_release(self, release: str | None) -> AppliedVersions:
        entries = self.history.entries()
        current = self.history.current()
        return planning.applied_by_release(
            self.env.name, release, entries, current.version if current else None
        )

    # -- running ---------------------------------------------------------------------------
    def up(
        self,
        to: str | None = None,
        *,
        dry_run: bool = False,
        force: bool = False,
        wait_s: float = 0,
    ) -> RunReport:
        target = SemVer(to) if to else None

        def choose() -> list[PlanItem]:
            plan = self.validate()
            steps = planning.select_up(plan, target)
            planning.refuse_protected(steps, force)
            return steps

        return self._run("up", choose, dry_run=dry_run, force=force, wait_s=wait_s, to=to)

    def down(
        self, to: str, *, dry_run: bool = False, force: bool = False, wait_s: float = 0
    ) -> RunReport:
        target = SemVer("0.0.0" if to in ("0", "") else to)

        def choose() -> list[PlanItem]:
            plan = self.validate()
            steps = planning.select_down(plan, target)
            planning.refuse_protected(steps, force)
            return steps

        return self._run(
            "down", choose, dry_run=dry_run, force=force, wait_s=wait_s, to=str(target)
        )

    def _run(
        self,
        way: Way,
        choose: Callable[[], list[PlanItem]],
        *,
        dry_run: bool,
        force: bool,
        wait_s: float,
        to: str | None,
    ) -> RunReport:
        if not dry_run:
            self._refuse_production(force)
        steps = choose()  # refuse bad input before taking the lock
        report = RunReport(
            env=self.env.name,
            project=self.env.project,
            direction=way,
            dry_run=dry_run,
            from_version=self.plan().current,
            to_version=to,
        )
        if dry_run:
            report.steps = [self._dry_step(item, way) for item in steps]
            return report
        return self._locked(wait_s, lambda: self._run_locked(way, choose, report))

    def _run_locked(
        self, way: Way, choose: Callable[[], list[PlanItem]], report: RunReport
    ) -> RunReport:
        steps = choose()  # again, under the lock
        report.from_version = self.plan().current
        if steps and self.env.name == PRODUCTION and self.snapshots is not None:
            report.snapshot = self.snapshots.take(self.env.project, self.env.name, self.clock())
            self.history.audit("snapshot", self.actor, self.clock(), location=report.snapshot)
        for item in steps:
            report.steps.append(self._step(item, way, report.snapshot))
        return report

    def _refuse_production(self, force: bool) -> None:
        if self.env.name == PRODUCTION and not force:
            raise BadMigrationInput(
                "--env production changes the production database: add --force "
                "(a snapshot is taken before anything runs)"
            )

    def _locked(self, wait_s: float, fn: Callable[[], T]) -> T:
        lock = MigrationLock(
            self.db,
            run_id=self.run_id,
            actor=self.actor,
            release=self.release,
            lease=self.lease,
            clock=self.clock,
        )
        lock.acquire(wait_s)
        self._lock = lock
        try:
            return fn()
        finally:
            self._lock = None
            lock.release_lock()

    # -- one migration -------------------------------------------------------------------------
    def _context(
        self, m: Migration, *, dry_run: bool, checkpoints: dict[str, Checkpoint]
    ) -> MigrationContext:
        writer = ChunkedWriter(
            self.db,
            dry_run=dry_run,
            allowed_protected=m.info.protected_writes,
            chunk_size=self.chunk_size,
            local=self.local,
        )
        return MigrationContext(
            db=self.db,
            env=self.env.name,
            project=self.env.project,
            version=m.info.version,
            dry_run=dry_run,
            writer=writer,
            checkpoints=checkpoints,
            progress=self.progress(),
            chunk_size=self.chunk_size,
        )

    def _dry_step(self, item: PlanItem, way: Way) -> VersionRun:
        m = self.by_version[item.version]
        ctx = self._context(m, dry_run=True, checkpoints={})
        t0 = self.clock()
        self._call(m, way, ctx)
        return VersionRun(
            version=item.version,
            description=item.description,
            direction=way,
            outcome="success",
            docs_read=ctx.docs_read,
            docs_written=ctx.writer.written,
            duration_ms=_ms(self.clock() - t0),
        )

    def _call(self, m: Migration, way: Way, ctx: MigrationContext) -> None:
        fn = m.up if way == "up" else m.down
        if fn is None:  # planning refuses this earlier; kept for direct callers
            raise BadMigrationInput(f"{m.info.file} has no `down`")
        try:
            fn(ctx)
            ctx.writer.close()
        except BadMigrationInput:
            raise
        except Exception as exc:
            raise MigrationFailed(
                f"{m.info.version} ({m.info.file}) {way} failed: {redact(str(exc))}"
            ) from exc

    def _start_entry(self, m: Migration, way: Way, snapshot: str | None) -> VersionRecord:
        prior = self.history.entry(m.info.version)
        resumed = prior is not None and prior.direction == way and prior.outcome != "success"
        return VersionRecord(
            version=m.info.version,
            description=m.info.description,
            checksum=m.info.checksum,
            file=m.info.file,
            direction=way,
            outcome="running",
            started_at=self.clock(),
            actor=self.actor,
            release=self.release,
            run_id=self.run_id,
            snapshot=snapshot or (prior.snapshot if prior and resumed else None),
            checkpoints=prior.checkpoints if prior and resumed else {},
            docs_read=prior.docs_read if prior and resumed else 0,
            docs_written=prior.docs_written if prior and resumed else 0,
        )

    def _step(self, item: PlanItem, way: Way, snapshot: str | None) -> VersionRun:
        m = self.by_version[item.version]
        entry = self._start_entry(m, way, snapshot)
        resumed = bool(entry.checkpoints) or item.failed_direction == way
        base_read, base_written = entry.docs_read, entry.docs_written
        lock = self._lock
        if lock is None:  # a step only runs under `_locked`; never write without the lock
            raise RuntimeError("migration step run without holding the migration lock")

        def with_lock(cps: dict[str, Checkpoint], read: int, written: int) -> None:
            # counts carry over from the killed run this one resumes
            self.history.save_checkpoints(
                lock, m.info.version, cps, base_read + read, base_written + written
            )

        lock.renew_with([])  # each migration starts with a full lease (and a lock still ours)
        self.history.write(entry)
        ctx = self._context(m, dry_run=False, checkpoints=entry.checkpoints)
        ctx.save = with_lock
        log.info("%s %s %s", way, m.info.version, m.info.file, extra={"env": self.env.name})
        try:
            self._call(m, way, ctx)
        except Exception as exc:
            self._record(entry, ctx, base_read, base_written, error=str(exc))
            raise
        self._record(entry, ctx, base_read, base_written, error=None)
        return VersionRun(
            version=m.info.version,
            description=m.info.description,
            direction=way,
            outcome="success",
            docs_read=entry.docs_read,
            docs_written=entry.docs_written,
            duration_ms=entry.duration_ms or 0,
            resumed=resumed,
            reread_on_resume=ctx.resumed_reread,
        )

    def _record(
        self,
        entry: VersionRecord,
        ctx: MigrationContext,
        base_read: int,
        base_written: int,
        error: str | None,
    ) -> None:
        entry.finished_at = self.clock()
        entry.duration_ms = _ms(entry.finished_at - entry.started_at)
        entry.docs_read = base_read + ctx.docs_read
        entry.docs_written = base_written + ctx.writer.written
        if error is not None:
            entry.outcome, entry.error = "failed", redact(error)[:2000]
            entry.checkpoints = ctx.checkpoints  # a later run resumes from here
            self.history.finish(entry, None)
            return
        entry.outcome, entry.checkpoints = "success", {}
        entries = [e for e in self.history.entries() if e.version != entry.version] + [entry]
        plan = planning.build_plan([m.info for m in self.migrations], entries)
        current = SchemaCurrent(
            version=plan.current,
            updated_at=entry.finished_at,
            updated_by=self.actor,
            release=self.release,
        )
        self.history.finish(entry, current)

    # -- repair and baseline ---------------------------------------------------------------
    def repair(self, *, dry_run: bool = False, force: bool = False, wait_s: float = 0) -> list[str]:
        """Re-record the checksums of edited files and mark vanished ones deleted (audited)."""
        if dry_run:
            return self._repair_locked(write=False)
        self._refuse_production(force)
        return self._locked(wait_s, self._repair_locked)

    def _repair_locked(self, write: bool = True) -> list[str]:
        from shared.migrations.model import Status

        changes = []
        now = self.clock()
        for item in self.plan().with_status(Status.CHANGED, Status.MISSING):
            entry = self.history.entry(item.version)
            if entry is None:
                continue
            entry.previous_checksum, entry.repaired_by, entry.repaired_at = (
                entry.checksum,
                self.actor,
                now,
            )
            if item.status is Status.CHANGED:
                entry.checksum = item.local_checksum or ""
                what = f"{item.version}: checksum {entry.previous_checksum} -> {entry.checksum}"
            else:
                entry.direction = "deleted"
                what = f"{item.version}: file missing, marked deleted"
            if write:
                self.history.write(entry)
                self.history.audit("repair", self.actor, now, version=item.version, change=what)
            changes.append(what)
        return changes

    def baseline(self, version: str, *, force: bool = False, wait_s: float = 0) -> Plan:
        """Adopt a database that was never migrated: versions up to `version` count as applied."""
        SemVer(version)
        self._refuse_production(force)
        return self._locked(wait_s, lambda: self._baseline_locked(version))

    def _baseline_locked(self, version: str) -> Plan:
        if self.history.entries():
            raise BadMigrationInput(
                f"baseline refused: {self.env.name} already has schema history "
                f"(current {self.plan().current}); baseline only adopts a never-migrated database"
            )
        now = self.clock()
        entry = VersionRecord(
            version=version,
            description="baseline",
            direction="baseline",
            outcome="success",
            started_at=now,
            finished_at=now,
            duration_ms=0,
            actor=self.actor,
            release=self.release,
            run_id=self.run_id,
        )
        current = SchemaCurrent(
            version=version, updated_at=now, updated_by=self.actor, release=self.release
        )
        self.history.finish(entry, current)
        return self.plan()


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
