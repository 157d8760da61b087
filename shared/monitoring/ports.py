"""What monitoring needs from outside: where metrics come from (app-metrics in Firestore, or
Cloud Monitoring) and where accepted batches go."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.config import EnvConfig
from shared.monitoring.batch import MetricsBatch


class MetricsSource(Protocol):
    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]:
        """Every batch of `env` whose window starts in [start, end)."""
        ...


class BatchSink(Protocol):
    def put(self, batch: MetricsBatch, received_at: datetime) -> None: ...
