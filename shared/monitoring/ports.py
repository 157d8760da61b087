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


class DetectionLease(Protocol):
    """One env's analysis lease (at most one analysis of an env runs at a time)."""

    def acquire(
        self, env: str, holder: str, now: datetime, until: datetime
    ) -> tuple[bool, datetime | None]:
        """Take the lease until `until` and return (True, when the last analysis started);
        if another holder has it, mark the env pending (it runs again) and return False."""
        ...

    def finish(self, env: str, holder: str, ran_at: datetime, until: datetime) -> bool:
        """After a run started at `ran_at`: if the env was marked pending meanwhile, clear the
        mark, keep the lease until `until` and return True (run again); else let it go."""
        ...

    def release(self, env: str, holder: str, ran_at: datetime | None) -> None:
        """Let the lease go (if still ours), e.g. after a failed run."""
        ...
