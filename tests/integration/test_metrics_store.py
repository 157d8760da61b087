"""Batches folded into sharded per-window aggregates on the Firestore emulator: a redelivered
batch never counts twice, shards merge back to what the batches add up to, histograms merge,
and an analysis reads window shards, not batches."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import PlaneConfig
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.histogram import from_samples
from shared.monitoring.store import FirestoreMetrics
from shared.monitoring.windows import aggregate

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def batch(n: int, window: int, release: str | None, rng: random.Random) -> MetricsBatch:
    requests = rng.randint(50, 150)
    samples = [rng.lognormvariate(4.6, 0.4) for _ in range(requests)]
    raw: dict[str, Any] = {
        "batchId": f"inst-{n}-{window}-{release or 'any'}",
        "env": "staging",
        "windowStart": (T0 + timedelta(minutes=window)).isoformat(),
        "windowSeconds": 60,
        "counters": {
            "functionInvocations": requests,
            "functionErrors": rng.randint(0, 3),
            "apiRequests": requests,
        },
        "latency": {"apiP95Ms": sorted(samples)[int(0.95 * requests)]},
        **({"release": release} if release else {}),
    }
    if n % 2 == 0:  # half the instances also send their histogram
        raw["latency"]["apiHistogram"] = {str(k): v for k, v in from_samples(samples).items()}
    return MetricsBatch.model_validate(raw)


def test_shards_add_up_to_the_batches_and_a_redelivery_counts_once(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    rng = random.Random(18)
    store = FirestoreMetrics(firestore_db)
    batches = [
        batch(n, w, release, rng)
        for w in range(3)
        for n in range(12)
        for release in ("1.0.0", "1.1.0", None)
    ]
    assert all(store.put(b, T0, shards=4) for b in batches)
    assert not store.put(batches[0], T0, shards=4)  # the same batch again: not counted
    assert not store.put(batches[5], T0, shards=7)  # even under another shard count

    env = plane.env("staging")
    parts = store.parts(env, T0, T0 + timedelta(minutes=3))
    assert len(parts) == 9  # 3 windows x 3 releases, shards merged
    for release in ("1.0.0", "1.1.0", None):
        got = aggregate(p for p in parts if p.release == release)
        want = aggregate(b for b in batches if b.release == release)
        assert [(w.start, w.counters, w.batches) for w in got] == [
            (w.start, w.counters, w.batches) for w in want
        ]
        for g, x in zip(got, want, strict=True):  # the p95: same rule, float sums
            assert g.api_p95_ms is not None and x.api_p95_ms is not None
            assert abs(g.api_p95_ms - x.api_p95_ms) < 1e-6 * x.api_p95_ms
    shards = list(firestore_db.collection("metrics/staging/windows").stream())
    assert len(shards) <= 3 * 3 * 4
    stored = firestore_db.document("metrics/staging/batches/inst-0-0-1.0.0").get().to_dict()
    assert stored["latency"]["apiHistogram"]  # the batch as received, for inspection


def test_a_window_whose_batches_all_sent_histograms_gets_the_true_p95(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    rng = random.Random(5)
    store = FirestoreMetrics(firestore_db)
    everything: list[float] = []
    for n in range(20):
        samples = [rng.lognormvariate(4.6, 0.5) for _ in range(rng.randint(20, 200))]
        everything += samples
        store.put(
            MetricsBatch.model_validate(
                {
                    "batchId": f"h-{n}",
                    "env": "staging",
                    "release": "1.1.0",
                    "windowStart": T0.isoformat(),
                    "windowSeconds": 60,
                    "counters": {"apiRequests": len(samples)},
                    "latency": {"apiHistogram": from_samples(samples)},
                }
            ),
            T0,
            shards=8,
        )
    (window,) = aggregate(store.parts(plane.env("staging"), T0, T0 + timedelta(minutes=1)))
    true_p95 = sorted(everything)[-(-95 * len(everything) // 100) - 1]
    assert window.api_p95_ms is not None
    assert abs(window.api_p95_ms - true_p95) <= 0.02 * true_p95


def test_a_closed_window_is_compacted_when_read_and_a_late_batch_still_counts(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    rng = random.Random(9)
    store = FirestoreMetrics(firestore_db)
    batches = [batch(n, 0, "1.1.0", rng) for n in range(10)]
    for b in batches:
        store.put(b, T0, shards=8)
    env = plane.env("staging")
    windows = firestore_db.collection("metrics/staging/windows")
    open_read = store.parts(env, T0, T0 + timedelta(minutes=1))  # still open: not compacted
    assert len(list(windows.stream())) > 1

    later = T0 + timedelta(minutes=5)
    (first,) = store.parts(env, T0, later)  # closed: compacted as it is read
    assert [d.id for d in windows.stream()] == [f"{int(T0.timestamp())}:1.1.0:r"]
    (again,) = store.parts(env, T0, later)
    assert aggregate([again]) == aggregate([first]) == aggregate(open_read) == aggregate(batches)

    late = batch(99, 0, "1.1.0", rng)
    assert store.put(late, later, shards=8)
    assert not store.put(batches[3], later, shards=8)  # still a duplicate after compaction
    (merged,) = store.parts(env, T0, later)
    assert merged.batches == 11
    assert aggregate([merged])[0].counters == aggregate([*batches, late])[0].counters


def test_a_mobile_apps_batch_is_stored_once_but_never_judges_the_env(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    store = FirestoreMetrics(firestore_db)
    web = MetricsBatch.model_validate(
        {
            "batchId": "web-1",
            "env": "staging",
            "windowStart": T0.isoformat(),
            "windowSeconds": 60,
            "counters": {"sessions": 1_000, "crashedSessions": 100},
        }
    )
    app = web.model_copy(
        update={
            "batch_id": "android-1",
            "platform": "android",
            "build": 4102,
            "app_version": "3.1.0",
            "counters": web.counters.model_copy(
                update={"sessions": 40_000, "crashed_sessions": 80}
            ),
        }
    )
    assert store.put(web, T0) and store.put(app, T0)
    assert not store.put(app, T0)  # a redelivered app batch is still seen as one
    parts = store.parts(plane.env("staging"), T0, T0 + timedelta(minutes=1))
    # the web app's 10 % crashed sessions, not diluted by 40,000 healthy app sessions
    assert [(p.batches, p.counters) for p in parts] == [
        (1, {"sessions": 1_000, "crashed_sessions": 100})
    ]
