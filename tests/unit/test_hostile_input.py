"""The decode boundary: whatever a decoder raises makes the message a dead letter, acknowledged
at once; a transient failure escapes (Pub/Sub redelivers) and is noted for `on_dead_letter`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.dead_letters import DELIVERY_COUNT, brief, decoded, event_key, fingerprint
from shared.entrypoints import (
    consume,
    decode_build,
    decode_command,
    decode_tick,
    deliver,
    guard_flag_write_event,
    record_exhausted,
)
from shared.errors import Refused
from shared.flags.handler import FlagGuard
from shared.monitoring.handler import MetricsHandler
from shared.notify.handler import Notifier
from shared.notify.settings import NotifyConfig
from shared.service.ports import Processed
from shared.topics import APP_METRICS, RELEASE_EVENTS, dead_letter_topic
from tests.pubsub_envelope import envelope
from tests.unit.fakes import FakeClock, FakeDeadLetters, FakeVerifier, make_world

DEEP = b"[" * 5_000 + b"]" * 5_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
HUGE_INT = b'{"type": "release.create", "version": ' + b"9" * 5_000 + b"}"
HOSTILE = {
    "deep list": DEEP,
    "deep object": DEEP_OBJECT,
    "huge integer": HUGE_INT,
    "invalid utf-8": b'{"type": "\xff\xfe"}',
    "random bytes": bytes(range(256)),
    "1 MB string": json.dumps({"type": "release.create", "version": "x" * 1_000_000}).encode(),
    "wrong types": b'{"type": "release.promote", "release": 5, "env": [], "actor": {}}',
    "not an object": b'"release.create"',
    "null": b"null",
}
BUS_TOPICS = {
    "release-commands": decode_command,
    "cloud-builds": decode_build,
    "monitoring-ticks": decode_tick,
}


class Weird(Exception):
    pass


@pytest.mark.parametrize(
    "exc",
    [
        RecursionError("maximum recursion depth exceeded while decoding a JSON array"),
        ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        MemoryError(),
        TypeError("'int' object is not subscriptable"),
        KeyError("status"),
        AttributeError("'list' object has no attribute 'get'"),
        OverflowError("date value out of range"),
        IndexError("list index out of range"),
        Weird("a decoder bug met an odd shape"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_any_exception_a_decoder_raises_is_a_refusal_naming_it(exc: Exception) -> None:
    def decoder(_: bytes) -> object:
        raise exc

    with pytest.raises(Refused) as refused:
        decoded(decoder, b"", what="thing")
    assert refused.value.reason.startswith("thing cannot be decoded: ")
    assert type(exc).__name__ in refused.value.reason


def test_a_refusal_keeps_its_own_reason_and_interrupts_are_not_swallowed() -> None:
    def refusing(_: bytes) -> object:
        raise Refused("bad field 'env'")

    def interrupted(_: bytes) -> object:
        raise KeyboardInterrupt

    with pytest.raises(Refused, match=r"^bad field 'env'$"):
        decoded(refusing, b"", what="thing")
    with pytest.raises(KeyboardInterrupt):
        decoded(interrupted, b"", what="thing")


def test_a_brief_error_is_one_short_line() -> None:
    text = brief(ValueError("x" * 10_000 + "\nsecond line"))
    assert text.startswith("ValueError: ") and len(text) < 230 and "\n" not in text


@pytest.mark.parametrize("topic", sorted(BUS_TOPICS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_messages_on_the_bus_topics_are_dead_lettered_once(
    plane: PlaneConfig, topic: str, kind: str
) -> None:
    w = make_world(plane)
    rec = deliver(w.bus, "m-1", envelope(HOSTILE[kind]), topic=topic, decode=BUS_TOPICS[topic])
    assert rec.outcome == "refused"
    letter = w.uow.store.dead_letters[event_key(topic, "m-1")]
    assert letter.topic == topic and letter.reason and len(letter.payload) <= 4096
    assert w.uow.store.releases == {} and w.uow.store.rollouts == {} and w.uow.store.envs == {}
    again = deliver(w.bus, "m-1", envelope(HOSTILE[kind]), topic=topic, decode=BUS_TOPICS[topic])
    assert again.outcome == "refused" and len(w.uow.store.dead_letters) == 1


def _metrics(plane: PlaneConfig, letters: FakeDeadLetters) -> MetricsHandler:
    from shared.gates.checks_file import ChecksConfig

    class Sink:
        def put(self, batch: object, received_at: object) -> None:
            raise AssertionError("a hostile batch must never be stored")

    return MetricsHandler(
        plane=plane, checks=ChecksConfig(), sink=Sink(), letters=letters, clock=FakeClock()
    )


def _notifier(plane: PlaneConfig, letters: FakeDeadLetters) -> Notifier:
    import httpx

    return Notifier(
        config=NotifyConfig(),
        plane=plane,
        control_project="demo-release-control",
        ledger=None,  # type: ignore[arg-type]  # never reached by a message that cannot decode
        letters=letters,
        secrets=None,  # type: ignore[arg-type]
        http=httpx.Client(),
        clock=FakeClock(),
    )


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_metrics_and_release_events_are_dead_lettered(
    plane: PlaneConfig, kind: str
) -> None:
    letters = FakeDeadLetters()
    consume(_metrics(plane, letters), "a-1", envelope(HOSTILE[kind]), topic=APP_METRICS)
    consume(_notifier(plane, letters), "r-1", envelope(HOSTILE[kind]), topic=RELEASE_EVENTS)
    assert sorted(letters.store.dead_letters) == ["app-metrics:a-1", "release-events:r-1"]


@pytest.mark.parametrize("kind", ["deep list", "huge integer", "random bytes", "invalid utf-8"])
def test_a_flag_write_that_cannot_be_decoded_is_a_dead_letter(
    plane: PlaneConfig, kind: str
) -> None:
    letters = FakeDeadLetters()
    guard = FlagGuard(
        plane=plane,
        stores=lambda project: pytest.fail("a write that cannot be decoded reaches no store"),
        notices=None,  # type: ignore[arg-type]  # never reached
        letters=letters,
        clock=FakeClock(),
    )
    attributes = {"id": "f-1", "type": "google.cloud.firestore.document.v1.written"}
    assert guard_flag_write_event(guard, attributes, HOSTILE[kind]) is None
    letter = letters.store.dead_letters["featureFlags:f-1"]
    assert letter.topic == "featureFlags" and letter.reason


def test_the_same_message_id_on_two_topics_is_two_events(plane: PlaneConfig) -> None:
    """Pub/Sub message ids are unique per topic only."""
    w = make_world(plane)
    first = deliver(w.bus, "7", envelope(DEEP), topic="cloud-builds", decode=decode_build)
    body = json.dumps(
        {"type": "release.create", "version": "1.0.0", "commit": "a" * 40, "branch": "main"}
    )
    second = deliver(
        w.bus,
        "7",
        envelope(
            json.dumps(
                {**json.loads(body), "author": "al", "id_token": FakeVerifier.token_of("al")}
            ).encode()
        ),
        topic="release-commands",
        decode=decode_command,
    )
    assert first.outcome == "refused" and second.outcome == "applied"
    assert "1.0.0" in w.uow.store.releases


def test_a_redelivery_recorded_under_the_old_id_is_still_a_duplicate(plane: PlaneConfig) -> None:
    w = make_world(plane)
    at = w.clock()
    # recorded before ids were per topic: under the message id alone
    w.uow.store.processed["m-9"] = Processed(
        event_id="m-9", topic="release-commands", at=at, outcome="applied"
    )
    body = {"type": "release.create", "version": "2.0.0", "commit": "b" * 40, "branch": "main"}
    data = envelope(json.dumps({**body, "author": "al"}).encode())
    rec = deliver(w.bus, "m-9", data, topic="release-commands", decode=decode_command)
    assert rec.outcome == "applied" and "2.0.0" not in w.uow.store.releases  # a duplicate
    # the same old id on another topic is someone else's message
    other = deliver(w.bus, "m-9", envelope(b"{}"), topic="monitoring-ticks", decode=decode_tick)
    assert other.outcome == "applied" and other.note.startswith("sent ticks")


def _failing_bus(plane: PlaneConfig) -> Any:
    w = make_world(plane)

    def down(work: object) -> object:
        raise ConnectionError("Firestore unavailable")

    w.uow.atomically = down  # type: ignore[assignment, method-assign]
    return w


def test_a_transient_failure_escapes_and_is_noted_for_the_dead_letter(plane: PlaneConfig) -> None:
    w = _failing_bus(plane)
    body = b'{"type": "env.freeze", "env": "dev", "actor": "ops", "reason": "why"}'
    attributes = {"origin": "cli"}
    with pytest.raises(ConnectionError):
        deliver(
            w.bus,
            "t-1",
            envelope(body, attributes),
            topic="release-commands",
            decode=decode_command,
        )
    assert w.uow.store.dead_letters == {}  # not a dead letter: Pub/Sub redelivers it
    (failure,) = w.uow.store.failures.values()
    assert failure.event_id == "t-1" and "ConnectionError" in failure.error

    # Pub/Sub gives up: the message arrives on the dead-letter topic, with a new id
    moved = {**attributes, DELIVERY_COUNT: "10", "CloudPubSubDeadLetterSourceSubscription": "s"}
    letter = record_exhausted(
        w.bus.ports.letters,
        "dl-77",
        envelope(body, moved),
        dead_letter_topic=dead_letter_topic("release-commands"),
        now=w.clock(),
    )
    assert letter.key == "release-commands:t-1"  # filed under the original message
    assert letter.reason == "delivery attempts exhausted (10 deliveries)"
    assert letter.delivery_attempts == 10 and "Firestore unavailable" in (letter.last_error or "")
    assert w.uow.store.dead_letters["release-commands:t-1"] == letter


def test_an_exhausted_message_with_no_noted_failure_is_still_recorded() -> None:
    letters = FakeDeadLetters()
    letter = record_exhausted(
        letters, "dl-1", envelope(b"{}"), dead_letter_topic="app-metrics-dead-letter"
    )
    assert letter.key == "app-metrics:dl-1" and letter.last_error is None
    assert letter.delivery_attempts is None


def test_fingerprints_ignore_the_attributes_pubsub_adds_when_it_gives_up() -> None:
    plain = fingerprint("cloud-builds", b"x", {"buildId": "b"})
    moved = {"buildId": "b", DELIVERY_COUNT: "5"}
    assert fingerprint("cloud-builds", b"x", moved) == plain
    assert fingerprint("release-commands", b"x", {"buildId": "b"}) != plain


@pytest.mark.parametrize(
    "artifacts",
    [
        {"": "x"},
        {"__name__": "x"},
        {"a/b": "x"},
        {"big": "x" * 2001},
        {f"k{n}": "x" for n in range(51)},
    ],
)
def test_artifacts_that_cannot_be_stored_are_refused_up_front(
    plane: PlaneConfig, artifacts: dict[str, str]
) -> None:
    w = make_world(plane)
    body = {"type": "release.create", "version": "1.0.0", "commit": "c" * 40, "branch": "m"}
    data = envelope(json.dumps({**body, "author": "al", "artifacts": artifacts}).encode())
    rec = deliver(w.bus, "a-1", data, topic="release-commands", decode=decode_command)
    assert rec.outcome == "refused" and "artifacts" in rec.note
    assert w.uow.store.releases == {}


@pytest.mark.parametrize(
    "change",
    [
        {"counters": {"functionInvocations": 2**64}},
        {"release": "1.0.0-" + "a" * 1_000_000},
        {"env": "e" * 100_000},
    ],
    ids=["count over int64", "1 MB release", "100 kB env"],
)
def test_metrics_batches_firestore_could_never_store_are_dead_lettered(
    plane: PlaneConfig, change: dict[str, Any]
) -> None:
    letters = FakeDeadLetters()
    body = {"batchId": "b-1", "env": "dev", "windowStart": "2026-11-25T11:59:00Z"}
    data = envelope(json.dumps({**body, "windowSeconds": 60, **change}).encode())
    consume(_metrics(plane, letters), "a-2", data, topic=APP_METRICS)
    assert list(letters.store.dead_letters) == ["app-metrics:a-2"]


def test_a_release_event_whose_dedupe_key_cannot_name_a_document_is_dead_lettered(
    plane: PlaneConfig,
) -> None:
    letters = FakeDeadLetters()
    event = {
        "key": "k" * 2_000,
        "release": "1.0.0-" + "a" * 2_000,
        "env": "dev",
        "attempt": 1,
        "from": "baking",
        "to": "live",
        "actor": "monitoring",
        "at": "2026-11-25T12:00:00Z",
        "eventId": "e",
    }
    data = envelope(json.dumps(event).encode(), {"kind": "rollout.state"})
    consume(_notifier(plane, letters), "r-2", data, topic=RELEASE_EVENTS)
    assert "over 500 bytes" in letters.store.dead_letters["release-events:r-2"].reason


def test_a_letter_is_storable_whatever_the_message_held() -> None:
    from shared.dead_letters import bare, letter

    dead = letter(
        event_id="e-\ud800",
        topic="cloud-builds",
        reason="bad value '\udc74'",
        payload=b"\xff\xfe",
        attributes={"__dict__": "x", "": "y", "k\ud800": "\udfff", "ok": "v"},
        now=FakeClock()(),
    )
    assert set(dead.attributes) == {"[__dict__]", "[]", "k?", "ok"}
    for text in (dead.event_id, dead.reason, dead.payload, *dead.attributes.values()):
        text.encode("utf-8")  # no lone surrogate left: Firestore takes only valid UTF-8
    stripped = bare(dead)
    assert stripped.payload == "" and stripped.attributes == {}
    assert stripped.reason.startswith(dead.reason) and "could not be stored" in stripped.reason
