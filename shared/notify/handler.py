"""`on_release_event`: one `release-events` message → at most one message per channel.

Decode (bad → dead letter, unknown kind → logged), route by env and kind, then for each
channel: claim in the ledger (a duplicate stops here), render, send with retries, record the
outcome. A channel that is down or misconfigured is recorded and never raises: notifications
must not hold up a rollout or a rollback. Only a failure of the ledger itself (Firestore)
escapes, so Pub/Sub redelivers and the dedupe records still hold.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx

from shared.clock import Clock, utcnow
from shared.config import PlaneConfig
from shared.dead_letters import decoded, refuse
from shared.domain.model import Rollout
from shared.errors import Refused
from shared.notify import channels, render
from shared.notify.events import Ignored, Notice, decode
from shared.notify.ledger import Delivery
from shared.notify.ports import RolloutReader, SecretSource, Sender, SentLog
from shared.notify.settings import DiscordChannel, NotifyConfig, SlackChannel
from shared.redaction import redact
from shared.service.ports import DeadLetters
from shared.topics import RELEASE_EVENTS
from shared.transport import PubSubMessage

log = logging.getLogger(__name__)


class Misconfigured(channels.Permanent):
    """The channel cannot be built: its secret is missing, or its env is unknown."""


@dataclass
class Outcome:
    status: Literal["notified", "ignored", "refused", "unrouted"]
    note: str = ""
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass
class Notifier:
    config: NotifyConfig
    plane: PlaneConfig
    control_project: str
    ledger: SentLog
    letters: DeadLetters
    secrets: SecretSource
    http: httpx.Client
    rollouts: RolloutReader | None = None
    clock: Clock = utcnow

    def refuse(
        self, event_id: str, reason: str, payload: bytes, attributes: dict[str, str]
    ) -> Outcome:
        """Dead-letter a message that can never be valid, and acknowledge it."""
        dead = refuse(
            self.letters.put,
            reason,
            event_id=event_id,
            topic=RELEASE_EVENTS,
            payload=payload,
            attributes=attributes,
            now=self.clock(),
        )
        return Outcome("refused", dead.reason)

    def handle(self, msg: PubSubMessage) -> Outcome:
        try:
            notice = decoded(decode, msg, what="release event")
        except Refused as exc:
            return self.refuse(msg.event_id, exc.reason, msg.data, msg.attributes)
        if isinstance(notice, Ignored):
            log.info("ignored: %s", notice.reason, extra={"event_id": msg.event_id})
            return Outcome("ignored", notice.reason)
        if notice.env not in self.plane.environments:
            known = ", ".join(sorted(self.plane.environments))
            reason = f"unknown environment {notice.env!r} (known: {known})"
            return self.refuse(msg.event_id, reason, msg.data, msg.attributes)
        names = self.config.channels_for(notice.env, notice.kind)
        if not names:
            log.info("no route for %s in %s", notice.kind, notice.env)
            return Outcome("unrouted", f"no channel for {notice.kind} in {notice.env}")
        self._load_secrets(names, notice.env)
        message = render.build_message(
            notice,
            self.config.links,
            control_project=self.control_project,
            rollout=self._rollout(notice),
        )
        # Channels in parallel: a slow or retrying one does not delay the others.
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            done = pool.map(lambda name: self._deliver(notice, name, message, msg.event_id), names)
            deliveries = list(done)
        return Outcome("notified", notice.key, [d for d in deliveries if d is not None])

    def _load_secrets(self, names: list[str], env: str) -> None:
        """Read the channels' secrets before rendering, so that redaction knows their values
        (a reason that quotes a webhook URL must not post it). A missing one is reported
        by the channel itself."""
        for name in names:
            spec = self.config.channels[name]
            for field_name in ("webhook_secret", "username_secret", "password_secret"):
                secret = getattr(spec, field_name, None)
                if secret:
                    try:
                        self.secrets.get(env, secret)
                    except Exception as exc:  # the channel reports it when it sends
                        log.warning("secret %s unreadable: %s", secret, type(exc).__name__)

    def _rollout(self, notice: Notice) -> Rollout | None:
        """The rollout's steps, for the evidence summary. Best effort: a message without
        evidence is better than no message."""
        if self.rollouts is None or notice.release is None:
            return None
        try:
            rollout = self.rollouts.read(notice.release, notice.env)
        except Exception as exc:  # any read failure only costs the evidence lines
            log.warning("no evidence for %s: %s", notice.key, type(exc).__name__)
            return None
        # A late copy of an old attempt's event must not show a newer attempt's evidence.
        if rollout is None or (notice.attempt is not None and rollout.attempt != notice.attempt):
            return None
        return rollout

    def _deliver(
        self, notice: Notice, name: str, message: render.Message, event_id: str
    ) -> Delivery | None:
        record = Delivery(
            key=notice.key,
            channel=name,
            kind=notice.kind.value,
            env=notice.env,
            release=notice.release,
            event_id=event_id,
            status="sending",
            claimed_at=self.clock(),
        )
        stale = timedelta(seconds=self.config.stale_claim_seconds)
        if not self.ledger.claim(record, stale):
            log.info("duplicate: %s already sent to %s", notice.key, name)
            return None
        done = record.model_copy(update=self._send(name, notice.env, message))
        self.ledger.finish(done)
        extra = {"event_id": event_id, "env": notice.env, "release": notice.release}
        log.info("%s %s: %s", name, notice.key, done.status, extra=extra)
        return done

    def _send(self, name: str, env: str, message: render.Message) -> dict[str, Any]:
        """Send on one channel; the fields that record how it went. Never raises."""
        outcome: dict[str, Any] = {"finished_at": None}
        try:
            sender = self._sender(name, env)
            attempts = channels.send_with_retry(lambda: sender.send(message), self.config.retry)
            outcome.update(status="sent", attempts=attempts)
        except Misconfigured as exc:
            outcome.update(status="misconfigured", error=exc.detail)
        except channels.DeliveryError as exc:
            status = "rejected" if isinstance(exc, channels.Permanent) else "failed"
            outcome.update(
                status=status, attempts=exc.attempts, http_status=exc.status, error=exc.detail
            )
        except Exception as exc:  # a bug in one channel must not stop the others
            log.exception("channel %s failed unexpectedly", name)
            outcome.update(status="failed", error=redact(f"{type(exc).__name__}: {exc}"))
        outcome["finished_at"] = self.clock()
        return outcome

    def _sender(self, name: str, env: str) -> Sender:
        spec = self.config.channels[name]
        timeout = self.config.retry.timeout_seconds
        if isinstance(spec, SlackChannel | DiscordChannel):
            url = self._secret(env, spec.webhook_secret)
            if isinstance(spec, SlackChannel):
                return channels.SlackSender(url, self.http, timeout)
            return channels.DiscordSender(url, self.http, timeout, spec.username)
        user = self._secret(env, spec.username_secret) if spec.username_secret else None
        password = self._secret(env, spec.password_secret) if spec.password_secret else None
        return channels.EmailSender(spec, user, password, timeout)

    def _secret(self, env: str, name: str) -> str:
        value = self.secrets.get(env, name)
        if not value:
            raise Misconfigured(f"secret {name} has no enabled version in {env}")
        return value
