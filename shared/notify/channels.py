"""Sending a `Message` to Slack, Discord (httpx) or e-mail (smtplib), with retries (tenacity).

Every failure is classified once: `Transient` (5xx, 408, 429, timeouts, connection errors;
SMTP 4xx) is retried with backoff; `Permanent` (any other 4xx; SMTP 5xx) is not.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.notify import render
from shared.notify.settings import DiscordChannel, EmailChannel, Retry, SlackChannel
from shared.redaction import redact

# Statuses that say "try again later" although they are 4xx.
_RETRYABLE_4XX = frozenset({408, 429})


class DeliveryError(Exception):
    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(redact(detail))
        self.detail = redact(detail)
        self.status = status
        self.attempts = 1


class Transient(DeliveryError):
    """Worth another try: the channel is down, slow or busy."""


class Permanent(DeliveryError):
    """Another try would fail the same way: bad URL, revoked webhook, refused recipient."""


def post_json(client: httpx.Client, url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST a JSON body; raise `Transient` or `Permanent` on anything but a 2xx."""
    try:
        response = client.post(url, json=payload, timeout=timeout)
    except httpx.TimeoutException:
        raise Transient("timed out") from None
    except httpx.TransportError as exc:
        raise Transient(f"connection failed: {type(exc).__name__}") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:200]
    if status >= 500 or status in _RETRYABLE_4XX:
        raise Transient(f"HTTP {status}: {body}", status)
    raise Permanent(f"HTTP {status}: {body}", status)


@dataclass
class SlackSender:
    url: str
    client: httpx.Client
    timeout: float

    def send(self, message: render.Message) -> None:
        post_json(self.client, self.url, render.slack_payload(message), self.timeout)


@dataclass
class DiscordSender:
    url: str
    client: httpx.Client
    timeout: float
    username: str = "releasectl"

    def send(self, message: render.Message) -> None:
        payload = render.discord_payload(message, self.username)
        post_json(self.client, self.url, payload, self.timeout)


@dataclass
class EmailSender:
    spec: EmailChannel
    username: str | None
    password: str | None
    timeout: float

    def send(self, message: render.Message) -> None:
        mail = render.email_message(message, self.spec.sender, self.spec.recipients)
        try:
            with self._connect() as smtp:
                if self.spec.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise Permanent("every recipient was refused") from None
        except smtplib.SMTPResponseException as exc:
            # SMTP's own convention: 4yz is transient, 5yz is permanent.
            error = Transient if 400 <= exc.smtp_code < 500 else Permanent
            raise error(f"SMTP {exc.smtp_code}", exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Transient(f"SMTP connection failed: {type(exc).__name__}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.spec.security == "ssl":
            return smtplib.SMTP_SSL(
                self.spec.host,
                self.spec.port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self.spec.host, self.spec.port, timeout=self.timeout)


def send_with_retry(send: Callable[[], None], policy: Retry) -> int:
    """Call `send` until it succeeds, a `Permanent` error, or the attempts run out.

    Returns the number of attempts; the last error is re-raised when it never succeeded.
    """
    attempts = 0
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.first_wait_seconds, max=policy.max_wait_seconds),
        retry=retry_if_exception_type(Transient),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            attempts = attempt.retry_state.attempt_number
            try:
                send()
            except DeliveryError as exc:
                exc.attempts = attempts
                raise
    return attempts


ChannelSpec = SlackChannel | DiscordChannel | EmailChannel
