"""A `Notice` as Slack blocks, a Discord embed and plain + HTML mail. Pure, and every string
that leaves here has been through `redact`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from jinja2 import Environment

from shared.domain.model import Rollout
from shared.notify.events import Notice, NoticeKind, Severity
from shared.notify.settings import Links
from shared.redaction import redact

_ICON: dict[Severity, str] = {"info": "🔵", "success": "✅", "warning": "⚠️", "danger": "🚨"}
_COLOR: dict[Severity, int] = {
    "info": 0x3B82F6,
    "success": 0x22C55E,
    "warning": 0xF59E0B,
    "danger": 0xDC2626,
}
_TITLES = {
    NoticeKind.STARTED: "rollout of {release} to {env} started",
    NoticeKind.AWAITING_APPROVAL: "{release} awaits approval for {env}",
    NoticeKind.BLOCKED: "{release} is blocked from {env}",
    NoticeKind.LIVE: "{release} is live in {env}",
    NoticeKind.ROLLED_BACK: "{release} was rolled back in {env}",
    NoticeKind.ROLLBACK_FAILED: "rollback of {release} in {env} FAILED: a human is needed",
    NoticeKind.FLAG_REVERTED: "feature flag {subject} was reverted in {env}",
    NoticeKind.FLAG_CHANGED: "feature flag {subject} changed in {env}",
    NoticeKind.MONITORING_BREACH: "monitoring breach in {env}: {subject}",
    NoticeKind.SECRET_EXPOSED: "secret {subject} exposed in {env}: revoke and rotate now",
    NoticeKind.BACKUP_TAKEN: "backup taken in {env}",
    NoticeKind.BACKUP_RESTORED: "backup restored in {env} ({subject})",
    NoticeKind.OPERATION_FAILED: "{subject} in {env} FAILED",
}
MAX_EVIDENCE_LINES = 8


@dataclass(frozen=True)
class Message:
    """What every channel says, already redacted."""

    title: str
    reason: str
    facts: tuple[tuple[str, str], ...]
    evidence: tuple[str, ...]
    commands: tuple[str, ...]
    link: str | None
    severity: Severity
    at: datetime


def evidence_lines(rollout: Rollout | None) -> tuple[str, ...]:
    """A short summary of the rollout's steps: status, reason, failed checks."""
    if rollout is None:
        return ()
    lines: list[str] = []
    for name, step in rollout.steps.items():
        lines.append(f"{name}: {step.status}" + (f" ({step.reason})" if step.reason else ""))
        for check in step.detail.get("checks", []) or []:
            if isinstance(check, dict) and check.get("required", True) and not check.get("ok"):
                lines.append(f"  {check.get('name')}: {check.get('detail', '')}")
    if len(lines) > MAX_EVIDENCE_LINES:
        lines = [*lines[: MAX_EVIDENCE_LINES - 1], f"… {len(lines) - MAX_EVIDENCE_LINES + 1} more"]
    return tuple(redact(line) for line in lines)


def build_message(
    notice: Notice, links: Links, *, control_project: str, rollout: Rollout | None = None
) -> Message:
    values = {
        "release": notice.release or "-",
        "env": notice.env,
        "attempt": notice.attempt or 1,
        "subject": notice.subject or "-",
        "control_project": control_project,
    }
    title = _TITLES.get(notice.kind, "{release} in {env}: " + notice.kind.value).format(**values)
    facts = [("environment", notice.env)]
    if notice.release:
        facts.append(("release", f"{notice.release} (attempt {notice.attempt or 1})"))
    if notice.actor:
        facts.append(("by", notice.actor))
    facts += list(notice.facts)
    commands = [links.status_command.format(**values)]
    link = None
    if notice.release:
        commands.append(links.history_command.format(**values))
        link = links.rollout_url.format(**values) if links.rollout_url else None
    return Message(
        title=redact(f"{_ICON[notice.severity]} {title}"),
        reason=redact(notice.reason or ""),
        facts=tuple((redact(k), redact(v)) for k, v in facts),
        evidence=evidence_lines(rollout),
        commands=tuple(redact(c) for c in commands),
        link=link,
        severity=notice.severity,
        at=notice.at,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- Slack (incoming webhook, Block Kit) ------------------------------------------------------


def slack_payload(m: Message) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(m.title, 150)}},
    ]
    if m.reason:
        text = f"*Reason:* {m.reason}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
    fields = [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 2000)} for k, v in m.facts[:10]]
    blocks.append({"type": "section", "fields": fields})
    if m.evidence:
        text = "*Evidence*\n```" + "\n".join(m.evidence) + "```"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
    context = " · ".join(f"`{c}`" for c in m.commands)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if m.link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open rollout"}}
        blocks.append({"type": "actions", "elements": [{**button, "url": m.link}]})
    # `text` is the fallback shown in notifications and by clients that cannot draw blocks.
    return {"text": _cut(f"{m.title}. {m.reason}".strip(". "), 3000), "blocks": blocks}


# -- Discord (webhook, embeds) ----------------------------------------------------------------


def discord_payload(m: Message, username: str = "releasectl") -> dict[str, Any]:
    description = m.reason
    if m.evidence:
        description += "\n```\n" + "\n".join(m.evidence) + "\n```"
    embed: dict[str, Any] = {
        "title": _cut(m.title, 256),
        "description": _cut(description, 4096),
        "color": _COLOR[m.severity],
        "fields": [
            {"name": _cut(k, 256), "value": _cut(v or "-", 1024), "inline": True}
            for k, v in m.facts[:25]
        ],
        "footer": {"text": _cut(" · ".join(m.commands), 2048)},
        "timestamp": m.at.isoformat(),
    }
    if m.link:
        embed["url"] = m.link
    # No @everyone / @here / role pings, whatever a reason text says.
    return {"username": username, "embeds": [embed], "allowed_mentions": {"parse": []}}


# -- e-mail (plain + HTML) --------------------------------------------------------------------

_HTML = """\
<!doctype html>
<html><body style="font-family: sans-serif">
<h2 style="color: #{{ '%06x' % color }}">{{ m.title }}</h2>
{% if m.reason %}<p><strong>Reason:</strong> {{ m.reason }}</p>{% endif %}
<table cellpadding="4">
{% for k, v in m.facts %}<tr><th align="left">{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}</table>
{% if m.evidence %}<h3>Evidence</h3><pre>{{ m.evidence | join('\n') }}</pre>{% endif %}
<p>{% for c in m.commands %}<code>{{ c }}</code><br>{% endfor %}</p>
{% if m.link %}<p><a href="{{ m.link }}">Open the rollout</a></p>{% endif %}
</body></html>
"""
# autoescape: reasons and flag values are free text from outside.
_TEMPLATE = Environment(autoescape=True).from_string(_HTML)


def email_text(m: Message) -> str:
    lines = [m.title, ""]
    if m.reason:
        lines += [f"Reason: {m.reason}", ""]
    lines += [f"{k}: {v}" for k, v in m.facts]
    if m.evidence:
        lines += ["", "Evidence:", *m.evidence]
    lines += ["", *m.commands]
    if m.link:
        lines += ["", m.link]
    return "\n".join(lines) + "\n"


def email_html(m: Message) -> str:
    return _TEMPLATE.render(m=m, color=_COLOR[m.severity])


def email_message(m: Message, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = _cut(m.title, 200)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(email_text(m))
    msg.add_alternative(email_html(m), subtype="html")
    return msg
