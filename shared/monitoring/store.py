"""app-metrics → Firestore (control project): `metrics/{env}/batches/{batchId}`.

A batch is written under its own id, so a redelivered or republished batch overwrites itself
and is never counted twice. Reads query one env's batches by `windowStart` (a single-field
index, created automatically).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.config import EnvConfig
from shared.monitoring.batch import MetricsBatch

METRICS, BATCHES = "metrics", "batches"


def _batches(db: Any, env: str) -> Any:
    return db.collection(METRICS).document(env).collection(BATCHES)


class FirestoreMetrics:
    """The app-metrics `MetricsSource`, and where the metrics handler stores batches."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def put(self, batch: MetricsBatch, received_at: datetime) -> None:
        doc = batch.model_dump(by_alias=True, mode="python")
        doc["receivedAt"] = received_at
        _batches(self.db, batch.env).document(batch.batch_id).set(doc)

    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            _batches(self.db, env.name)
            .where(filter=FieldFilter("windowStart", ">=", start))
            .where(filter=FieldFilter("windowStart", "<", end))
        )
        out = []
        for snap in query.stream():
            raw = snap.to_dict() or {}
            raw.pop("receivedAt", None)
            out.append(MetricsBatch.model_validate(raw))
        return out
