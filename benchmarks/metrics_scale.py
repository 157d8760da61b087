"""Metrics cost against fleet size, on the Firestore emulator: 10, 100 and 1,000 publishers
(app instances) each sending one batch per window for a 30-window bake, half on the stable
release and half on the canary. For each fleet size it prints

  write   commits and document writes per batch, median and p95 time of one `put`
  read    documents read by the first analysis (it compacts the closed windows' shards) and
          by the later ones, and time (median, p95) of one bake analysis (thresholds and
          canary judge, `MetricsBakeAnalysis.evaluate`) over the window documents, against the
          old way measured in the same run: query every raw batch of the windows and
          aggregate them (what each analysis did before batches were folded on write)

Goals: documents read per analysis flat across fleet sizes; analysis p95 <= 200 ms at 1,000.

    .venv/bin/python benchmarks/metrics_scale.py [--fleets 10,100,1000] [--windows 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from benchmarks._emulator import firestore_emulator
from shared.config import EnvConfig
from shared.domain.model import Rollout
from shared.domain.states import State
from shared.gates.checks_file import ChecksConfig
from shared.monitoring import store as store_module
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.histogram import from_samples
from shared.monitoring.store import FirestoreMetrics
from shared.monitoring.windows import aggregate

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WINDOW = 60
SHARDS = 16
OLD_WAY_RUNS = 3
CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "monitoring": {
                    "window_seconds": WINDOW,
                    "metric_shards": SHARDS,
                    "baseline_windows": 1,
                    "judge": {"enabled": True},
                }
            }
        }
    }
)


def batch(env: str, n: int, window: int, rng: random.Random) -> MetricsBatch:
    release = "1.1.0" if n % 2 else "1.0.0"
    requests = rng.randint(40, 80)
    samples = [rng.lognormvariate(4.6, 0.4) for _ in range(requests)]
    return MetricsBatch.model_validate(
        {
            "batchId": f"i{n}-w{window}",
            "env": env,
            "release": release,
            "windowStart": (T0 + timedelta(seconds=WINDOW * window)).isoformat(),
            "windowSeconds": WINDOW,
            "counters": {
                "functionInvocations": requests,
                "functionErrors": rng.randint(0, 1),
                "apiRequests": requests,
                "sessions": requests,
                "crashedSessions": 0,
            },
            "latency": {
                "apiP95Ms": sorted(samples)[int(0.95 * requests)],
                "apiHistogram": from_samples(samples),
            },
        }
    )


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(0.95 * len(values)) - 1)]


def counted(fn: Callable[..., Any], into: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        into[0] += 1
        return fn(*args, **kwargs)

    return wrapper


def old_way(db: Any, env: str, start: datetime, end: datetime) -> int:
    """What an analysis read before: every raw batch of the windows, aggregated."""
    query = (
        db.collection("metrics")
        .document(env)
        .collection("batches")
        .where(filter=FieldFilter("windowStart", ">=", start))
        .where(filter=FieldFilter("windowStart", "<", end))
    )
    batches = []
    for snap in query.stream():
        raw = snap.to_dict() or {}
        for key in ("receivedAt", "shard"):
            raw.pop(key, None)
        batches.append(MetricsBatch.model_validate(raw))
    for release in ("1.0.0", "1.1.0"):
        aggregate(b for b in batches if b.release == release)
    return len(batches)


def run_fleet(db: Any, fleet: int, windows: int, analyses: int) -> dict[str, float]:
    env = f"fleet{fleet}"
    checks = CHECKS.model_copy(update={"environments": {env: CHECKS.environments["staging"]}})
    store = FirestoreMetrics(db)
    rng = random.Random(fleet)
    batches = [batch(env, n, w, rng) for w in range(windows) for n in range(fleet)]
    put_times: list[float] = []

    def put(b: MetricsBatch) -> None:
        start = time.perf_counter()
        assert store.put(b, T0, shards=SHARDS)
        put_times.append(time.perf_counter() - start)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, batches))
    cfg = EnvConfig(name=env, project=f"demo-{env}")
    since = T0 + timedelta(seconds=WINDOW)  # the bake began with window 1
    rollout = Rollout(
        release="1.1.0",
        env=env,
        state=State.BAKING,
        actor="bench",
        created_at=since,
        updated_at=since,
        state_since=since,
    )
    now = T0 + timedelta(seconds=WINDOW * windows)
    analysis = MetricsBakeAnalysis(checks, store)
    reads = [0]
    real = store_module.part_from
    store_module.part_from = counted(real, reads)  # one call per document read
    times, old_times, first_reads = [], [], 0
    try:
        for _ in range(analyses):
            reads[0] = 0
            start = time.perf_counter()
            report = analysis.evaluate(rollout, cfg, now, stable="1.0.0")
            times.append(time.perf_counter() - start)
            first_reads = first_reads or reads[0]
        for _ in range(OLD_WAY_RUNS):  # slow at 1,000 publishers: a few runs suffice
            start = time.perf_counter()
            old_reads = old_way(db, env, T0, now)
            old_times.append(time.perf_counter() - start)
    finally:
        store_module.part_from = real
    assert "judge" in report.detail
    return {
        "put_ms": statistics.median(put_times) * 1000,
        "put_p95_ms": p95(put_times) * 1000,
        "first_reads": first_reads,
        "reads": reads[0],
        "ms": statistics.median(times) * 1000,
        "p95_ms": p95(times) * 1000,
        "old_reads": old_reads,
        "old_ms": statistics.median(old_times) * 1000,
        "old_p95_ms": p95(old_times) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="10,100,1000")
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--analyses", type=int, default=20)
    args = parser.parse_args()
    with firestore_emulator():
        db = firestore.Client(project="demo-release-control")
        print(
            f"{args.windows} windows of {WINDOW} s, {SHARDS} shards per window and release, "
            f"{args.analyses} analyses per fleet; one put = 1 commit, 2 document writes\n"
        )
        print(
            f"{'publishers':>10} {'put ms':>7} {'put p95':>8} | {'1st':>5} {'reads':>6} {'ms':>7} "
            f"{'p95 ms':>7} | {'old reads':>9} {'old ms':>7} {'old p95':>8}"
        )
        for fleet in (int(f) for f in args.fleets.split(",")):
            r = run_fleet(db, fleet, args.windows, args.analyses)
            print(
                f"{fleet:>10} {r['put_ms']:7.1f} {r['put_p95_ms']:8.1f} | {r['first_reads']:5.0f} "
                f"{r['reads']:6.0f} "
                f"{r['ms']:7.1f} {r['p95_ms']:7.1f} | {r['old_reads']:9.0f} "
                f"{r['old_ms']:7.1f} {r['old_p95_ms']:8.1f}"
            )


if __name__ == "__main__":
    main()
