"""The local notification receivers, driven by the production senders (`shared.notify.channels`)
over real HTTP and SMTP: what they accept is kept, what Slack or Discord would refuse is refused."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.local.emulators import free_port, wait_ready
from shared.local.inbox import Inbox
from shared.local.state import Receivers
from shared.notify.channels import DiscordSender, EmailSender, Permanent, SlackSender
from shared.notify.render import Message
from shared.notify.settings import EmailChannel

MESSAGE = Message(
    title="1.2.0 rolled back in production",
    reason="payments: status 500, expected 200 <b>",
    facts=(("release", "1.2.0"), ("env", "production")),
    evidence=("smoke (production): 3 checked, 1 failed",),
    commands=("releasectl status --env production",),
    link=None,
    severity="danger",
    at=datetime(2026, 11, 28, 19, 0, tzinfo=UTC),
)


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receivers, Path]]:
    directory = tmp_path_factory.mktemp("inbox")
    port, smtp = free_port(), free_port()
    cmd = [sys.executable, "-m", "shared.local.inbox", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--smtp-port", str(smtp), "--dir", str(directory)])
    try:
        wait_ready(f"http://127.0.0.1:{port}/inbox", "receivers", proc)  # type: ignore[arg-type]
        yield Receivers(pid=proc.pid, port=port, smtp_port=smtp), directory
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_slack_discord_and_mail_reach_the_inbox(receivers: tuple[Receivers, Path]) -> None:
    r, directory = receivers
    urls = r.webhook_urls("production")
    with httpx.Client() as client:
        SlackSender(urls["SLACK_WEBHOOK_URL"], client, 10).send(MESSAGE)
        DiscordSender(urls["DISCORD_WEBHOOK_URL"], client, 10).send(MESSAGE)
    mail = EmailChannel(
        type="email",
        host="127.0.0.1",
        port=r.smtp_port,
        security="none",
        sender="releases@avalo.test",
        recipients=("oncall@avalo.test",),
    )
    EmailSender(mail, "releases", "pass" + "word", 10).send(MESSAGE)  # AUTH LOGIN, no TLS
    got = {n.channel: n for n in Inbox(directory).read()}
    assert set(got) == {"slack", "discord", "email"}
    assert all(n.title == MESSAGE.title for n in got.values())
    assert "payments: status 500" in got["email"].text
    assert got["email"].to == "oncall@avalo.test"
    assert "localproductionhook" not in got["slack"].to  # the secret part is not kept


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/services/TLOCAL/BX/abc", {}, 400),  # Slack: no_text
        ("/services/TLOCAL/BX/abc", [1, 2], 400),  # Slack: invalid_payload
        ("/api/webhooks/1/tok", {"username": "x"}, 400),  # Discord: empty message
        ("/api/hooks/nowhere", {"text": "x"}, 404),
    ],
)
def test_what_the_real_services_refuse_is_refused(
    receivers: tuple[Receivers, Path], path: str, body: object, status: int
) -> None:
    r, directory = receivers
    before = len(Inbox(directory).read())
    answer = httpx.post(f"http://127.0.0.1:{r.port}{path}", json=body)
    assert answer.status_code == status
    assert len(Inbox(directory).read()) == before


def test_a_refused_webhook_is_a_permanent_failure_for_the_sender(
    receivers: tuple[Receivers, Path],
) -> None:
    r, _ = receivers
    with httpx.Client() as client, pytest.raises(Permanent):
        SlackSender(f"http://127.0.0.1:{r.port}/services/nope", client, 10).send(MESSAGE)
