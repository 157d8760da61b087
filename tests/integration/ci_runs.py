"""Running a CI build the way the local stack does (the build runner executes its yaml steps
and publishes its Build on `cloud-builds`), in a Pub/Sub project of the test's own: the
function servers other tests start push that topic in the stack's project, and must not
handle these builds first."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from shared.local import pubsub_admin
from shared.local.build_runner import Run, builds_dir
from shared.topics import CLOUD_BUILDS


def run_ci(project: str, local: Path, body: dict[str, Any]) -> Any:
    """Run the build `body` describes; its final SUCCESS message on `cloud-builds`."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    pubsub_admin.ensure_topic(publisher, project, CLOUD_BUILDS)
    sub = pubsub_admin.ensure_pull_subscription(
        subscriber, project, CLOUD_BUILDS, f"ci-{uuid.uuid4().hex[:8]}"
    )
    build_id = str(uuid.uuid4())
    builds_dir(local).mkdir(parents=True, exist_ok=True)
    (builds_dir(local) / f"{build_id}.json").write_text(json.dumps(body))
    Run(build_id, local, project).execute()
    for _ in range(20):
        pulled = subscriber.pull(subscription=sub, max_messages=10, timeout=30)
        received = pulled.received_messages
        if received:
            subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in received])
        for m in received:
            attrs = m.message.attributes
            if attrs.get("buildId") == build_id and attrs.get("status") == "SUCCESS":
                return m.message
    raise AssertionError(f"no SUCCESS message for build {build_id} on {CLOUD_BUILDS}")
