"""The canary judge on Firestore: batches of the stable and the canary release folded on write,
read back per window and release, and a canary 30 % slower (under the absolute latency limit)
rolled back with the judge's evidence on the step; a good one goes live (through the canary's
steps and its finish build where the env has steps)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from shared.config import PlaneConfig
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.histogram import from_samples
from shared.monitoring.store import FirestoreMetrics
from tests.integration.test_monitoring_emulator import World, state

CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "monitoring": {
                    "window_seconds": 60,
                    "metrics": ["function_error_rate", "api_p95_latency"],
                    "baseline": {"api_p95_ms": 200.0},  # 1.5x: the thresholds allow 300 ms
                    "metric_shards": 4,
                    "judge": {"enabled": True},
                }
            }
        }
    }
)


def judged_world(db: Any, plane: PlaneConfig) -> World:
    w = World(db, plane)
    w.bus.ports.bake = MetricsBakeAnalysis(CHECKS, FirestoreMetrics(db))
    w.metrics.checks = CHECKS
    return w


def both_serve(w: World, windows: int, canary_slower: float) -> None:
    """Each minute, four instances of stable 1.0.0 and one of canary 1.1.0 report (a 20 %
    split), with their latency histograms."""
    rng = random.Random(18)
    since = w.clock.now
    for i in range(windows):
        for n, release in enumerate(["1.0.0"] * 4 + ["1.1.0"]):
            slower = canary_slower if release == "1.1.0" else 1.0
            latencies = [120 * slower * rng.lognormvariate(0, 0.3) for _ in range(150)]
            w.metrics.sink.put(  # type: ignore[attr-defined]
                batch(since, i, n, release, latencies), w.clock.now, shards=4
            )
        w.clock.advance(minutes=1)


def batch(since: datetime, i: int, n: int, release: str, latencies: list[float]) -> MetricsBatch:
    return MetricsBatch.model_validate(
        {
            "batchId": f"{release}-{n}-{i}",
            "env": "staging",
            "release": release,
            "windowStart": (since + timedelta(minutes=i)).isoformat(),
            "windowSeconds": 60,
            "counters": {
                "functionInvocations": len(latencies),
                "functionErrors": 0,
                "apiRequests": len(latencies),
            },
            "latency": {"apiHistogram": from_samples(latencies)},
        }
    )


def test_a_canary_30_percent_slower_is_rolled_back_by_the_judge(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    w = judged_world(firestore_db, plane)
    w.to_live("1.0.0")
    w.to_baking("1.1.0")
    both_serve(w, 9, canary_slower=1.3)
    w.tick("t-1")

    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "rolled_back"
    assert rollout["reason"].startswith("canary_judge: fail")
    judged = rollout["steps"]["bake"]["detail"]["judge"]
    latency = next(m for m in judged["metrics"] if m["metric"] == "api_p95_latency")
    assert (judged["verdict"], latency["class"]) == ("fail", "high")
    assert latency["canaryWindows"] == latency["stableWindows"] == 8  # the first look
    assert 1.2 < latency["meanRatio"] < 1.4
    assert w.restore.calls == [("1.0.0", "staging")]


def test_a_canary_like_stable_passes_the_judge(firestore_db: Any, plane: PlaneConfig) -> None:
    w = judged_world(firestore_db, plane)
    w.to_live("1.0.0")
    w.to_baking("1.1.0")
    both_serve(w, 9, canary_slower=1.0)
    w.tick("t-1")

    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "live"  # 9 minutes: past staging's 5-minute bake
    assert rollout["steps"]["bake"]["detail"]["judge"]["verdict"] == "pass"


def canary_world(db: Any, plane: PlaneConfig) -> World:
    """1.0.0 live in staging, then staging ships with steps of 10 and 50 %, 10 minutes each
    (the judge needs 8 windows a side, so a step must bake at least that long)."""
    w = judged_world(db, plane)
    w.to_live("1.0.0")
    staging = plane.env("staging").model_copy(update={"canary": (10, 50), "bake_minutes": 10})
    w.bus.plane = plane.model_copy(
        update={"environments": {**plane.environments, "staging": staging}}
    )
    w.to_baking("1.1.0")
    return w


def test_a_good_canary_goes_10_then_50_then_100_percent_on_firestore(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    w = canary_world(firestore_db, plane)
    assert state(firestore_db, "1.1.0")["steps"]["canary"]["detail"]["percent"] == 10
    both_serve(w, 10, canary_slower=1.0)
    w.tick("t-1")
    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "baking"
    assert rollout["steps"]["canary"]["detail"]["percent"] == 50
    assert rollout["steps"]["bake"]["detail"]["judge"]["verdict"] == "pass"
    both_serve(w, 10, canary_slower=1.0)
    w.tick("t-2")
    rollout = state(firestore_db, "1.1.0")
    # 100 %, then Hosting, rules and indexes (which cannot split) in the finish build
    assert (rollout["state"], rollout["steps"]["finish"]["status"]) == ("baking", "STARTING")
    w.build("1.1.0/staging/1/finish", "SUCCESS")
    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "live"
    assert rollout["steps"]["canary"]["status"] == "passed"
    assert rollout["steps"]["canary"]["detail"]["split"]["percent"] == 100
    assert [p for _, p, _ in w.restore.splits] == [10, 50, 100]
    assert {stable for _, _, stable in w.restore.splits} == {"1.0.0"}


def test_the_judge_aborts_a_slower_canary_at_10_percent_on_firestore(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    w = canary_world(firestore_db, plane)
    both_serve(w, 10, canary_slower=1.3)  # under the absolute limit (1.5x the 200 ms baseline)
    w.tick("t-1")
    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "rolled_back"
    assert rollout["steps"]["canary"]["status"] == "aborted"
    assert rollout["steps"]["canary"]["detail"]["percent"] == 10
    assert rollout["steps"]["bake"]["detail"]["judge"]["verdict"] == "fail"
    assert [p for _, p, _ in w.restore.splits] == [10]
    assert w.restore.calls[-1] == ("1.0.0", "staging")  # all traffic back to stable
