"""The crash watch's Firestore records: `mobileCrashSamples/{platform}:{build}/batches/{id}`
(one per app-metrics batch, so a redelivery rewrites the same document) and the trains'
collection group (which release carries a build)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.mobile.breach import CrashWindow
from shared.monitoring.batch import MetricsBatch

SAMPLES = "mobileCrashSamples"


class FirestoreCrashSamples:
    def __init__(self, db: Any) -> None:
        self.db = db

    def _batches(self, platform: str, build: int) -> Any:
        return self.db.collection(SAMPLES).document(f"{platform}:{build}").collection("batches")

    def put(self, batch: MetricsBatch) -> None:
        if not (batch.platform is not None and batch.build is not None):
            raise ValueError("a mobile batch needs platform and build")
        c = batch.counters
        self._batches(batch.platform, batch.build).document(batch.batch_id).set(
            {
                "windowStart": batch.window_start,
                "sessions": c.sessions,
                "crashedSessions": c.crashed_sessions,
                "users": c.users,
                "crashedUsers": c.crashed_users,
                "appVersion": batch.app_version,
            }
        )

    def windows(self, platform: str, build: int, since: datetime) -> list[CrashWindow]:
        query = self._batches(platform, build).where(filter=FieldFilter("windowStart", ">=", since))
        return [_window(d.to_dict()) for d in query.stream()]


def _window(d: dict[str, Any]) -> CrashWindow:
    return CrashWindow(
        d["windowStart"],
        d["sessions"] or 0,
        d["crashedSessions"] or 0,
        d.get("users"),
        d.get("crashedUsers"),
    )


class FirestoreTrainFinder:
    def __init__(self, db: Any) -> None:
        self.db = db

    def release_of(self, platform: str, build: int) -> str | None:
        # index: trains (platform, build) collection-group overrides in firestore.indexes.json
        query = (
            self.db.collection_group("trains")
            .where(filter=FieldFilter("platform", "==", platform))
            .where(filter=FieldFilter("build", "==", build))
        )
        found = [d.to_dict() for d in query.stream()]
        if not found:
            return None
        return str(max(found, key=lambda d: d["updatedAt"])["release"])
