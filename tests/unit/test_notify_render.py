"""Decoding release events into notices, routing, and the three message formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.config import DEFAULT_CONFIG_FILE, load_config
from shared.domain.model import Rollout, StepRecord
from shared.domain.states import State
from shared.errors import ConfigError, Refused
from shared.notify import render
from shared.notify.events import Ignored, Notice, NoticeKind, decode
from shared.notify.settings import DEFAULT_NOTIFY_FILE, Links, NotifyConfig, load_notify_config
from shared.redaction import remember
from shared.transport import PubSubMessage

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIVE_KEY = "sk_" + "live_" + "zzzzyyyyxxxx1234"


def rollout_msg(
    to: str, *, frm: str = "gating", reason: str | None = None, eid: str = "m1"
) -> PubSubMessage:
    body = {
        "key": f"1.2.0/production/1/{to}",
        "release": "1.2.0",
        "env": "production",
        "attempt": 1,
        "from": frm,
        "to": to,
        "actor": "gates",
        "reason": reason,
        "at": AT.isoformat(),
        "eventId": "e1",
    }
    return PubSubMessage(eid, json.dumps(body).encode(), {"kind": "rollout.state"})


def test_rollout_states_map_to_kinds_and_keys() -> None:
    notice = decode(rollout_msg("blocked", reason="secret K: overdue"))
    assert isinstance(notice, Notice)
    assert (notice.kind, notice.key, notice.reason) == (
        NoticeKind.BLOCKED,
        "1.2.0/production/1/blocked",
        "secret K: overdue",
    )
    assert notice.severity == "danger"
    pending = decode(rollout_msg("pending", frm="blocked"))
    gating = decode(rollout_msg("gating", frm="pending"))
    assert isinstance(pending, Notice) and isinstance(gating, Notice)
    assert pending.key == gating.key == "1.2.0/production/1/started"  # one "started" notice


def test_flag_and_breach_events() -> None:
    flag = {
        "key": "f-1",
        "flag": "new_checkout",
        "env": "staging",
        "project": "demo-avalo-staging",
        "actor": "flags",
        "reason": "error rate",
        "before": {"enabled": True},
        "after": {"enabled": False},
        "at": AT.isoformat(),
        "extra": "ignored",
    }
    notice = decode(PubSubMessage("m", json.dumps(flag).encode(), {"kind": "flag.reverted"}))
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.FLAG_REVERTED
    assert ("before", '{"enabled": true}') in notice.facts
    breach = {"key": "b-1", "env": "production", "metric": "error_rate", "at": AT.isoformat()}
    notice = decode(PubSubMessage("m", json.dumps(breach).encode(), {"kind": "monitoring.breach"}))
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.MONITORING_BREACH


def test_unknown_kind_is_ignored() -> None:
    out = decode(PubSubMessage("m", b"{}", {"kind": "something.else"}))
    assert isinstance(out, Ignored) and "unknown event kind 'something.else'" in out.reason


@pytest.mark.parametrize(
    ("data", "attrs", "reason"),
    [
        (b"{}", {}, "no `kind` attribute"),
        (b"not json", {"kind": "rollout.state"}, "rollout.state: malformed JSON"),
        (b"[1]", {"kind": "rollout.state"}, "must be a JSON object"),
        (b'{"release": "1"}', {"kind": "rollout.state"}, "missing field 'key'"),
        (b'{"key": "k"}', {"kind": "flag.changed"}, "flag.changed: missing field 'flag'"),
    ],
)
def test_malformed_messages_are_refused_with_one_reason(
    data: bytes, attrs: dict[str, str], reason: str
) -> None:
    with pytest.raises(Refused, match=reason):
        decode(PubSubMessage("m", data, attrs))


def test_repo_notifications_file_and_routing() -> None:
    envs = set(load_config(DEFAULT_CONFIG_FILE).environments)
    config = load_notify_config(DEFAULT_NOTIFY_FILE, envs)
    assert config.channels_for("production", NoticeKind.ROLLBACK_FAILED) == [
        "slack",
        "discord",
        "email",
    ]
    assert config.channels_for("production", NoticeKind.STARTED) == ["slack"]
    assert config.channels_for("dev", NoticeKind.STARTED) == []
    assert config.channels_for("staging", NoticeKind.LIVE) == ["slack"]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([{"channels": ["nope"]}], "undeclared channel"),
        ([{"channels": ["s"], "kinds": ["exploded"]}], "unknown kind"),
    ],
)
def test_bad_routes(routes: list[dict[str, object]], message: str) -> None:
    raw = {"channels": {"s": {"type": "slack", "webhook_secret": "SLACK_URL"}}, "routes": routes}
    with pytest.raises(ValueError, match=message):
        NotifyConfig.model_validate(raw)


def test_route_with_unknown_env(tmp_path: object) -> None:
    config = NotifyConfig.model_validate(
        {
            "channels": {"s": {"type": "slack", "webhook_secret": "SLACK_URL"}},
            "routes": [{"envs": ["qa"], "channels": ["s"]}],
        }
    )
    with pytest.raises(ConfigError, match="unknown environment"):
        config.check_envs({"dev"})


def _message(
    reason: str = "gates: secret K overdue", rollout: Rollout | None = None
) -> render.Message:
    notice = decode(rollout_msg("blocked", reason=reason))
    assert isinstance(notice, Notice)
    return render.build_message(notice, Links(), control_project="ctl-proj", rollout=rollout)


def test_message_links_commands_and_evidence() -> None:
    rollout = Rollout(
        release="1.2.0",
        env="production",
        state=State.BLOCKED,
        actor="a",
        created_at=AT,
        updated_at=AT,
        state_since=AT,
        steps={
            "gates": StepRecord(
                status="failed",
                reason="secret K: overdue",
                detail={
                    "checks": [
                        {"name": "secret K", "ok": False, "required": True, "detail": "overdue"},
                        {"name": "secret W", "ok": False, "required": False, "detail": "soon"},
                    ]
                },
            )
        },
    )
    m = _message(rollout=rollout)
    assert m.title == "🚨 1.2.0 is blocked from production"
    assert m.commands == ("releasectl status --env production", "releasectl history 1.2.0")
    assert m.link is not None and "ctl-proj" in m.link and "1.2.0" in m.link
    assert m.evidence == ("gates: failed (secret K: overdue)", "  secret K: overdue")


def test_slack_discord_and_email_formats() -> None:
    m = _message()
    slack = render.slack_payload(m)
    assert slack["blocks"][0]["type"] == "header"
    assert any(b["type"] == "actions" for b in slack["blocks"])
    assert "gates: secret K overdue" in slack["text"]
    discord = render.discord_payload(m)
    (embed,) = discord["embeds"]
    assert embed["color"] == 0xDC2626 and embed["url"] == m.link
    assert discord["allowed_mentions"] == {"parse": []}
    mail = render.email_message(m, "from@x.io", ("a@x.io", "b@x.io"))
    assert mail["To"] == "a@x.io, b@x.io"
    assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None


def test_html_is_escaped() -> None:
    html = render.email_html(_message(reason="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_secrets_never_reach_a_message() -> None:
    remember("planted-render-secret")
    m = _message(reason=f"leaked planted-render-secret and {LIVE_KEY}")
    for text in (
        json.dumps(render.slack_payload(m)),
        json.dumps(render.discord_payload(m)),
        render.email_text(m),
        render.email_html(m),
    ):
        assert "planted-render-secret" not in text and LIVE_KEY not in text
        assert "[REDACTED]" in text


def test_secret_exposed_event() -> None:
    body = {
        "key": "production/STRIPE_SECRET_KEY/abc",
        "secret": "STRIPE_SECRET_KEY",
        "env": "production",
        "owner": "payments",
        "actor": "ana",
        "reason": f"pasted in a public gist: {LIVE_KEY}",
        "at": AT.isoformat(),
    }
    notice = decode(PubSubMessage("m", json.dumps(body).encode(), {"kind": "secret.exposed"}))
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.SECRET_EXPOSED
    m = render.build_message(notice, Links(), control_project="c")
    assert m.title == "🚨 secret STRIPE_SECRET_KEY exposed in production: revoke and rotate now"
    assert ("owner", "payments") in m.facts and LIVE_KEY not in m.reason
    assert m.link is None and m.commands == ("releasectl status --env production",)


def test_link_templates_are_checked_at_load() -> None:
    with pytest.raises(ValueError, match="status_command: bad placeholder 'nope'"):
        Links(status_command="releasectl status --env {nope}")


def test_a_finished_operation_is_announced_by_what_it_did() -> None:
    op = {
        "id": "release-commands:42",
        "env": "production",
        "kind": "backup.restore",
        "actor": "ops@avalo.app",
        "asked": "restore backup production-7",
        "reason": "bad migration, key " + LIVE_KEY,
        "requestedAt": AT.isoformat(),
        "status": "done",
        "result": "restored 1200 documents",
        "finishedAt": AT.isoformat(),
    }
    message = PubSubMessage("m", json.dumps(op).encode(), {"kind": "operation.finished"})
    notice = decode(message)
    assert isinstance(notice, Notice) and notice.kind is NoticeKind.BACKUP_RESTORED
    assert notice.key == "operation/release-commands:42" and notice.severity == "warning"
    m = render.build_message(notice, Links(), control_project="c")
    assert m.title == "⚠️ backup restored in production (restore backup production-7)"
    assert ("by", "ops@avalo.app") in m.facts and LIVE_KEY not in m.reason
    failed = decode(
        PubSubMessage(
            "m",
            json.dumps({**op, "kind": "flags.kill", "status": "failed"}).encode(),
            {"kind": "operation.finished"},
        )
    )
    assert isinstance(failed, Notice) and failed.kind is NoticeKind.OPERATION_FAILED
    with pytest.raises(Refused, match=r"operation\.finished"):
        decode(PubSubMessage("m", b'{"id": "x"}', {"kind": "operation.finished"}))
