"""Pure: batches → mergeable per-window parts → one aggregate per window.

A `Part` is what any number of batches of one window and one release add up to: counters
summed, and for each latency what merging needs (sums for the request-weighted mean of the
batches' p95s, and a log-bucketed histogram when every batch sent one). Parts merge by
addition, so the store folds each batch into a shard of its window on write (sharded
counters, as Monarch and Prometheus keep sums and histograms rather than raw samples), and an
analysis reads O(windows), not O(batches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.monitoring.batch import Counters, MetricsBatch
from shared.monitoring.histogram import quantile

COUNTERS = tuple(Counters.model_fields)
# latency name → (the batch's p95 field, the counter that weighs it)
LATENCIES = {"api": ("api_p95_ms", "api_requests"), "db": ("db_p95_ms", "db_ops")}


@dataclass(frozen=True)
class LatencySum:
    """One latency over any number of batches: the batches that sent a p95 (`n`, `total`),
    those that also sent the weighing count (`weighted_n`, Σ p95·count, Σ count), those that
    sent a histogram (`hist_n`), and the merged histogram."""

    n: int = 0
    total: float = 0.0
    weighted_n: int = 0
    weighted_total: float = 0.0
    weight: int = 0
    hist_n: int = 0
    histogram: Mapping[int, int] = field(default_factory=dict)

    def __add__(self, other: LatencySum) -> LatencySum:
        merged = dict(self.histogram)
        for k, v in other.histogram.items():
            merged[k] = merged.get(k, 0) + v
        return LatencySum(
            n=self.n + other.n,
            total=self.total + other.total,
            weighted_n=self.weighted_n + other.weighted_n,
            weighted_total=self.weighted_total + other.weighted_total,
            weight=self.weight + other.weight,
            hist_n=self.hist_n + other.hist_n,
            histogram=merged,
        )

    def p95(self) -> float | None:
        """The p95 of the union when every batch sent a histogram; else the mean of the
        batches' p95s weighted by their request counts (unweighted where one did not count
        its requests): an approximation."""
        if not self.n:
            return None
        if self.hist_n == self.n and self.histogram:
            return quantile(self.histogram, 0.95)
        if self.weighted_n == self.n and self.weight:
            return self.weighted_total / self.weight
        return self.total / self.n


@dataclass(frozen=True)
class Part:
    """Some batches of one window and one release (None: untagged), added up."""

    window_start: datetime
    release: str | None
    batches: int = 0
    counters: Mapping[str, int] = field(default_factory=dict)  # only the measured ones
    latency: Mapping[str, LatencySum] = field(default_factory=dict)

    @classmethod
    def of(cls, b: MetricsBatch) -> Part:
        counters = {n: v for n in COUNTERS if (v := getattr(b.counters, n)) is not None}
        latency = {}
        for name, (p95_field, weigh) in LATENCIES.items():
            hist = b.latency.histogram(name)
            p95 = getattr(b.latency, p95_field)
            if p95 is None and hist:
                p95 = quantile(hist, 0.95)
            if p95 is None:
                continue
            w = counters.get(weigh)
            latency[name] = LatencySum(
                n=1,
                total=p95,
                weighted_n=int(w is not None),
                weighted_total=p95 * (w or 0),
                weight=w or 0,
                hist_n=int(bool(hist)),
                histogram=dict(hist or {}),
            )
        return cls(b.window_start, b.release, 1, counters, latency)

    def __add__(self, other: Part) -> Part:
        counters = dict(self.counters)
        for k, v in other.counters.items():
            counters[k] = counters.get(k, 0) + v
        latency = dict(self.latency)
        for k, lat in other.latency.items():
            latency[k] = latency[k] + lat if k in latency else lat
        return Part(
            self.window_start, self.release, self.batches + other.batches, counters, latency
        )


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


def _window(part: Part) -> Window:
    api, db = part.latency.get("api"), part.latency.get("db")
    return Window(
        start=part.window_start,
        counters=dict(part.counters),
        api_p95_ms=api.p95() if api else None,
        db_p95_ms=db.p95() if db else None,
        batches=part.batches,
    )


# what a metrics source returns: stored batches, or parts already folded from them
Sample = Part | MetricsBatch


def aggregate(items: Iterable[Sample]) -> list[Window]:
    """One window per distinct start (all releases given together), oldest first."""
    by_start: dict[datetime, Part] = {}
    for item in items:
        part = Part.of(item) if isinstance(item, MetricsBatch) else item
        known = by_start.get(part.window_start)
        by_start[part.window_start] = known + part if known else part
    return [_window(by_start[start]) for start in sorted(by_start)]


def merge_by_release(parts: Iterable[Part]) -> list[Part]:
    """Parts of the same window and release (e.g. a window's shards) merged into one each."""
    merged: dict[tuple[datetime, str | None], Part] = {}
    for p in parts:
        key = (p.window_start, p.release)
        merged[key] = merged[key] + p if key in merged else p
    return list(merged.values())
