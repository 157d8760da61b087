"""The flag services the function targets run.

`FlagGuard` (`on_flag_written`): judge one write to `featureFlags/{flag}`, record it, notify,
then publish the env's Remote Config templates. Every flag change (CLI, release, migration, kill
switch, console) is a write to that collection, so this is the one place publishing hooks in.
Idempotent: the audit id comes from the event id, so a redelivery finds its entry and only
re-sends the notice (which carries the same dedupe `key`) and publishes (a no-op if done).

`RemoteConfigGovernor` (`on_remote_config_updated`): judge an edit made in the Remote Config
console (`shared.flags.console`): adopt it into Firestore, or revert it by publishing ours.

Both receive their events decoded by the boundary (`shared.entrypoints`), which dead-letters
what cannot be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.clock import Clock, utcnow
from shared.config import PlaneConfig
from shared.errors import Refused
from shared.flags.audit import AuditEntry
from shared.flags.events import FlagWrite
from shared.flags.guard import Ignore, decide, own_revert_id
from shared.flags.model import Flag
from shared.flags.ports import FlagStore, NoticePublisher, RemoteConfig
from shared.flags.versions import TemplateRejected
from shared.service.ports import DeadLetters

if TYPE_CHECKING:
    from shared.flags.console import Adopt, Decision
    from shared.flags.publishing import TemplatePublisher
    from shared.flags.rc_events import RemoteConfigUpdate

log = logging.getLogger(__name__)


def env_of(plane: PlaneConfig, project: str) -> str:
    for env in plane.environments.values():
        if env.project == project:
            return env.name
    raise Refused(f"project {project!r} belongs to no configured environment")


@dataclass
class FlagGuard:
    """The console-edit guard with its adapters: each env project's flags (`stores`, by
    project id), the notice channel and the dead letters of writes it cannot judge."""

    plane: PlaneConfig
    stores: Callable[[str], FlagStore]
    notices: NoticePublisher
    letters: DeadLetters
    clock: Clock = utcnow
    publisher: TemplatePublisher | None = None  # None: flags are not delivered by Remote Config

    def handle(self, write: FlagWrite) -> AuditEntry | None:
        env = env_of(self.plane, write.project)
        store = self.stores(write.project)
        stored = guard_flag_write(
            write, env=env, store=store, notices=self.notices, now=self.clock()
        )
        if self.publisher is not None:
            self._publish(env, write, store, stored)
        return stored

    def _publish(
        self, env: str, write: FlagWrite, store: FlagStore, stored: AuditEntry | None
    ) -> None:
        """Publish after every write (also ignored ones: the echo of a revert puts back a value
        that may differ from the template); a publish with nothing to change is only reads."""
        if self.publisher is None:  # no Remote Config configured: nothing to deliver to
            return
        why = f"{write.flag} {stored.action if stored else 'written'} (event {write.event_id})"
        try:
            published = self.publisher.publish(env, why)
        except TemplateRejected as exc:  # retrying cannot help: say why, loudly, once
            log.error("Remote Config refused %s's templates: %s", env, exc.reason)
            if stored is not None:
                self.notices.publish(publish_failed(stored, exc, self.clock()))
            return
        except Exception as exc:
            if stored is not None:
                alert = publish_failed(stored, exc, self.clock())
                self.notices.publish(alert)
            raise  # transient: the trigger is delivered again, and publishes again
        if stored is not None:
            store.note_versions(write.flag, stored.id, published.versions)


def guard_flag_write(
    write: FlagWrite, *, env: str, store: FlagStore, notices: NoticePublisher, now: datetime
) -> AuditEntry | None:
    revert_id = own_revert_id(write)
    revert = store.audit_entry(write.flag, revert_id) if revert_id else None
    decision = decide(write, env=env, now=now, revert=revert)
    if isinstance(decision, Ignore):
        log.info("flag %s write ignored: %s", write.flag, decision.why, extra={"env": env})
        return None
    stored = store.record(decision.entry, decision.restore)
    log.info(
        "flag %s %s by %s %s",
        write.flag,
        stored.action,
        stored.actor,
        stored.reason,
        extra={"env": env, "event_id": write.event_id},
    )
    if stored.notice_kind() is not None:
        notices.publish(stored)
    return stored


def publish_failed(entry: AuditEntry, exc: Exception, now: datetime) -> AuditEntry:
    """The alert for a change Remote Config has not received yet (one per change: its key)."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return entry.model_copy(
        update={
            "id": f"{entry.id}-publish",
            "action": "publish_failed",
            "reason": f"NOT DELIVERED to Remote Config ({_outlook(exc)}): {reason}"[:500],
            "at": now,
        }
    )


