"""Poison messages through real Pub/Sub push: JSON nested thousands of levels deep and an
integer of 5,000 digits, on every topic, are each delivered once and dead-lettered once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.pubsub import Publisher
from shared.local.subscriptions import FunctionServers, serve_functions
from shared.topics import (
    APP_METRICS,
    CLOUD_BUILDS,
    MONITORING_TICKS,
    PUBSUB_TRIGGERS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
)
from tests.integration.core_stack import PROJECT, eventually

DEEP = b"[" * 5_000 + b"]" * 5_000
HUGE_INT = b'{"type": "release.create", "version": ' + b"9" * 5_000 + b', "env": 1}'
TOPICS = (RELEASE_COMMANDS, CLOUD_BUILDS, MONITORING_TICKS, APP_METRICS, RELEASE_EVENTS)
# How long a message is watched after its dead letter appears: a 500 would be redelivered
# within a second or two by the emulator.
QUIET_S = 3.0


@pytest.fixture(scope="module")
def consumers(
    wiring: FunctionServers, emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionServers]:
    """The two consumers outside the bus (the core's servers come from `wiring`)."""
    directory = tmp_path_factory.mktemp("consumers")
    config = Path(wiring.servers["on_release_command"].log_path).parent.parent
    env = {
        **emulator_env,
        "RELEASECTL_CONFIG_FILE": str(config / "environments.toml"),
        "RELEASECTL_CHECKS_FILE": str(config / "checks.toml"),
    }
    wired = serve_functions(PROJECT, env, directory, ["on_app_metrics", "on_release_event"])
    try:
        yield wired
    finally:
        wired.stop()


def deliveries(log: Path, event_id: str) -> int:
    """Deliveries of one message a function server handled or failed, from its JSON log."""
    count = 0
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", ""))
        done = message.startswith(("delivered:", "delivery failed"))
        count += isinstance(entry, dict) and entry.get("event_id") == event_id and done
    return count


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize(("kind", "data"), [("deep", DEEP), ("huge-int", HUGE_INT)])
def test_a_poison_message_is_delivered_once_and_dead_lettered_once(
    wiring: FunctionServers,
    consumers: FunctionServers,
    firestore_db: Any,
    topic: str,
    kind: str,
    data: bytes,
) -> None:
    servers = {**wiring.servers, **consumers.servers}
    log = Path(servers[PUBSUB_TRIGGERS[topic]].log_path)
    message_id = Publisher(PROJECT).publish(topic, data)
    letter = eventually(
        lambda: firestore_db.document(f"deadLetters/{topic}:{message_id}").get().to_dict()
    )
    assert letter["topic"] == topic and letter["reason"]
    time.sleep(QUIET_S)
    assert deliveries(log, message_id) == 1
    letters = [d.id for d in firestore_db.collection("deadLetters").stream()]
    assert letters == [f"{topic}:{message_id}"]
    assert [d.id for d in firestore_db.collection("releases").stream()] == []
    assert [d.id for d in firestore_db.collection("environments").stream()] == []


def test_a_message_whose_attributes_are_not_firestore_keys_is_still_dead_lettered_once(
    wiring: FunctionServers, firestore_db: Any
) -> None:
    """Pub/Sub allows attribute names Firestore refuses as map keys (`__dict__`), and JSON may
    carry lone surrogates (`\\ud800`) Firestore refuses as text: the letter must still be
    written, or the message would go round again."""
    log = Path(wiring.servers["on_build_event"].log_path)
    data = b'{"status": "CANCELLED", "id": "\\ud8e6", "tags": [' + b"[" * 3000 + b"]" * 3000 + b"]}"
    message_id = Publisher(PROJECT).publish(CLOUD_BUILDS, data, __dict__="x", __name__="y")
    letter = eventually(
        lambda: firestore_db.document(f"deadLetters/{CLOUD_BUILDS}:{message_id}").get().to_dict()
    )
    assert letter["attributes"] == {"[__dict__]": "x", "[__name__]": "y"}
    time.sleep(QUIET_S)
    assert deliveries(log, message_id) == 1
