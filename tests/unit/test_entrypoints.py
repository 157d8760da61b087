"""Malformed transport: every kind is dead-lettered with its reason and acknowledged."""

from __future__ import annotations

import base64
import json

import pytest

from shared.config import PlaneConfig
from shared.entrypoints import decode_build, decode_command, decode_tick, deliver
from shared.redaction import REDACTED
from tests.pubsub_envelope import envelope
from tests.unit.fakes import make_world


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"nothing": 1}, "no Pub/Sub `message` object"),
        ({"message": {"data": "%%%not-base64"}}, "not valid base64"),
        ({"message": {"data": "", "attributes": []}}, "attributes must be an object"),
        (b"not json", "CloudEvent data is not JSON"),
    ],
)
def test_a_broken_envelope_is_dead_lettered(
    plane: PlaneConfig, data: object, expected: str
) -> None:
    w = make_world(plane)
    rec = deliver(w.bus, "e1", data, topic="release-commands", decode=decode_command)
    assert rec.outcome == "refused" and expected in rec.note
    assert expected in w.uow.store.dead_letters["release-commands:e1"].reason


def test_a_build_message_without_status_is_dead_lettered(plane: PlaneConfig) -> None:
    w = make_world(plane)
    rec = deliver(w.bus, "b1", envelope(b'{"id": "x"}'), topic="cloud-builds", decode=decode_build)
    assert rec.outcome == "refused" and "status" in rec.note


def test_a_build_message_with_a_status_cloud_build_does_not_have_is_dead_lettered(
    plane: PlaneConfig,
) -> None:
    w = make_world(plane)
    body = json.dumps({"id": "b", "status": "DONE", "substitutions": {"_RELEASE": "1.0.0"}})
    rec = deliver(w.bus, "b0", envelope(body.encode()), topic="cloud-builds", decode=decode_build)
    assert rec.outcome == "refused" and "status 'DONE' is not one of" in rec.note


def test_a_build_with_half_our_substitutions_is_dead_lettered(plane: PlaneConfig) -> None:
    w = make_world(plane)
    body = json.dumps({"id": "b", "status": "SUCCESS", "substitutions": {"_RELEASE": "1.0.0"}})
    rec = deliver(w.bus, "b2", envelope(body.encode()), topic="cloud-builds", decode=decode_build)
    assert rec.outcome == "refused" and "_ENV" in rec.note


def test_a_foreign_build_is_acknowledged_and_ignored(plane: PlaneConfig) -> None:
    w = make_world(plane)
    body = json.dumps({"id": "b", "status": "SUCCESS", "tags": ["nightly"]})
    rec = deliver(w.bus, "b3", envelope(body.encode()), topic="cloud-builds", decode=decode_build)
    assert rec.outcome == "ignored" and w.uow.store.dead_letters == {}


def test_a_tick_with_unknown_fields_is_dead_lettered(plane: PlaneConfig) -> None:
    w = make_world(plane)
    rec = deliver(
        w.bus, "t1", envelope(b'{"envs": "x"}'), topic="monitoring-ticks", decode=decode_tick
    )
    assert rec.outcome == "refused"


def test_dead_letters_are_capped_and_carry_no_secret(plane: PlaneConfig) -> None:
    w = make_world(plane)
    secret = "sk_live_" + "a" * 30
    body = json.dumps({"type": "release.create", "note": secret, "pad": "x" * 10_000})
    deliver(w.bus, "s1", envelope(body.encode()), topic="release-commands", decode=decode_command)
    letter = w.uow.store.dead_letters["release-commands:s1"]
    assert secret not in letter.payload and REDACTED in letter.payload
    assert len(letter.payload) <= 4096
    assert base64.b64encode(secret.encode()).decode() not in letter.payload
