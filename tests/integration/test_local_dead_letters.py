"""What the Pub/Sub emulator does with a push it cannot deliver, measured, and the dead-letter
wiring of the local stack (docs/LOCAL.md, "Dead letters").

Measured with `gcloud beta emulators pubsub start` (emulator 0.8.20): it honours a push
subscription's dead-letter policy. A refused push (an HTTP 500 or a refused connection alike) is
redelivered about every second when the subscription has no retry policy; after
`max_delivery_attempts` deliveries the message is published to the dead-letter topic with
Google's four `CloudPubSubDeadLetterSource*` attributes, and the subscription stops delivering
it. A retry policy spreads the redeliveries out (the first retry still comes after a second).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.firestore_views import dead_letters
from shared.local.emulators import HOST, free_port
from shared.local.functions_server import has_target, push_endpoint, start_function
from shared.local.pubsub_admin import (
    Backoff,
    ensure_pull_subscription,
    ensure_push_subscription,
    ensure_topic,
)
from shared.local.subscriptions import BACKOFF, subscribe
from shared.topics import (
    DEAD_LETTER_TARGET,
    MAX_DELIVERY_ATTEMPTS,
    PUBSUB_TRIGGERS,
    RELEASE_COMMANDS,
    dead_letter_topic,
)
from tests.integration.core_stack import eventually, write_config

PROJECT = "demo-dead-letters"  # not the control project: the core wiring's subscriptions live there
SOURCE_ATTRIBUTES = {
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
}


class Endpoint:
    """A push endpoint answering `code` to every delivery, noting when each one came."""

    def __init__(self, code: int, port: int = 0) -> None:
        self.code, self.times = code, list[float]()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.times.append(time.monotonic())
                self.send_response(outer.code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clients(emulator_env: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    yield publisher, subscriber
    subscriber.close()


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    opened: list[Endpoint] = []
    yield opened
    for endpoint in opened:
        endpoint.close()


class Subscribed:
    """A topic, its dead-letter topic with a pull subscription, and a push subscription."""

    def __init__(self, clients: tuple[Any, Any], port: int, **policy: Any) -> None:
        self.publisher, self.subscriber = clients
        self.topic = f"topic-{uuid.uuid4().hex[:8]}"
        self.dead_letter_topic = f"{self.topic}-dead-letter"
        for topic in (self.topic, self.dead_letter_topic):
            ensure_topic(self.publisher, PROJECT, topic)
        self.dead = ensure_pull_subscription(
            self.subscriber, PROJECT, self.dead_letter_topic, f"{self.topic}-dead-pull"
        )
        self.name = f"{self.topic}-push"
        ensure_push_subscription(
            self.subscriber,
            PROJECT,
            self.topic,
            self.name,
            push_endpoint(port, PROJECT, self.topic),
            dead_letter_topic=self.dead_letter_topic,
            **policy,
        )

    def publish(self) -> float:
        path = self.publisher.topic_path(PROJECT, self.topic)
        self.publisher.publish(path, b'{"n": 1}', origin="test").result(timeout=30)
        return time.monotonic()

    def dead_letters(self) -> list[Any] | None:
        """What the dead-letter topic got (None: nothing within a second)."""
        from google.api_core.exceptions import DeadlineExceeded

        request = {"subscription": self.dead, "max_messages": 10}
        try:
            pulled = self.subscriber.pull(request=request, timeout=1, retry=None)
        except DeadlineExceeded:
            return None
        return [m.message for m in pulled.received_messages] or None


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(times)]


def test_a_push_refused_max_delivery_attempts_times_is_dead_lettered_with_googles_attributes(
    clients: tuple[Any, Any], endpoints: list[Endpoint]
) -> None:
    failing = Endpoint(500)
    endpoints.append(failing)
    answered = Subscribed(clients, failing.port, max_delivery_attempts=5)
    nobody = Subscribed(clients, free_port(), max_delivery_attempts=5)  # nothing listens there
    for subscribed in (answered, nobody):
        subscribed.publish()

    dead = eventually(answered.dead_letters, timeout=60)
    dead_too = eventually(nobody.dead_letters, timeout=60)

    assert [m.data for m in dead] == [b'{"n": 1}']
    attributes = dict(dead[0].attributes)
    assert set(attributes) == {"origin", *SOURCE_ATTRIBUTES}
    assert attributes["origin"] == "test"
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] == answered.name  # short name
    assert attributes["CloudPubSubDeadLetterSourceSubscriptionProject"] == PROJECT
    datetime.fromisoformat(attributes["CloudPubSubDeadLetterSourceTopicPublishTime"])
    # A refused connection counts as a failed delivery as well.
    assert dict(dead_too[0].attributes)["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"

    # Five deliveries, about a second apart (no backoff without a retry policy), then none.
    assert len(failing.times) == 5
    assert all(0.5 < gap < 5 for gap in gaps(failing.times)), gaps(failing.times)
    time.sleep(2.5)
    assert len(failing.times) == 5


def test_a_retry_policy_spaces_redeliveries_and_a_server_back_on_its_port_gets_the_message(
    clients: tuple[Any, Any], endpoints: list[Endpoint]
) -> None:
    """What a restart on the same port relies on. (The stack's own policy, 10 to 600 s, is the
    same mechanism with longer waits: docs/LOCAL.md has its figures.)"""
    policy = Backoff(minimum_s=2, maximum_s=60)
    failing = Endpoint(500)
    endpoints.append(failing)
    refused = Subscribed(clients, failing.port, backoff=policy)
    port = free_port()
    restarted = Subscribed(clients, port, backoff=policy)
    refused.publish()
    published = restarted.publish()
    time.sleep(2)  # two refused connections (at once, then after a second)
    back = Endpoint(204, port)
    endpoints.append(back)

    eventually(lambda: back.times or None, timeout=30)
    eventually(lambda: len(failing.times) >= 3 or None, timeout=30)

    assert len(back.times) == 1  # delivered once, acknowledged: not again, not dead-lettered
    assert back.times[0] - published > 2
    first, second = gaps(failing.times)[:2]
    assert first < 2.5  # the first retry comes after about a second, policy or not
    assert second >= policy.minimum_s  # then the backoff holds
    assert restarted.dead_letters() is None


def test_the_local_wiring_gives_triggers_a_dead_letter_policy_and_feeds_on_dead_letter(
    clients: tuple[Any, Any],
) -> None:
    _, subscriber = clients
    server, dead_letters = free_port(), free_port()  # nothing is delivered: ports only
    builds = subscriber.subscription_path(PROJECT, "on_build_event-push")
    ensure_topic(clients[0], PROJECT, "cloud-builds")
    ensure_push_subscription(  # a subscription made before there were dead-letter policies
        subscriber, PROJECT, "cloud-builds", "on_build_event-push", "http://127.0.0.1:9/old"
    )

    subscribe(PROJECT, {"on_build_event": server, DEAD_LETTER_TARGET: dead_letters})
    subscribe(PROJECT, {"on_build_event": server, DEAD_LETTER_TARGET: dead_letters})  # again

    trigger = subscriber.get_subscription(request={"subscription": builds})
    assert trigger.push_config.push_endpoint == push_endpoint(server, PROJECT, "cloud-builds")
    assert trigger.dead_letter_policy.dead_letter_topic == (
        f"projects/{PROJECT}/topics/cloud-builds-dead-letter"
    )
    assert trigger.dead_letter_policy.max_delivery_attempts == MAX_DELIVERY_ATTEMPTS
    assert trigger.retry_policy.minimum_backoff.seconds == BACKOFF.minimum_s
    assert trigger.retry_policy.maximum_backoff.seconds == BACKOFF.maximum_s
    for topic in PUBSUB_TRIGGERS:
        name = subscriber.subscription_path(PROJECT, f"on_dead_letter-{topic}-push")
        sub = subscriber.get_subscription(request={"subscription": name})
        assert sub.topic == f"projects/{PROJECT}/topics/{topic}-dead-letter"
        # The path names the dead-letter topic: functions-framework makes it the event's source.
        assert sub.push_config.push_endpoint == (
            f"http://127.0.0.1:{dead_letters}/projects/{PROJECT}/topics/{topic}-dead-letter"
        )
        assert not sub.dead_letter_policy.dead_letter_topic


@pytest.mark.skipif(
    not has_target(DEAD_LETTER_TARGET), reason="functions/main.py has no on_dead_letter"
)
def test_a_message_its_function_keeps_refusing_is_recorded_by_on_dead_letter(
    clients: tuple[Any, Any],
    endpoints: list[Endpoint],
    emulator_env: dict[str, str],
    firestore_db: Any,
    tmp_path: Path,
) -> None:
    """The whole path on the emulator: a trigger subscription gives up, Pub/Sub moves the message
    to `<topic>-dead-letter`, and the real `on_dead_letter` records it in `deadLetters`."""
    project = "demo-dead-letters-chain"  # its own subscriptions, apart from the tests above
    publisher, subscriber = clients
    env = {**emulator_env, "RELEASECTL_CONFIG_FILE": str(write_config(tmp_path))}
    server = start_function(DEAD_LETTER_TARGET, env, tmp_path / "logs")
    try:
        failing = Endpoint(500)  # stands for a function that keeps failing
        endpoints.append(failing)
        dead = dead_letter_topic(RELEASE_COMMANDS)
        for topic in (RELEASE_COMMANDS, dead):
            ensure_topic(publisher, project, topic)
        ensure_push_subscription(
            subscriber,
            project,
            dead,
            f"{DEAD_LETTER_TARGET}-{RELEASE_COMMANDS}-push",
            push_endpoint(server.port, project, dead),
        )
        ensure_push_subscription(
            subscriber,
            project,
            RELEASE_COMMANDS,
            "failing-push",
            push_endpoint(failing.port, project, RELEASE_COMMANDS),
            dead_letter_topic=dead,
            max_delivery_attempts=5,
        )
        marker = uuid.uuid4().hex
        path = publisher.topic_path(project, RELEASE_COMMANDS)
        publisher.publish(path, f'{{"marker": "{marker}"}}'.encode()).result(timeout=30)

        found = eventually(
            lambda: [d for d in dead_letters(firestore_db) if marker in d.payload] or None,
            timeout=60,
        )
    finally:
        server.stop()
    (letter,) = found
    assert letter.topic == RELEASE_COMMANDS  # the source topic, read from the push path
    assert letter.delivery_attempts == 5
    assert letter.reason.startswith("delivery attempts exhausted")
    assert letter.attributes["CloudPubSubDeadLetterSourceSubscription"] == "failing-push"
    assert len(failing.times) == 5
