"""Wire function servers to the Pub/Sub emulator as Eventarc/Pub/Sub triggers do on Google Cloud:
one server per target, a push subscription per topic with the dead-letter policy of Google
Cloud (`<topic>-dead-letter` after MAX_DELIVERY_ATTEMPTS refused deliveries), and, once
functions/main.py has it, `on_dead_letter` behind every dead-letter topic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.functions_server import (
    FunctionServer,
    has_target,
    push_endpoint,
    start_function,
)
from shared.local.pubsub_admin import Backoff, ensure_push_subscription, ensure_topic
from shared.topics import ALL_TOPICS, DEAD_LETTER_TARGET, PUBSUB_TRIGGERS, dead_letter_topic

# Without a retry policy the emulator redelivers a refused push every second, forever or, with a
# dead-letter policy, ten times in ten seconds: a function server down for longer than that (while
# `releasectl local up` restarts it, say) would lose its messages to the dead letters. With the
# policy Cloud Functions' retries have on Google Cloud (exponential backoff from 10 to 600 s) the
# emulator spreads the ten attempts over about five minutes, and its first retry still comes
# after a second (figures in docs/LOCAL.md).
BACKOFF = Backoff(minimum_s=10, maximum_s=600)
# Every Pub/Sub-triggered target, in the order the stack starts them.
PUBSUB_TARGETS = (*PUBSUB_TRIGGERS.values(), DEAD_LETTER_TARGET)


@dataclass
class FunctionServers:
    servers: dict[str, FunctionServer] = field(default_factory=dict)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


@dataclass(frozen=True)
class PushSubscription:
    name: str
    topic: str
    target: str
    dead_letter_topic: str | None = None  # its dead-letter policy (trigger subscriptions only)


def dead_letter_topics() -> list[str]:
    return [dead_letter_topic(topic) for topic in PUBSUB_TRIGGERS]


def push_subscriptions(targets: Iterable[str]) -> list[PushSubscription]:
    """The push subscriptions the servers of `targets` need."""
    serving = set(targets)
    subscriptions = [
        PushSubscription(f"{target}-push", topic, target, dead_letter_topic(topic))
        for topic, target in PUBSUB_TRIGGERS.items()
        if target in serving
    ]
    if DEAD_LETTER_TARGET in serving:
        subscriptions += [
            PushSubscription(
                f"{DEAD_LETTER_TARGET}-{topic}-push", dead_letter_topic(topic), DEAD_LETTER_TARGET
            )
            for topic in PUBSUB_TRIGGERS
        ]
    return subscriptions


def default_targets() -> list[str]:
    """The Pub/Sub-triggered targets functions/main.py defines (`on_dead_letter` once it does)."""
    return [target for target in PUBSUB_TARGETS if has_target(target)]


def create_topics(project: str, topics: Iterable[str] = ALL_TOPICS) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    for topic in topics:
        ensure_topic(publisher, project, topic)


def subscribe(project: str, ports: Mapping[str, int]) -> None:
    """Topics, dead-letter topics and the push subscriptions of the servers listening on `ports`
    (target → port). Idempotent: also what re-creates them in a restarted, empty emulator."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    create_topics(project, [*ALL_TOPICS, *dead_letter_topics()])
    subscriber = pubsub_v1.SubscriberClient()
    for sub in push_subscriptions(ports):
        ensure_push_subscription(
            subscriber,
            project,
            sub.topic,
            sub.name,
            # The path names the topic: functions-framework makes it the CloudEvent's source.
            push_endpoint(ports[sub.target], project, sub.topic),
            dead_letter_topic=sub.dead_letter_topic,
            backoff=BACKOFF,
        )


def serve_functions(
    project: str, env: dict[str, str], log_dir: Path, targets: Iterable[str] | None = None
) -> FunctionServers:
    """Start a server for each Pub/Sub-triggered target and subscribe it to its topics."""
    wanted = set(targets) if targets is not None else set(default_targets())
    wiring = FunctionServers()
    try:
        for target in (t for t in PUBSUB_TARGETS if t in wanted):
            wiring.servers[target] = start_function(target, env, log_dir)
        subscribe(project, {target: server.port for target, server in wiring.servers.items()})
    except BaseException:
        wiring.stop()
        raise
    return wiring