def _outlook(exc: Exception) -> str:
    return "refused, fix the flag" if isinstance(exc, TemplateRejected) else "retrying"


@dataclass
class RemoteConfigGovernor:
    """Console edits of each env's Remote Config, judged against Firestore."""

    plane: PlaneConfig
    stores: Callable[[str], FlagStore]
    api: RemoteConfig
    publisher: TemplatePublisher
    notices: NoticePublisher
    letters: DeadLetters
    clock: Clock = utcnow

    def handle(self, update: RemoteConfigUpdate) -> list[AuditEntry]:
        from shared.flags.templates import NAMESPACES

        env = env_of(self.plane, update.project)
        version = update.version
        if version.ours:
            log.info("remote config v%s is our own publish", version.version_number)
            return []
        entries: list[AuditEntry] = []
        for namespace in NAMESPACES:
            entries += self._judge(env, namespace, update)
        return entries

    def _judge(self, env: str, namespace: str, update: RemoteConfigUpdate) -> list[AuditEntry]:
        from shared.flags.console import judge
        from shared.flags.publishing import read_flags

        number = update.version.version_number
        current = self.api.get(update.project, namespace)
        if not current.version.same_as(update.version) or current.version.ours:
            return []  # the other template's version, or superseded: the newer one is judged
        store = self.stores(update.project)
        flags, _invalid = read_flags(store)
        decisions = judge(self.plane.env(env), namespace, current.template, flags)
        entries = [self._carry_out(env, namespace, update, store, d) for d in decisions]
        if any(e.action == "reverted" for e in entries):
            # Only this template: an edit of the other one waits for its own event's judgement.
            why = f"revert console edit {namespace} v{number}"
            version, _ = self.publisher.publish_namespace(env, namespace, why)
            for entry in entries:
                store.note_versions(entry.flag, entry.id, {namespace: version})
        for entry in entries:
            self.notices.publish(entry)
        return entries

    def _carry_out(
        self,
        env: str,
        namespace: str,
        update: RemoteConfigUpdate,
        store: FlagStore,
        decision: Decision,
    ) -> AuditEntry:
        from shared.flags.audit import audit_value, entry_id
        from shared.flags.console import Adopt

        version, now = update.version, self.clock()
        actor = f"{version.who} (Remote Config console, {namespace} v{version.version_number})"
        entry = AuditEntry(
            id=entry_id(f"{update.event_id}-{namespace}-{decision.flag}"),
            flag=decision.flag,
            env=env,
            project=update.project,
            action="reverted",
            actor=actor,
            event_id=update.event_id,
            at=now,
        )
        if isinstance(decision, Adopt):
            try:
                after = store.change(decision.flag, _expect(decision), actor, now)
            except Refused as exc:  # judged on a value that is gone: the next publish fixes it
                superseded = entry.model_copy(update={"action": "superseded", "reason": exc.reason})
                return store.record(superseded, None)
            log.info("console edit of %s adopted: %s", decision.flag, decision.what)
            return entry.model_copy(
                update={
                    "action": "changed",
                    "reason": f"adopted from the Remote Config console: {decision.what}",
                    "before": audit_value(decision.before.to_doc()),
                    "after": audit_value(after.to_doc()),
                }
            )
        reason = f"console edit reverted: {decision.reason}"
        log.warning("console edit of %s reverted: %s", decision.flag, decision.reason)
        return store.record(entry.model_copy(update={"reason": reason}), None)


def _expect(decision: Adopt) -> Callable[[Flag | None], Flag]:
    """The adoption, if the flag still holds what was judged (else the judgement is stale)."""

    def change(current: Flag | None) -> Flag:
        if current is None or current.content() != decision.before.content():
            raise Refused(f"{decision.flag} changed in Firestore meanwhile; not adopted")
        after: Flag = decision.after
        return after

    return change
