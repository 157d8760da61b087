"""The `DeadLetters` contract: the same cases against `FakeDeadLetters` and
`FirestoreDeadLetters` (on the emulator)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.dead_letters import INTERNAL, DeadLetter, DeliveryFailure, doc_id, fingerprint, letter
from shared.service.ports import DeadLetters
from tests.unit.fakes import FakeDeadLetters, Store

T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
TOPIC = "release-commands"


@dataclass
class Subject:
    letters: DeadLetters
    read: Callable[[str], DeadLetter | None]  # the letter stored under a key, if any
    count: Callable[[], int]  # how many letters are stored


def _fake() -> Subject:
    store = Store()
    return Subject(
        letters=FakeDeadLetters(store),
        read=lambda key: store.dead_letters.get(key),
        count=lambda: len(store.dead_letters),
    )


def _firestore(db: Any) -> Subject:
    from shared.adapters.dead_letters import DEAD_LETTERS, FirestoreDeadLetters

    def read(key: str) -> DeadLetter | None:
        snap = db.collection(DEAD_LETTERS).document(doc_id(key)).get()
        return DeadLetter.model_validate(snap.to_dict()) if snap.exists else None

    return Subject(
        letters=FirestoreDeadLetters(db),
        read=read,
        count=lambda: len(list(db.collection(DEAD_LETTERS).list_documents())),
    )


@pytest.fixture
def s(backend: str, request: pytest.FixtureRequest) -> Subject:
    if backend == "fake":
        return _fake()
    return _firestore(request.getfixturevalue("firestore_db"))


def a_letter(event_id: str = "42", topic: str = TOPIC, **changes: Any) -> DeadLetter:
    dead = letter(
        event_id=event_id,
        topic=topic,
        reason="release command cannot be decoded: ValidationError",
        payload=b'{"type": "release.promote", "env": 7}',
        attributes={"origin": "releasectl", "CloudPubSubDeadLetterSourceDeliveryCount": "10"},
        now=T0,
    )
    return dead.model_copy(update=changes)


def a_failure(print_: str = "f" * 64, **changes: Any) -> DeliveryFailure:
    failure = DeliveryFailure(
        fingerprint=print_,
        topic=TOPIC,
        event_id="42",
        error="ServiceUnavailable: 503 the datastore is unavailable",
        at=T0,
    )
    return failure.model_copy(update=changes)


def test_a_letter_is_kept_under_its_topic_and_event_id(s: Subject) -> None:
    s.letters.put(a_letter())
    assert s.read(f"{TOPIC}:42") == a_letter()
    assert s.read("cloud-builds:42") is None  # the same message id on another topic
    assert s.read("42") is None


def test_a_letter_keeps_every_field(s: Subject) -> None:
    exhausted = a_letter(
        "43",
        delivery_attempts=10,
        last_error="DeadlineExceeded: 504",
        attributes={},
        payload="",
    )
    s.letters.put(exhausted)
    assert s.read(exhausted.key) == exhausted
    back = s.read(exhausted.key)
    assert back is not None and back.received_at.utcoffset() == timedelta(0)


def test_the_same_message_refused_again_is_one_letter_the_latest(s: Subject) -> None:
    s.letters.put(a_letter())
    s.letters.put(a_letter(reason="delivery attempts exhausted (10 deliveries)"))
    assert s.read(f"{TOPIC}:42") == a_letter(reason="delivery attempts exhausted (10 deliveries)")
    assert s.count() == 1


def test_the_same_id_on_two_topics_is_two_letters(s: Subject) -> None:
    s.letters.put(a_letter("42", TOPIC))
    s.letters.put(a_letter("42", "cloud-builds"))
    assert s.read(f"{TOPIC}:42") == a_letter("42", TOPIC)
    assert s.read("cloud-builds:42") == a_letter("42", "cloud-builds")
    assert s.count() == 2


def test_letters_of_follow_ups_whose_ids_contain_slashes(s: Subject) -> None:
    ids = [f"{TOPIC}:7/0", f"{TOPIC}:7/1", f"{TOPIC}:7/0/staging"]
    for event_id in ids:
        s.letters.put(a_letter(event_id, INTERNAL))
    for event_id in ids:
        assert s.read(event_id) == a_letter(event_id, INTERNAL)  # internal: the id is the key
    assert s.count() == 3
    s.letters.put(a_letter("9/9", TOPIC))  # a topic's message id with a slash
    assert s.read(f"{TOPIC}:9/9") == a_letter("9/9", TOPIC)


def test_a_noted_failure_is_the_last_failure_of_its_fingerprint(s: Subject) -> None:
    real = fingerprint(TOPIC, b'{"type": "release.create"}', {"origin": "ci"})
    s.letters.note_failure(a_failure(real))
    assert s.letters.last_failure(real) == a_failure(real)
    later = a_failure(real, error="Aborted: 409 too much contention", at=T0 + timedelta(1))
    s.letters.note_failure(later)
    assert s.letters.last_failure(real) == later
    back = s.letters.last_failure(real)
    assert back is not None and back.at.utcoffset() == timedelta(0)


def test_the_last_failure_of_an_unknown_fingerprint_is_none(s: Subject) -> None:
    assert s.letters.last_failure("0" * 64) is None
    s.letters.note_failure(a_failure("a" * 64))
    assert s.letters.last_failure("b" * 64) is None


def test_failures_are_not_letters(s: Subject) -> None:
    s.letters.note_failure(a_failure())
    assert s.count() == 0
    s.letters.put(a_letter())
    assert s.letters.last_failure(f"{TOPIC}:42") is None


def test_what_was_put_is_stored_as_it_was(s: Subject) -> None:
    dead, failure = a_letter(), a_failure()
    s.letters.put(dead)
    s.letters.note_failure(failure)
    dead.attributes["origin"] = "changed"
    failure.error = "changed"
    assert s.read(dead.key) == a_letter()
    got = s.letters.last_failure(failure.fingerprint)
    assert got == a_failure()
    assert got is not None
    got.error = "mine"
    assert s.letters.last_failure(failure.fingerprint) == a_failure()
