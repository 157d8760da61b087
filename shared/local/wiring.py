"""Wire function servers to the Pub/Sub emulator: one server per target, a push subscription per
topic (what Eventarc/Pub/Sub triggers do on Google Cloud)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.local.functions_server import FunctionServer, start_function
from shared.local.pubsub_admin import ensure_push_subscription, ensure_topic
from shared.topics import ALL_TOPICS, PUBSUB_TRIGGERS


@dataclass
class Wiring:
    servers: dict[str, FunctionServer] = field(default_factory=dict)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


def create_topics(project: str, topics: Iterable[str] = ALL_TOPICS) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    for topic in topics:
        ensure_topic(publisher, project, topic)


def wire_functions(
    project: str, env: dict[str, str], log_dir: Path, targets: Iterable[str] | None = None
) -> Wiring:
    """Start a server for each Pub/Sub-triggered target and subscribe it to its topic."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    wanted = set(targets) if targets is not None else set(PUBSUB_TRIGGERS.values())
    create_topics(project)
    subscriber = pubsub_v1.SubscriberClient()
    wiring = Wiring()
    try:
        for topic, target in PUBSUB_TRIGGERS.items():
            if target not in wanted:
                continue
            server = start_function(target, env, log_dir)
            wiring.servers[target] = server
            ensure_push_subscription(
                subscriber, project, topic, f"{target}-push", server.push_endpoint(project, topic)
            )
    except BaseException:
        wiring.stop()
        raise
    return wiring
