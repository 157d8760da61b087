"""Where each environment's metrics come from: the `MetricsSource` its `monitoring.source` names
(the app's own batches in Firestore, or Cloud Monitoring)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from shared.config import EnvConfig
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.ports import BatchReader, MetricsSource
from shared.monitoring.windows import Sample


def cloud_monitoring(window_seconds: int) -> BatchReader:
    from shared.monitoring.cloud_monitoring import CloudMonitoringMetrics

    return CloudMonitoringMetrics(window_seconds)


class PerEnvSource:
    """Each env's metrics from the source its `monitoring.source` names (one Cloud Monitoring
    reader per window length, built on first use)."""

    def __init__(
        self,
        checks: ChecksConfig,
        app_metrics: MetricsSource,
        cloud: Callable[[int], BatchReader] = cloud_monitoring,
    ) -> None:
        self.checks, self.app_metrics, self.cloud = checks, app_metrics, cloud
        self._cloud: dict[int, BatchReader] = {}

    def parts(self, env: EnvConfig, start: datetime, end: datetime) -> Sequence[Sample]:
        s = self.checks.env(env.name).monitoring
        if s.source == "app-metrics":
            return self.app_metrics.parts(env, start, end)
        if s.window_seconds not in self._cloud:
            self._cloud[s.window_seconds] = self.cloud(s.window_seconds)
        return self._cloud[s.window_seconds].batches(env, start, end)
