"""Where metrics come from: a port with an app-metrics/Firestore and a Cloud Monitoring adapter."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.config import EnvConfig
from shared.monitoring.batch import MetricsBatch


class MetricsSource(Protocol):
    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]:
        """Every batch of `env` whose window starts in [start, end)."""
        ...
