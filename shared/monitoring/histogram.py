"""Pure: the log-bucketed latency histogram a batch may send (contract: docs/MONITORING.md).

Bucket i holds latencies in (GAMMA^(i-1), GAMMA^i] ms, bucket 0 everything up to 1 ms, so a
quantile read from merged histograms is within 1 % of the true one (DDSketch's relative
accuracy guarantee). Histograms merge by adding counts bucket by bucket.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

GAMMA = 1.02
MAX_BUCKET = 1400  # GAMMA^1400 ms is about 10^12 ms: anything above lands in the last bucket


def bucket(ms: float) -> int:
    """The histogram bucket of a latency in milliseconds (contract: docs/MONITORING.md)."""
    if ms <= 1:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log(ms) / math.log(GAMMA) - 1e-9))


def bucket_value(index: int) -> float:
    """A representative value of a bucket: the middle of its range, relative error <= 1 %."""
    if index == 0:
        return 1.0
    return 2 * GAMMA**index / (1 + GAMMA)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank = math.ceil(q * total)  # nearest rank
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(histogram))


def from_samples(samples_ms: Iterable[float]) -> dict[int, int]:
    """The histogram of raw latencies (what the app side sends)."""
    return dict(Counter(bucket(v) for v in samples_ms))
