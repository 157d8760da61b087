"""Notifications end to end on real parts: loopback HTTP servers stand in for Slack and
Discord, aiosmtpd for the mail server, the Firestore emulator holds the dedupe records and
dead letters, and webhook URLs come from the local secret store."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.bootstrap import secret_store
from shared.config import DEFAULT_CONTROL_PROJECT, PlaneConfig
from shared.local.emulators import free_port
from shared.log import JsonFormatter
from shared.notify.adapters import FirestoreRollouts, StoreSecrets
from shared.notify.handler import Notifier
from shared.notify.ledger import FirestoreSentLog
from shared.notify.settings import NotifyConfig
from shared.secrets.handler import SecretsSettings
from shared.secrets.local_store import LocalSecretStore
from shared.transport import PubSubMessage

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROD = "demo-avalo-production"
# Assembled at run time: the source holds no credential-shaped literal (secret scan).
PLANTED = "sk_" + "live_" + "PLANTEDplanted0123456789"


# -- stand-ins for Slack, Discord and the mail server ----------------------------------------


@dataclass
class Capture:
    """What one loopback webhook received; answers with `script` then 200s."""

    script: list[int] = field(default_factory=list)
    posts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: dict[str, Any]) -> int:
        with self.lock:
            status = self.script.pop(0) if self.script else 200
            self.posts.append((status, body))
            return status

    def delivered(self) -> list[dict[str, Any]]:
        return [body for status, body in self.posts if status < 300]


class _Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.server.capture.record(body)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@dataclass
class Webhook:
    url: str
    capture: Capture


@pytest.fixture
def webhooks() -> Iterator[dict[str, Webhook]]:
    servers: dict[str, tuple[ThreadingHTTPServer, Webhook]] = {}
    for name in ("slack", "discord"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
        capture = Capture()
        server.capture = capture  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook/{name}-token-abcdef"
        servers[name] = (server, Webhook(url, capture))
    try:
        yield {name: hook for name, (_, hook) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.shutdown()
            server.server_close()


class MailSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, MailSink]]:
    sink, port = MailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


# -- the notifier on real parts ---------------------------------------------------------------


def _config(smtp_port: int) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": {
                "slack": {"type": "slack", "webhook_secret": "SLACK_WEBHOOK_URL"},
                "discord": {"type": "discord", "webhook_secret": "DISCORD_WEBHOOK_URL"},
                "email": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "sender": "releases@avalo.test",
                    "recipients": ["oncall@avalo.test"],
                },
            },
            "routes": [{"envs": ["production"], "channels": ["slack", "discord", "email"]}],
            # waits of a few milliseconds: the retry path runs, the suite stays fast
            "retry": {"attempts": 3, "first_wait_seconds": 0.01, "max_wait_seconds": 0.05},
        }
    )


@pytest.fixture
def notifier(
    firestore_db: Any,
    plane: PlaneConfig,
    webhooks: dict[str, Webhook],
    smtp: tuple[int, MailSink],
    tmp_path: Path,
) -> Iterator[Notifier]:
    store = LocalSecretStore(tmp_path, PROD)
    store.add_version("SLACK_WEBHOOK_URL", webhooks["slack"].url.encode())
    store.add_version("DISCORD_WEBHOOK_URL", webhooks["discord"].url.encode())
    settings = SecretsSettings(backend="local", dir=tmp_path)
    with httpx.Client() as client:
        yield Notifier(
            config=_config(smtp[0]),
            plane=plane,
            control_project=DEFAULT_CONTROL_PROJECT,
            ledger=FirestoreSentLog(firestore_db),
            letters=FirestoreDeadLetters(firestore_db),
            secrets=StoreSecrets(plane, lambda env: secret_store(env, settings)),
            http=client,
            rollouts=FirestoreRollouts(firestore_db),
        )


def rollout_event(to: str, eid: str, reason: str | None = None) -> PubSubMessage:
    body = {
        "key": f"2.0.0/production/1/{to}",
        "release": "2.0.0",
        "env": "production",
        "attempt": 1,
        "from": "gating",
        "to": to,
        "actor": "gates",
        "reason": reason,
        "at": AT.isoformat(),
        "eventId": "ev-1",
    }
    attrs = {"kind": "rollout.state", "key": body["key"], "env": "production", "state": to}
    return PubSubMessage(eid, json.dumps(body).encode(), attrs)


def records(db: Any) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() for s in db.collection("notifications").stream()}


# -- the tests --------------------------------------------------------------------------------


def test_three_copies_concurrently_give_one_message_per_channel(
    notifier: Notifier, webhooks: dict[str, Webhook], smtp: tuple[int, MailSink], firestore_db: Any
) -> None:
    copies = [
        rollout_event("blocked", f"m{n}", reason="secret KYC_API_KEY: overdue") for n in range(3)
    ]
    threads = [threading.Thread(target=notifier.handle, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    notifier.handle(copies[0])  # and a plain redelivery later
    (slack,) = webhooks["slack"].capture.delivered()
    (discord,) = webhooks["discord"].capture.delivered()
    (mail,) = smtp[1].messages
    assert slack["blocks"][0]["text"]["text"] == "🚨 2.0.0 is blocked from production"
    assert "secret KYC_API_KEY: overdue" in json.dumps(slack)
    assert discord["embeds"][0]["title"] == "🚨 2.0.0 is blocked from production"
    assert mail["Subject"] == "🚨 2.0.0 is blocked from production"
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    stored = records(firestore_db)
    assert set(stored) == {f"2.0.0|production|1|blocked:{c}" for c in ("slack", "discord", "email")}
    assert {r["status"] for r in stored.values()} == {"sent"}


def test_500_then_200_is_delivered_once(
    notifier: Notifier, webhooks: dict[str, Webhook], firestore_db: Any
) -> None:
    webhooks["slack"].capture.script = [500]
    notifier.handle(rollout_event("live", "m1"))
    assert [status for status, _ in webhooks["slack"].capture.posts] == [500, 200]
    assert len(webhooks["slack"].capture.delivered()) == 1
    record = records(firestore_db)["2.0.0|production|1|live:slack"]
    assert (record["status"], record["attempts"]) == ("sent", 2)


def test_a_4xx_is_recorded_and_not_retried(
    notifier: Notifier, webhooks: dict[str, Webhook], firestore_db: Any
) -> None:
    webhooks["discord"].capture.script = [400, 400, 400]
    outcome = notifier.handle(rollout_event("live", "m1"))
    assert len(webhooks["discord"].capture.posts) == 1
    record = records(firestore_db)["2.0.0|production|1|live:discord"]
    assert (record["status"], record["httpStatus"], record["attempts"]) == ("rejected", 400, 1)
    assert {d.channel: d.status for d in outcome.deliveries}["slack"] == "sent"


def test_channels_down_never_raise(
    notifier: Notifier,
    webhooks: dict[str, Webhook],
    smtp: tuple[int, MailSink],
    firestore_db: Any,
    tmp_path: Path,
) -> None:
    # Slack answers 503 every time; the mail server is gone.
    webhooks["slack"].capture.script = [503] * 10
    notifier.config = _config(free_port())
    outcome = notifier.handle(rollout_event("rollback_failed", "m1"))
    statuses = {d.channel: (d.status, d.attempts) for d in outcome.deliveries}
    assert statuses == {"slack": ("failed", 3), "discord": ("sent", 1), "email": ("failed", 3)}
    assert len(webhooks["slack"].capture.posts) == 3
    assert smtp[1].messages == []


def test_a_planted_secret_appears_in_no_log_message_or_dead_letter(
    notifier: Notifier,
    webhooks: dict[str, Webhook],
    smtp: tuple[int, MailSink],
    firestore_db: Any,
) -> None:
    webhook_url = webhooks["slack"].url  # a secret read from the store by the handler
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shared")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        reason = f"payment failed with {PLANTED}; posted to {webhook_url}"
        notifier.handle(rollout_event("rolled_back", "m1", reason=reason))
        bad = PubSubMessage("bad-1", f'{{"key": "{PLANTED}"'.encode(), {"kind": "rollout.state"})
        notifier.handle(bad)
        wrong = {"key": "k", "flag": "f", "env": "production", "project": "p", "actor": PLANTED}
        notifier.handle(
            PubSubMessage("bad-2", json.dumps(wrong).encode(), {"kind": "flag.changed"})
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    letters = [s.to_dict() for s in firestore_db.collection("deadLetters").stream()]
    assert {d["eventId"] for d in letters} == {"bad-1", "bad-2"}
    sent = [json.dumps(b) for w in webhooks.values() for b in w.capture.delivered()]
    sent += [m.as_string() for m in smtp[1].messages]
    assert len(sent) == 3
    places = {
        "log": stream.getvalue(),
        "dead letters": json.dumps(letters, default=str),
        "messages": "\n".join(sent),
        "records": json.dumps(records(firestore_db), default=str),
    }
    for where, text in places.items():
        assert PLANTED not in text, where
        assert webhook_url not in text and "slack-token-abcdef" not in text, where
    assert "[REDACTED]" in places["messages"] and "[REDACTED]" in places["dead letters"]


def test_the_function_target(
    notifier: Notifier,
    webhooks: dict[str, Webhook],
    firestore_db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`functions.main.on_release_event` decodes the push envelope and hands it over."""
    from cloudevents.http import CloudEvent

    import functions.main as entry

    monkeypatch.setattr(entry, "_notifier", lambda: notifier)
    message = rollout_event("awaiting_approval", "fn-1")
    data = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": message.attributes,
            "messageId": "fn-1",
        },
        "subscription": "projects/demo-release-control/subscriptions/notify",
    }
    attrs = {
        "id": "fn-1",
        "source": "//pubsub.googleapis.com/projects/demo-release-control/topics/release-events",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
    }
    entry.on_release_event(CloudEvent(attrs, data))
    entry.on_release_event(CloudEvent({**attrs, "id": "fn-2"}, "not json"))
    assert len(webhooks["slack"].capture.delivered()) == 1
    letter = firestore_db.collection("deadLetters").document("release-events:fn-2").get().to_dict()
    assert letter["reason"] == "CloudEvent data is not JSON" and letter["topic"] == "release-events"


