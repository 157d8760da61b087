"""`on_app_metrics`: validate a batch and store it, or dead-letter it with the reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from shared.clock import Clock
from shared.config import PlaneConfig
from shared.dead_letters import decoded, refuse
from shared.errors import Refused
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.batch import MetricsBatch, check_window, parse_batch
from shared.monitoring.ports import BatchSink
from shared.service.ports import DeadLetters
from shared.topics import APP_METRICS
from shared.transport import PubSubMessage

log = logging.getLogger(__name__)
Outcome = Literal["stored", "refused"]


class MetricsHandler:
    def __init__(
        self,
        *,
        plane: PlaneConfig,
        checks: ChecksConfig,
        sink: BatchSink,
        letters: DeadLetters,
        clock: Clock,
        observe: Callable[[MetricsBatch], object] | None = None,
    ) -> None:
        self.plane, self.checks, self.sink, self.letters = plane, checks, sink, letters
        self.clock = clock
        # after a batch is stored: the mobile crash watch (docs/MOBILE.md); its failure
        # escapes like a storage error, so Pub/Sub redelivers (both are idempotent)
        self.observe = observe

    def validate(self, data: bytes) -> MetricsBatch:
        batch = parse_batch(data)
        if batch.env not in self.plane.environments:
            known = ", ".join(sorted(self.plane.environments))
            raise Refused(f"metrics batch: unknown environment {batch.env!r} (known: {known})")
        settings = self.checks.env(batch.env).monitoring
        check_window(
            batch,
            window_seconds=settings.window_seconds,
            now=self.clock(),
            max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        )
        return batch

    def handle(self, message: PubSubMessage) -> Outcome:
        """Store the batch; a batch that can never be valid is dead-lettered and acknowledged.

        A storage error escapes, so Pub/Sub redelivers (the write is idempotent by batch id).
        """
        try:
            batch = decoded(self.validate, message.data, what="metrics batch")
        except Refused as exc:
            self.refuse(message.event_id, exc.reason, message.data, message.attributes)
            return "refused"
        self.sink.put(batch, self.clock())
        log.info("metrics batch %s stored", batch.batch_id, extra={"env": batch.env})
        if self.observe is not None:
            self.observe(batch)
        return "stored"

    def refuse(
        self, event_id: str, reason: str, payload: bytes, attributes: dict[str, str]
    ) -> None:
        refuse(
            self.letters.put,
            reason,
            event_id=event_id,
            topic=APP_METRICS,
            payload=payload,
            attributes=attributes,
            now=self.clock(),
        )
