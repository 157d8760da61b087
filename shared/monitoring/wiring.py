"""Factories for the composition root: the bake analysis and the `on_app_metrics` handler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.clock import Clock, utcnow
from shared.config import EnvConfig, Settings
from shared.gates.checks_file import ChecksConfig, load_for
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.handler import MetricsHandler
from shared.monitoring.ports import MetricsSource
from shared.monitoring.store import FirestoreMetrics


def _control_db(settings: Settings, db: Any) -> Any:
    if db is not None:
        return db
    from google.cloud import firestore

    return firestore.Client(project=settings.project)


def cloud_monitoring(window_seconds: int) -> MetricsSource:
    from shared.monitoring.cloud_monitoring import CloudMonitoringMetrics

    return CloudMonitoringMetrics(window_seconds)


class PerEnvSource:
    """Each env's metrics from the source its `monitoring.source` names (one Cloud Monitoring
    reader per window length, built on first use)."""

    def __init__(
        self,
        checks: ChecksConfig,
        app_metrics: MetricsSource,
        cloud: Callable[[int], MetricsSource] = cloud_monitoring,
    ) -> None:
        self.checks, self.app_metrics, self.cloud = checks, app_metrics, cloud
        self._cloud: dict[int, MetricsSource] = {}

    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]:
        s = self.checks.env(env.name).monitoring
        if s.source == "app-metrics":
            return self.app_metrics.batches(env, start, end)
        if s.window_seconds not in self._cloud:
            self._cloud[s.window_seconds] = self.cloud(s.window_seconds)
        return self._cloud[s.window_seconds].batches(env, start, end)


def bake_analysis(
    settings: Settings, checks: ChecksConfig | None = None, db: Any = None
) -> MetricsBakeAnalysis:
    """Bake analysis over app-metrics stored in the control project (or Cloud Monitoring)."""
    checks = checks or load_for(settings.plane)
    source = PerEnvSource(checks, FirestoreMetrics(_control_db(settings, db)))
    return MetricsBakeAnalysis(checks, source)


def metrics_handler(
    settings: Settings | None = None,
    checks: ChecksConfig | None = None,
    db: Any = None,
    clock: Clock = utcnow,
) -> MetricsHandler:
    """`on_app_metrics`: batches → `metrics/{env}/batches/*`, bad ones → dead letters."""
    settings = settings or Settings()
    db = _control_db(settings, db)
    return MetricsHandler(
        plane=settings.plane,
        checks=checks or load_for(settings.plane),
        sink=FirestoreMetrics(db),
        letters=FirestoreDeadLetters(db),
        clock=clock,
    )
