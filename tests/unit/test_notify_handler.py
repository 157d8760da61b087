"""The notification handler over fakes: dedupe, retries, 4xx, channel down, dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.config import DEFAULT_CONFIG_FILE, PlaneConfig, load_config
from shared.dead_letters import DeadLetter
from shared.notify import channels
from shared.notify.handler import Notifier
from shared.notify.ledger import Delivery, doc_id
from shared.notify.settings import NotifyConfig, Retry
from shared.transport import PubSubMessage

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = Retry(attempts=3, first_wait_seconds=0, max_wait_seconds=0, timeout_seconds=2)


@dataclass
class MemoryLedger:
    records: dict[str, Delivery] = field(default_factory=dict)

    def claim(self, record: Delivery, stale_after: timedelta) -> bool:
        held = self.records.get(doc_id(record.key, record.channel))
        if held is not None and not (
            held.status == "sending" and record.claimed_at - held.claimed_at >= stale_after
        ):
            return False
        self.records[doc_id(record.key, record.channel)] = record
        return True

    def finish(self, record: Delivery) -> None:
        self.records[doc_id(record.key, record.channel)] = record


@dataclass
class MemoryDeadLetters:
    letters: list[DeadLetter] = field(default_factory=list)

    def put(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


@dataclass
class DictSecrets:
    values: dict[str, str]

    def get(self, env: str, name: str) -> str | None:
        return self.values.get(name)


Responder = Callable[[httpx.Request], httpx.Response]


def _config() -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": {
                "slack": {"type": "slack", "webhook_secret": "SLACK_WEBHOOK_URL"},
                "discord": {"type": "discord", "webhook_secret": "DISCORD_WEBHOOK_URL"},
            },
            "routes": [{"envs": ["production"], "channels": ["slack", "discord"]}],
            "retry": FAST.model_dump(),
        }
    )


@pytest.fixture(scope="module")
def plane() -> PlaneConfig:
    return load_config(DEFAULT_CONFIG_FILE)


def make(
    plane: PlaneConfig, respond: Responder, secrets: dict[str, str] | None = None
) -> tuple[Notifier, list[httpx.Request], MemoryLedger, MemoryDeadLetters]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    ledger, letters = MemoryLedger(), MemoryDeadLetters()
    notifier = Notifier(
        config=_config(),
        plane=plane,
        control_project="demo-release-control",
        ledger=ledger,
        letters=letters,
        secrets=DictSecrets(
            secrets
            if secrets is not None
            else {
                "SLACK_WEBHOOK_URL": "http://slack.test/hook",
                "DISCORD_WEBHOOK_URL": "http://discord.test/hook",
            }
        ),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=lambda: AT,
    )
    return notifier, seen, ledger, letters


def event(to: str = "live", env: str = "production", eid: str = "m1") -> PubSubMessage:
    body = {
        "key": f"1.2.0/{env}/1/{to}",
        "release": "1.2.0",
        "env": env,
        "attempt": 1,
        "from": "baking",
        "to": to,
        "actor": "bake",
        "at": AT.isoformat(),
        "eventId": "e1",
    }
    return PubSubMessage(eid, json.dumps(body).encode(), {"kind": "rollout.state"})


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


def test_three_deliveries_one_message_per_channel(plane: PlaneConfig) -> None:
    notifier, seen, ledger, _ = make(plane, ok)
    outcomes = [notifier.handle(event(eid=f"m{n}")) for n in range(3)]
    assert [len(o.deliveries) for o in outcomes] == [2, 0, 0]
    assert sorted(r.url.host for r in seen) == ["discord.test", "slack.test"]
    assert {d.status for d in ledger.records.values()} == {"sent"}


def test_500_then_200_is_sent_once_after_a_retry(plane: PlaneConfig) -> None:
    answers = iter([500, 200])
    notifier, seen, ledger, _ = make(
        plane, lambda r: httpx.Response(next(answers) if r.url.host == "slack.test" else 200)
    )
    notifier.handle(event())
    slack = ledger.records[doc_id("1.2.0/production/1/live", "slack")]
    assert (slack.status, slack.attempts) == ("sent", 2)
    assert [r.url.host for r in seen].count("slack.test") == 2


def test_4xx_is_recorded_and_not_retried(plane: PlaneConfig) -> None:
    notifier, seen, ledger, _ = make(plane, lambda r: httpx.Response(404, text="no_service"))
    outcome = notifier.handle(event())
    assert len(seen) == 2  # one try per channel
    assert {(d.status, d.http_status, d.attempts) for d in outcome.deliveries} == {
        ("rejected", 404, 1)
    }
    assert all("no_service" in (d.error or "") for d in ledger.records.values())


def test_a_channel_down_never_raises(plane: PlaneConfig) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slack.test":
            raise httpx.ConnectError("refused")
        return httpx.Response(204)

    notifier, _, _, _ = make(plane, down)
    outcome = notifier.handle(event())
    statuses = {d.channel: (d.status, d.attempts) for d in outcome.deliveries}
    assert statuses == {"slack": ("failed", 3), "discord": ("sent", 1)}


def test_a_timeout_is_retried(plane: PlaneConfig) -> None:
    calls = iter([True, False])

    def slow(request: httpx.Request) -> httpx.Response:
        if next(calls, False):
            raise httpx.ReadTimeout("slow")
        return httpx.Response(200)

    notifier, _, _, _ = make(plane, slow)
    outcome = notifier.handle(event())
    assert {d.status for d in outcome.deliveries} == {"sent"}


def test_missing_webhook_secret_is_recorded(plane: PlaneConfig) -> None:
    notifier, seen, _, _ = make(plane, ok, secrets={"DISCORD_WEBHOOK_URL": "http://discord.test/h"})
    outcome = notifier.handle(event())
    statuses = {d.channel: d.status for d in outcome.deliveries}
    assert statuses == {"slack": "misconfigured", "discord": "sent"}
    assert [r.url.host for r in seen] == ["discord.test"]


def test_unrouted_and_ignored(plane: PlaneConfig) -> None:
    notifier, seen, _, letters = make(plane, ok)
    assert notifier.handle(event(env="dev")).status == "unrouted"
    assert notifier.handle(PubSubMessage("m9", b"{}", {"kind": "x.y"})).status == "ignored"
    assert seen == [] and letters.letters == []


def test_malformed_and_unknown_env_are_dead_lettered(plane: PlaneConfig) -> None:
    notifier, seen, _, letters = make(plane, ok)
    bad = PubSubMessage("m2", b'{"nope": 1}', {"kind": "rollout.state"})
    assert notifier.handle(bad).status == "refused"
    assert notifier.handle(event(env="qa", eid="m3")).status == "refused"
    assert [(d.event_id, d.topic) for d in letters.letters] == [
        ("m2", "release-events"),
        ("m3", "release-events"),
    ]
    assert "missing field 'key'" in letters.letters[0].reason
    assert "unknown environment 'qa'" in letters.letters[1].reason
    assert seen == []


def test_a_stale_claim_is_taken_over(plane: PlaneConfig) -> None:
    notifier, _, ledger, _ = make(plane, ok)
    for channel in ("slack", "discord"):
        ledger.records[doc_id("1.2.0/production/1/live", channel)] = Delivery(
            key="1.2.0/production/1/live",
            channel=channel,
            kind="live",
            env="production",
            event_id="m0",
            status="sending",
            claimed_at=AT - timedelta(hours=1),
        )
    assert len(notifier.handle(event()).deliveries) == 2


def test_send_with_retry_classification() -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        raise channels.Transient("HTTP 503", 503)

    with pytest.raises(channels.Transient) as err:
        channels.send_with_retry(flaky, FAST)
    assert len(attempts) == 3 and err.value.attempts == 3
    assert channels.send_with_retry(lambda: None, FAST) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, channels.Transient), (429, channels.Transient), (400, channels.Permanent)],
)
def test_post_json_statuses(status: int, error: type[channels.DeliveryError]) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(error) as err:
        channels.post_json(client, "http://x.test/", {}, 1.0)
    assert err.value.status == status
