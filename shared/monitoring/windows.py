"""Pure: stored batches → one aggregate per window (counters summed, latencies weighted)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.monitoring.batch import Counters, MetricsBatch

COUNTERS = tuple(Counters.model_fields)


@dataclass(frozen=True)
class Window:
    start: datetime
    counters: dict[str, int] = field(default_factory=dict)  # only the measured ones
    api_p95_ms: float | None = None
    db_p95_ms: float | None = None
    batches: int = 0

    def count(self, name: str) -> int | None:
        return self.counters.get(name)

    def as_evidence(self) -> dict[str, object]:
        out: dict[str, object] = {"start": self.start.isoformat(), "batches": self.batches}
        out.update(self.counters)
        if self.api_p95_ms is not None:
            out["apiP95Ms"] = round(self.api_p95_ms, 1)
        if self.db_p95_ms is not None:
            out["dbP95Ms"] = round(self.db_p95_ms, 1)
        return out


def _weighted(pairs: list[tuple[float, int | None]]) -> float | None:
    """Mean of per-batch p95s weighted by their request counts (an approximation of the p95
    of the union; unweighted where a batch did not count its requests)."""
    if not pairs:
        return None
    weights = [w for _, w in pairs]
    if any(w is None for w in weights) or not sum(w or 0 for w in weights):
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * (w or 0) for v, w in pairs) / sum(w or 0 for w in weights)


def aggregate(batches: Iterable[MetricsBatch]) -> list[Window]:
    """One window per distinct start, oldest first."""
    by_start: dict[datetime, list[MetricsBatch]] = defaultdict(list)
    for b in batches:
        by_start[b.window_start].append(b)
    windows = []
    for start in sorted(by_start):
        group = by_start[start]
        counters: dict[str, int] = {}
        for name in COUNTERS:
            values = [getattr(b.counters, name) for b in group]
            measured = [v for v in values if v is not None]
            if measured:
                counters[name] = sum(measured)
        api = [(b.latency.api_p95_ms, b.counters.api_requests) for b in group]
        db = [(b.latency.db_p95_ms, b.counters.db_ops) for b in group]
        windows.append(
            Window(
                start=start,
                counters=counters,
                api_p95_ms=_weighted([(v, w) for v, w in api if v is not None]),
                db_p95_ms=_weighted([(v, w) for v, w in db if v is not None]),
                batches=len(group),
            )
        )
    return windows