def test_a_blocked_rollout_is_announced_with_reason_and_evidence(
    notifier: Notifier,
    webhooks: dict[str, Webhook],
    smtp: tuple[int, MailSink],
    firestore_db: Any,
    plane: PlaneConfig,
    tmp_path: Path,
) -> None:
    """The whole path: the secrets gate blocks production, the core publishes the state
    change, and the notification carries the gate's reason and the failed checks."""
    from datetime import timedelta

    from tests.integration import test_secrets_gate as gate

    secrets_root = tmp_path / "gate"
    gate.seed(secrets_root, PROD, gate.LIVE, gate.T0)
    bus = gate.make_bus(firestore_db, plane, secrets_root, gate.T0 + timedelta(days=100))
    gate.promote(bus, "production")
    events = bus.ports.events
    assert isinstance(events, gate.Events)
    blocked = next(e for e in events.published if e.to_state == "blocked")
    data = blocked.model_dump_json(by_alias=True).encode()
    notifier.handle(PubSubMessage("pub-1", data, {"kind": "rollout.state"}))
    (slack,) = webhooks["slack"].capture.delivered()
    text = json.dumps(slack, ensure_ascii=False)
    assert "3.1.0 is blocked from production" in text
    assert "secret KYC_API_KEY: overdue for rotation by 10 day(s)" in text
    assert "gates: failed" in text  # the evidence summary, read from the rollout
    assert "releasectl status --env production" in text and "releasectl history 3.1.0" in text
    assert gate.KYC_VALUE not in text and gate.LIVE not in text
    (mail,) = smtp[1].messages
    assert "secret KYC_API_KEY" in mail.get_body(("plain",)).get_content()
