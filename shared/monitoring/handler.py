"""`on_app_metrics`: validate a batch and store it (then have its env judged at once), or
dead-letter it with the reason."""

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
from shared.monitoring.detection import Detector
from shared.monitoring.ports import BatchSink
from shared.service.ports import DeadLetters
from shared.topics import APP_METRICS
from shared.transport import PubSubMessage

log = logging.getLogger(__name__)
Outcome = Literal["stored", "duplicate", "refused"]


class MetricsHandler:
    def __init__(
        self,
        *,
        plane: PlaneConfig,
        checks: ChecksConfig,
        sink: BatchSink,
        letters: DeadLetters,
        clock: Clock,
        detector: Detector | None = None,
        observe: Callable[[MetricsBatch], object] | None = None,
    ) -> None:
        self.plane, self.checks, self.sink, self.letters = plane, checks, sink, letters
        self.clock, self.detector = clock, detector
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
        """Store the batch; a batch that can never be valid is dead-lettered and acknowledged;
        one stored before changes nothing.

        A storage error escapes, so Pub/Sub redelivers (the write is idempotent by batch id).
        """
        try:
            batch = decoded(self.validate, message.data, what="metrics batch")
        except Refused as exc:
            self.refuse(message.event_id, exc.reason, message.data, message.attributes)
            return "refused"
        settings = self.checks.env(batch.env).monitoring
        new = self.sink.put(batch, self.clock(), shards=settings.metric_shards)
        log.info(
            "metrics batch %s %s",
            batch.batch_id,
            "stored" if new else "seen before",
            extra={"env": batch.env},
        )
        # a redelivered batch is judged too: the delivery may be the retry of a failed analysis
        # (Cloud Monitoring keeps its own cadence: only app-metrics envs are judged per batch)
        detect = settings.detect_on_batch and settings.source == "app-metrics"
        if self.observe is not None:
            self.observe(batch)
        if self.detector is not None and detect:
            self.detector.poke(batch.env, batch.batch_id)
        return "stored" if new else "duplicate"

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
