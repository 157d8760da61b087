"""app-metrics → Firestore (control project), folded into per-window aggregates on write.

Each accepted batch is one atomic commit of two writes:

- `metrics/{env}/batches/{batchId}`: the batch as received, written with `create`, so a
  redelivered or republished batch fails the whole commit and is never counted twice;
- `metrics/{env}/windows/{windowStart}:{release}:{shard}`: the batch added to one shard of its
  window and release with server-side increments (counters, latency sums, histogram buckets;
  `shared/monitoring/windows.py` `Part`). The shard is the batch id's hash modulo the env's
  `metric_shards`, so hundreds of instances reporting at once do not contend for one document
  (Firestore sustains about one write per second per document).

A mobile app's batch (one with a `platform`) is stored but not folded into the windows: the
mobile crash watch judges it per build (`mobileCrashSamples`, docs/MOBILE.md), and the env's
windows are the backend's and the web app's. Folded in, the apps' users would judge backend
releases: a bad mobile build would roll back a healthy backend, and tens of thousands of
healthy app sessions would dilute a backend crash spike below any threshold.

An analysis reads the window documents only, never the batches; a closed window's shards are
compacted into one rollup document (`{windowStart}:{release}:r`) the first time an analysis
reads them, so an analysis reads O(windows) documents whatever the number of publishers.
Reads query one env's window documents by `windowStart` (a single-field index, created
automatically).
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.config import EnvConfig
from shared.dead_letters import doc_id
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.windows import LatencySum, Part, merge_by_release

log = logging.getLogger(__name__)
METRICS, BATCHES, WINDOWS = "metrics", "batches", "windows"
# latency sums: Firestore field → LatencySum attribute
_SUMS = {
    "n": "n",
    "total": "total",
    "weightedN": "weighted_n",
    "weightedTotal": "weighted_total",
    "weight": "weight",
    "histN": "hist_n",
}


def _env(db: Any, env: str) -> Any:
    return db.collection(METRICS).document(env)


def shard_of(batch_id: str, shards: int) -> int:
    return zlib.crc32(batch_id.encode()) % shards


def window_doc_id(part: Part, shard: int | str) -> str:
    return doc_id(f"{int(part.window_start.timestamp())}:{part.release or '-'}:{shard}")


def _fields(part: Part, window_seconds: int, wrap: Callable[[Any], Any]) -> dict[str, Any]:
    latency = {
        name: {
            **{field: wrap(getattr(lat, attr)) for field, attr in _SUMS.items()},
            "histogram": {f"b{k}": wrap(v) for k, v in lat.histogram.items()},
        }
        for name, lat in part.latency.items()
    }
    return {
        "windowStart": part.window_start,
        "windowSeconds": window_seconds,
        "release": part.release,
        "batches": wrap(part.batches),
        "counters": {k: wrap(v) for k, v in part.counters.items()},
        "latency": latency,
    }


def increments(part: Part, window_seconds: int) -> dict[str, Any]:
    """The part as Firestore increments (a new document starts from them)."""
    from google.cloud.firestore_v1.transforms import Increment

    return _fields(part, window_seconds, Increment)


def part_from(doc: Mapping[str, Any]) -> Part:
    latency = {
        name: LatencySum(
            **{attr: raw.get(field, 0) for field, attr in _SUMS.items()},
            histogram={int(k[1:]): int(v) for k, v in (raw.get("histogram") or {}).items()},
        )
        for name, raw in (doc.get("latency") or {}).items()
    }
    return Part(
        window_start=doc["windowStart"],
        release=doc.get("release"),
        batches=int(doc.get("batches", 0)),
        counters={k: int(v) for k, v in (doc.get("counters") or {}).items()},
        latency=latency,
    )


class FirestoreMetrics:
    """The app-metrics `MetricsSource`, and where the metrics handler stores batches."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def put(self, batch: MetricsBatch, received_at: datetime, *, shards: int = 1) -> bool:
        """Fold the batch into its window; False if this batch id was stored before."""
        from google.api_core.exceptions import AlreadyExists, Conflict

        env = _env(self.db, batch.env)
        part = Part.of(batch)
        shard = shard_of(batch.batch_id, shards)
        doc = batch.model_dump(by_alias=True, mode="python", exclude_none=True)
        for name, value in doc.get("latency", {}).items():
            if isinstance(value, dict):  # a histogram: Firestore map keys are strings
                doc["latency"][name] = {str(k): v for k, v in value.items()}
        doc |= {"receivedAt": received_at, "shard": shard}
        write = self.db.batch()
        write.create(env.collection(BATCHES).document(batch.batch_id), doc)
        if batch.platform is None:  # a mobile app's batch is the crash watch's, not the env's
            window = env.collection(WINDOWS).document(window_doc_id(part, shard))
            write.set(window, increments(part, batch.window_seconds), merge=True)
        try:
            write.commit()
        except (AlreadyExists, Conflict):
            return False
        return True

    def parts(self, env: EnvConfig, start: datetime, end: datetime) -> list[Part]:
        """The window parts of [start, end), one per window and release. Windows that ended
        at least a window before `end` and still have several shards are compacted as they
        are read, so the next analysis reads one document for them."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            _env(self.db, env.name)
            .collection(WINDOWS)
            .where(filter=FieldFilter("windowStart", ">=", start))
            .where(filter=FieldFilter("windowStart", "<", end))
        )
        groups: dict[tuple[Any, Any], list[Any]] = defaultdict(list)
        for snap in query.stream():
            doc = snap.to_dict() or {}
            groups[(doc["windowStart"], doc.get("release"))].append(snap)
        parts = []
        for snaps in groups.values():
            parts += merge_by_release(part_from(s.to_dict() or {}) for s in snaps)
            doc = snaps[0].to_dict() or {}
            settled = doc["windowStart"] + timedelta(seconds=2 * doc.get("windowSeconds", 0))
            if len(snaps) > 1 and settled <= end:
                self._compact(env.name, snaps)
        return parts

    def _compact(self, env: str, snaps: list[Any]) -> None:
        """Fold a closed window's shards into its rollup document and delete them, in one
        transaction (a late batch's increment to a shard meanwhile retries it). A batch that
        arrives later still starts a new shard, merged with the rollup when read."""
        from google.cloud import firestore

        first = part_from(snaps[0].to_dict() or {})
        seconds = int((snaps[0].to_dict() or {}).get("windowSeconds", 0))
        rollup = _env(self.db, env).collection(WINDOWS).document(window_doc_id(first, "r"))
        refs = [s.reference for s in snaps if s.id != rollup.id]

        @firestore.transactional
        def fold(tx: Any) -> None:
            found = [s for s in tx.get_all([rollup, *refs]) if s.exists]
            merged = merge_by_release(part_from(s.to_dict() or {}) for s in found)
            if len(merged) != 1:
                return  # nothing left to fold (another reader did it)
            tx.set(rollup, _fields(merged[0], seconds, lambda v: v))
            for s in found:
                if s.id != rollup.id:
                    tx.delete(s.reference)

        try:
            fold(self.db.transaction())
        except Exception as exc:  # compaction is an optimisation: the next read retries it
            log.warning("window shards not compacted: %s", type(exc).__name__)
