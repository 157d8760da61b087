"""Mergeable per-window parts: batches add up the same in any grouping, and log-bucketed
histograms give quantiles within 1 %."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from shared.errors import Refused
from shared.monitoring.batch import MetricsBatch, parse_batch
from shared.monitoring.histogram import MAX_BUCKET, bucket, bucket_value, from_samples, quantile
from shared.monitoring.windows import Part, aggregate

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_every_bucket_value_is_within_one_percent_of_what_it_holds() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        v = rng.uniform(1.001, 1e6)
        assert abs(bucket_value(bucket(v)) - v) <= 0.01 * v
    assert bucket(0.0) == 0 and bucket(1e300) == MAX_BUCKET


def test_quantiles_of_merged_histograms_are_those_of_all_samples() -> None:
    rng = random.Random(2)
    groups = [[rng.lognormvariate(4.5, 0.6) for _ in range(rng.randint(5, 300))] for _ in range(9)]
    merged: dict[int, int] = {}
    for g in groups:
        for k, v in from_samples(g).items():
            merged[k] = merged.get(k, 0) + v
    everything = sorted(v for g in groups for v in g)
    true_p95 = everything[-(-95 * len(everything) // 100) - 1]
    got = quantile(merged, 0.95)
    assert got is not None and abs(got - true_p95) <= 0.01 * true_p95


def _batch(n: int, **latency: object) -> MetricsBatch:
    return MetricsBatch.model_validate(
        {
            "batchId": f"b{n}",
            "env": "dev",
            "windowStart": T0.isoformat(),
            "windowSeconds": 5,
            "counters": {"apiRequests": 10 * (n + 1), "sessions": n},
            "latency": latency,
        }
    )


def test_parts_add_up_the_same_in_any_grouping() -> None:
    batches = [_batch(n, apiP95Ms=100.0 + n) for n in range(6)]
    whole = aggregate(batches)
    left = Part.of(batches[0]) + Part.of(batches[1]) + Part.of(batches[2])
    right = Part.of(batches[3]) + (Part.of(batches[4]) + Part.of(batches[5]))
    assert aggregate([left, right]) == whole
    assert whole[0].batches == 6 and whole[0].counters["api_requests"] == 210


def test_a_batch_with_only_a_histogram_gets_its_p95_from_it() -> None:
    hist = from_samples([100.0] * 19 + [500.0])
    (window,) = aggregate([_batch(0, apiHistogram=hist)])
    assert window.api_p95_ms == pytest.approx(100.0, rel=0.01)


def test_a_histogram_bucket_out_of_range_is_refused() -> None:
    body = _batch(0).model_dump(by_alias=True, mode="json")
    body["latency"] = {"apiHistogram": {str(MAX_BUCKET + 1): 3}}
    with pytest.raises(Refused, match="apiHistogram"):
        parse_batch(json.dumps(body).encode())
