"""Loopback notification receivers for the local stack, speaking the real protocols at the real
paths, and keeping what they receive (`<local dir>/inbox/inbox.jsonl`):

- a Slack incoming webhook, `POST /services/{T}/{B}/{secret}`: JSON with `text` and/or
  `blocks`, answered `200 ok` as Slack does, `400 no_text` / `invalid_payload` otherwise;
- a Discord webhook, `POST /api/webhooks/{id}/{token}`: JSON with `content` or `embeds`,
  answered `204` (no `?wait=true`), `400 {"code": 50006, …}` for an empty message;
- an SMTP server (aiosmtpd) taking AUTH LOGIN/PLAIN without TLS on loopback (any user: it is a
  sink; the user is kept, the password never).

The production senders (`shared.notify.channels`) talk to these unchanged: only the URLs and the
mail host differ. `releasectl local inbox` and the dashboard's inbox page read the file.

Run: `python -m shared.local.inbox --port P --smtp-port Q --dir DIR`.
"""

from __future__ import annotations

import argparse
import email
import json
import re
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

INBOX_FILE = "inbox.jsonl"
MAX_BODY = 1 << 20
SLACK_PATH = re.compile(r"^/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+$")
DISCORD_PATH = re.compile(r"^/api/webhooks/\d+/[A-Za-z0-9_-]+$")
Channel = Literal["slack", "discord", "email"]


class Notice(BaseModel):
    received_at: datetime
    channel: Channel
    to: str  # the webhook's path without its secret part, or the mail's recipients
    title: str
    text: str


class Inbox:
    """What the receivers got, one JSON line per notice (appends are serialised)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / INBOX_FILE
        self._lock = threading.Lock()

    def add(self, notice: Notice) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(notice.model_dump_json() + "\n")

    def read(self) -> list[Notice]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Notice.model_validate_json(line) for line in lines if line.strip()]


class Refusal(Exception):
    def __init__(self, status: int, body: str, content_type: str = "text/plain") -> None:
        super().__init__(body)
        self.status, self.body, self.content_type = status, body, content_type


def slack_notice(path: str, body: Any, now: datetime) -> Notice:
    """Slack's checks for an incoming webhook: a JSON object with `text` or `blocks`."""
    if not isinstance(body, dict):
        raise Refusal(400, "invalid_payload")
    blocks = body.get("blocks")
    text = body.get("text")
    if not text and not blocks:
        raise Refusal(400, "no_text")
    header = next(
        (
            b["text"]["text"]
            for b in blocks or []
            if isinstance(b, dict) and b.get("type") == "header"
        ),
        None,
    )
    return Notice(
        received_at=now,
        channel="slack",
        to=path.rsplit("/", 1)[0],
        title=str(header or text or ""),
        text=str(text or ""),
    )


def discord_notice(path: str, body: Any, now: datetime) -> Notice:
    """Discord's checks for an execute-webhook call: `content` or `embeds`, within limits."""
    empty = json.dumps({"code": 50006, "message": "Cannot send an empty message"})
    if not isinstance(body, dict) or not (body.get("content") or body.get("embeds")):
        raise Refusal(400, empty, "application/json")
    embeds = [e for e in body.get("embeds") or [] if isinstance(e, dict)]
    if len(embeds) > 10 or any(len(str(e.get("title", ""))) > 256 for e in embeds):
        raise Refusal(400, json.dumps({"code": 50035, "message": "Invalid Form Body"}))
    first = embeds[0] if embeds else {}
    return Notice(
        received_at=now,
        channel="discord",
        to=path.rsplit("/", 1)[0],
        title=str(first.get("title") or body.get("content") or ""),
        text=str(first.get("description") or body.get("content") or ""),
    )


def mail_notice(raw: bytes, recipients: list[str], now: datetime) -> Notice:
    message = email.message_from_bytes(raw, policy=default_policy)
    if not isinstance(message, EmailMessage):  # the default policy always makes one
        raise TypeError("not an email message")
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return Notice(
        received_at=now,
        channel="email",
        to=", ".join(recipients),
        title=str(message.get("Subject", "")),
        text=str(text),
    )


def _handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Webhooks(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                self._answer(*self._receive())
            except Refusal as exc:
                self._answer(exc.status, exc.body, exc.content_type)

        def do_GET(self) -> None:
            if self.path != "/inbox":
                self._answer(404, "not found")
                return
            notices = [n.model_dump(mode="json") for n in inbox.read()]
            self._answer(200, json.dumps({"notices": notices}), "application/json")

        def _receive(self) -> tuple[int, str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise Refusal(413, "payload too large")
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                raise Refusal(400, "invalid_payload") from None
            now = datetime.now(UTC)
            if SLACK_PATH.match(self.path):
                inbox.add(slack_notice(self.path, body, now))
                return 200, "ok", "text/plain"
            if DISCORD_PATH.match(self.path.split("?", 1)[0]):
                inbox.add(discord_notice(self.path, body, now))
                return 204, "", "text/plain"
            raise Refusal(404, "no_service")

        def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the paths carry webhook secrets: never log them

    return Webhooks


class MailSink:
    """aiosmtpd handler: every accepted message becomes a notice."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        self.inbox.add(mail_notice(data, list(envelope.rcpt_tos), datetime.now(UTC)))
        return "250 Message accepted for delivery"


def _any_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=bool(getattr(auth_data, "login", None)))


def serve(port: int, smtp_port: int, directory: Path) -> None:
    from aiosmtpd.controller import Controller

    inbox = Inbox(directory)
    mail = Controller(
        MailSink(inbox),
        hostname="127.0.0.1",
        port=smtp_port,
        authenticator=_any_login,
        auth_require_tls=False,  # loopback only, like the emulators
    )
    mail.start()
    try:
        ThreadingHTTPServer(("127.0.0.1", port), _handler(inbox)).serve_forever()
    finally:
        mail.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.smtp_port, args.dir)


if __name__ == "__main__":
    main()
