"""What monitoring needs from outside: where metrics come from (app-metrics in Firestore, or
Cloud Monitoring) and where accepted batches go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from shared.config import EnvConfig
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.windows import Sample


class MetricsSource(Protocol):
    def parts(self, env: EnvConfig, start: datetime, end: datetime) -> Sequence[Sample]:
        """`env`'s metrics of the windows that start in [start, end): batches, or per-window
        parts already folded from them (each tagged with its window and release)."""
        ...


class BatchReader(Protocol):
    """A source that produces one batch per window (Cloud Monitoring)."""

    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]: ...


class BatchSink(Protocol):
    def put(self, batch: MetricsBatch, received_at: datetime, *, shards: int = 1) -> bool:
        """Store the batch (spread over `shards` documents per window); False if a batch with
        its id was stored before (it is not counted again)."""
        ...
