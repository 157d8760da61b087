"""`CloudMonitoringMetrics` over the wire, against a local gRPC server speaking the v3 API.

There is no Cloud Monitoring emulator. `MetricServer` below is one, small: an in-process gRPC
server on 127.0.0.1 that answers `google.monitoring.v3.MetricService/ListTimeSeries` with the
request and response types google-cloud-monitoring itself serialises. It holds raw time series
(DELTA and CUMULATIVE, INT64, DOUBLE and DISTRIBUTION, several resource types) and applies the
request's filter, interval `(start, end]`, per-series aligner, cross-series reducer with
`group_by_fields`, the documented validity rules of the aligners and reducers it knows, reverse
time order of points, and paging. The adapter reaches it through a real `MetricServiceClient`
and its gRPC transport, so requests and responses cross a real channel as protobuf bytes.

What it cannot prove: how Google's servers align, interpolate or delay data, and which errors
they return for metrics that were never written. See docs/MONITORING.md, "Metrics sources".
"""

from __future__ import annotations

import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.api import distribution_pb2, metric_pb2
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

from shared.config import EnvConfig
from shared.monitoring.cloud_monitoring import (
    FUNCTION_EXECUTIONS,
    CloudMonitoringError,
    CloudMonitoringMetrics,
)

Agg = monitoring_v3.Aggregation
Kind = metric_pb2.MetricDescriptor.MetricKind
VType = metric_pb2.MetricDescriptor.ValueType

PROJECT = "avalo-production-4f2a"
ENV = EnvConfig(name="production", project=PROJECT, approval_required=True)
W = 60
T0 = int(datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp())  # window 0 starts here
BOUNDS = [0.0, 25.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0]  # explicit buckets, ms


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def app(name: str) -> str:
    return f"custom.googleapis.com/avalo/{name}"


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class Raw:
    """One stored time series: its identity, kind and points `(end second, value)`.

    Values are ints or floats, or bucket counts (lists) for distributions. CUMULATIVE points
    hold running totals since `start`; DELTA points hold what happened since the previous one.
    """

    metric_type: str
    kind: int
    value_type: int
    points: list[tuple[int, Any]]
    labels: dict[str, str] = field(default_factory=dict)
    resource_type: str = "global"
    resource_labels: dict[str, str] = field(default_factory=dict)
    start: int = T0 - 3600


class Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_CLAUSE = re.compile(r'\s*([a-z_.]+)\s*(!=|=)\s*"([^"]*)"\s*')


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """`a = "x" AND b != "y"`: the subset of the filter language the adapter may use."""
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Could not parse filter {text!r}")
        clauses.append((m[1], m[2], m[3]))
    if not any(f == "metric.type" and op == "=" for f, op, _ in clauses):
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "A filter must specify a metric type.")
    return clauses


def field_of(raw: Raw, name: str) -> str | None:
    if name == "metric.type":
        return raw.metric_type
    if name == "resource.type":
        return raw.resource_type
    for prefix, labels in (
        ("metric.labels.", raw.labels),
        ("metric.label.", raw.labels),
        ("resource.labels.", raw.resource_labels),
        ("resource.label.", raw.resource_labels),
    ):
        if name.startswith(prefix):
            return labels.get(name.removeprefix(prefix), "")
    raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Unknown field {name!r}")


def matches(raw: Raw, clauses: list[tuple[str, str, str]]) -> bool:
    return all((field_of(raw, f) == v) == (op == "=") for f, op, v in clauses)


def add(a: Any, b: Any) -> Any:
    return [x + y for x, y in zip(a, b, strict=True)] if isinstance(a, list) else a + b


def sub(a: Any, b: Any) -> Any:
    return [x - y for x, y in zip(a, b, strict=True)] if isinstance(a, list) else a - b


def percentile(counts: list[int], q: float) -> float:
    """The q-quantile of explicit-bucket counts, interpolated linearly inside its bucket."""
    total = sum(counts)
    rank, seen = q * total, 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lo = BOUNDS[i - 1] if i else BOUNDS[0]
            hi = BOUNDS[i] if i < len(BOUNDS) else BOUNDS[-1]
            return lo + (hi - lo) * (rank - seen) / c
        seen += c
    return 0.0


def period_ends(start: int, end: int, period: int) -> list[int]:
    """Alignment periods end at the interval's end and step back while they end after start."""
    ends, pe = [], end
    while pe > start:
        ends.append(pe)
        pe -= period
    return ends


def align(raw: Raw, aligner: int, start: int, end: int, period: int) -> dict[int, Any]:
    """One aligned value per period end, for periods holding data of the series."""
    is_dist = raw.value_type == VType.DISTRIBUTION
    if aligner == Agg.Aligner.ALIGN_DELTA:
        if raw.kind not in (Kind.CUMULATIVE, Kind.DELTA):
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The aligner ALIGN_DELTA cannot be applied to {raw.metric_type} "
                f"({Kind.Name(raw.kind)})",
            )
    elif aligner == Agg.Aligner.ALIGN_PERCENTILE_95:
        if not is_dist or raw.kind not in (Kind.GAUGE, Kind.DELTA):
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The aligner ALIGN_PERCENTILE_95 cannot be applied to {raw.metric_type} "
                f"({Kind.Name(raw.kind)} {VType.Name(raw.value_type)})",
            )
    else:
        raise Abort(grpc.StatusCode.UNIMPLEMENTED, f"aligner {aligner} not in this fake")
    out: dict[int, Any] = {}
    for pe in period_ends(start, end, period):
        inside = [v for t, v in raw.points if pe - period < t <= pe]
        if not inside:
            continue
        if raw.kind == Kind.CUMULATIVE:
            before = [v for t, v in raw.points if t <= pe - period]
            last = inside[-1]
            value = sub(last, before[-1]) if before else last
        else:
            value = inside[0]
            for v in inside[1:]:
                value = add(value, v)
        if aligner == Agg.Aligner.ALIGN_PERCENTILE_95:
            if not sum(value):
                continue  # no samples in the period: no percentile (an assumption)
            value = percentile(value, 0.95)
        out[pe] = value
    return out


def reduce_values(reducer: int, values: list[Any], value_type: int) -> Any:
    is_dist = value_type == VType.DISTRIBUTION
    if reducer == Agg.Reducer.REDUCE_SUM:
        total = values[0]
        for v in values[1:]:
            total = add(total, v)
        return total
    if reducer == Agg.Reducer.REDUCE_MAX:
        if is_dist:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "REDUCE_MAX needs numeric values")
        return max(values)
    if reducer == Agg.Reducer.REDUCE_PERCENTILE_95:
        if is_dist:
            merged = values[0]
            for v in values[1:]:
                merged = add(merged, v)
            return percentile(merged, 0.95) if sum(merged) else None  # None: no point
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    raise Abort(grpc.StatusCode.UNIMPLEMENTED, f"reducer {reducer} not in this fake")


def typed(value: Any, value_type: int) -> dict[str, Any]:
    if isinstance(value, list):
        n = sum(value)
        return {
            "distribution_value": distribution_pb2.Distribution(
                count=n,
                bucket_options={"explicit_buckets": {"bounds": BOUNDS}},
                bucket_counts=value,
            )
        }
    if value_type == VType.INT64:
        return {"int64_value": int(value)}
    return {"double_value": float(value)}


class MetricServer:
    """ListTimeSeries for one project over raw series, on a free port of 127.0.0.1."""

    def __init__(self, project: str, series: list[Raw], page_size: int = 2) -> None:
        self.project, self.series, self.page_size = project, series, page_size
        self.requests: list[monitoring_v3.ListTimeSeriesRequest] = []
        self.faults: list[tuple[grpc.StatusCode, str]] = []  # answered first, one per call
        self.execution_errors: dict[str, str] = {}  # metric type -> a partial-result error
        self._lock = threading.Lock()
        handler = grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService",
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    self._list,
                    request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                    response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
                )
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def client(self) -> monitoring_v3.MetricServiceClient:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )

    def metric_of(self, request: monitoring_v3.ListTimeSeriesRequest) -> str:
        return next(v for f, op, v in parse_filter(request.filter) if f == "metric.type")

    def first_pages(self) -> list[monitoring_v3.ListTimeSeriesRequest]:
        return [r for r in self.requests if not r.page_token]

    def _list(
        self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.ListTimeSeriesResponse:
        with self._lock:
            self.requests.append(request)
            fault = self.faults.pop(0) if self.faults else None
        if fault:
            context.abort(*fault)
        try:
            return self._answer(request)
        except Abort as exc:
            context.abort(exc.code, exc.message)
            raise  # unreachable: abort raises

    def _answer(
        self, request: monitoring_v3.ListTimeSeriesRequest
    ) -> monitoring_v3.ListTimeSeriesResponse:
        if request.name != f"projects/{self.project}":
            raise Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "Permission monitoring.timeSeries.list denied (or the resource may not exist).",
            )
        clauses = parse_filter(request.filter)
        if "start_time" not in request.interval or "end_time" not in request.interval:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "an interval needs both ends")
        start = int(request.interval.start_time.timestamp())
        end = int(request.interval.end_time.timestamp())
        if start >= end:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "start time must precede end time")
        a = request.aggregation
        period = int(a.alignment_period.total_seconds())
        if a.per_series_aligner == Agg.Aligner.ALIGN_NONE:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, "raw points are not in this fake")
        if period < 60:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The alignment period must be at least 60 seconds.",
            )
        if a.cross_series_reducer == Agg.Reducer.REDUCE_NONE:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, "unreduced series are not in this fake")
        groups: dict[tuple[str, ...], dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
        kinds: dict[tuple[str, ...], int] = {}
        for raw in self.series:
            if not matches(raw, clauses):
                continue
            key = (raw.resource_type, *(field_of(raw, f) or "" for f in a.group_by_fields))
            aligned = align(raw, a.per_series_aligner, start, end, period)
            out_type = (
                VType.DOUBLE
                if a.per_series_aligner == Agg.Aligner.ALIGN_PERCENTILE_95
                else raw.value_type
            )
            kinds[key] = out_type
            for pe, value in aligned.items():
                groups[key][pe].append(value)
        result = []
        for key in sorted(groups):
            in_type = kinds[key]
            out_type = (
                VType.DOUBLE
                if a.cross_series_reducer == Agg.Reducer.REDUCE_PERCENTILE_95
                else in_type
            )
            points = []
            for pe, vs in sorted(groups[key].items(), reverse=True):  # newest first
                value = reduce_values(a.cross_series_reducer, vs, in_type)
                if value is not None:
                    points.append(
                        {
                            "interval": {"start_time": at(pe - period), "end_time": at(pe)},
                            "value": typed(value, out_type),
                        }
                    )
            if not points:
                continue
            labels = {
                f.split(".")[-1]: v
                for f, v in zip(a.group_by_fields, key[1:], strict=True)
                if f.startswith("metric.")
            }
            result.append(
                monitoring_v3.TimeSeries(
                    metric={"type": self.metric_of(request), "labels": labels},
                    resource={"type": key[0], "labels": {"project_id": self.project}},
                    metric_kind=Kind.DELTA,
                    value_type=out_type,
                    points=points,
                )
            )
        offset = int(request.page_token or 0)
        size = request.page_size or self.page_size
        page = result[offset : offset + size]
        more = offset + size < len(result)
        errors = []
        if self.metric_of(request) in self.execution_errors:
            errors.append({"code": 4, "message": self.execution_errors[self.metric_of(request)]})
        return monitoring_v3.ListTimeSeriesResponse(
            time_series=page,
            next_page_token=str(offset + size) if more else "",
            execution_errors=errors,
        )

    def __enter__(self) -> MetricServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)


# ---------------------------------------------------------------------------------------------
# Realistic data for five windows (0..4) and the open window 5


def executions() -> list[Raw]:
    """Cloud Functions' DELTA INT64 execution counts, by function and status, every 20 s."""
    per_window = {  # window -> {(function, status): executions per 20 s}
        0: {("api", "ok"): 100, ("api", "error"): 2, ("payments", "ok"): 20},
        1: {("api", "ok"): 110, ("payments", "ok"): 25},  # no errors at all: 0, not absent
        2: {("api", "ok"): 90, ("api", "timeout"): 5, ("payments", "crash"): 1},
        # window 3: the functions were idle; no points, so invocations are absent
        4: {("api", "ok"): 120, ("payments", "ok"): 30, ("payments", "error"): 3},
        5: {("api", "ok"): 999},  # the open window: must not be returned
    }
    series: dict[tuple[str, str], Raw] = {}
    for window, counts in per_window.items():
        for (fn, status), n in counts.items():
            raw = series.setdefault(
                (fn, status),
                Raw(
                    FUNCTION_EXECUTIONS,
                    Kind.DELTA,
                    VType.INT64,
                    [],
                    labels={"status": status, "trigger_type": "HTTP_TRIGGER"},
                    resource_type="cloud_function",
                    resource_labels={"function_name": fn, "region": "europe-west1"},
                ),
            )
            base = T0 + window * W
            raw.points += [(base + 20, n), (base + 40, n), (base + 60, n)]
    return list(series.values())


def cumulative(
    metric: str,
    per_window: dict[int, float],
    value_type: int = VType.INT64,
    resource: str = "generic_task",
    task: str = "web-1",
) -> Raw:
    """An OpenTelemetry-style CUMULATIVE counter: a running total written every 30 s."""
    total: float = 1000  # what the instance had counted before window 0
    points: list[tuple[int, Any]] = [(T0 - 30, total)]
    for window in range(6):
        n = per_window.get(window, 0)
        for half in (30, 60):
            total += n / 2
            points.append((T0 + window * W + half, total))
    return Raw(
        metric,
        Kind.CUMULATIVE,
        value_type,
        points,
        resource_type=resource,
        resource_labels={"task_id": task, "job": "avalo-web"},
    )


def buckets(fast: int, slow: int, slow_bucket: int) -> list[int]:
    """Counts per bucket (0 is below 0 ms, i is [BOUNDS[i-1], BOUNDS[i]), the last is from
    1000 ms up): `fast` requests in bucket 3, [50, 100) ms, `slow` in bucket `slow_bucket`."""
    counts = [0] * (len(BOUNDS) + 1)
    counts[3] += fast
    counts[slow_bucket] += slow
    return counts


def latency_cumulative(metric: str, per_window: dict[int, list[int]], task: str) -> Raw:
    """A CUMULATIVE distribution, the way OpenTelemetry histograms reach Cloud Monitoring."""
    total = buckets(50, 0, 0)
    points: list[tuple[int, Any]] = [(T0 - 30, total)]
    for window in range(6):
        total = add(total, per_window.get(window, [0] * (len(BOUNDS) + 1)))
        points.append((T0 + window * W + 45, total))
    return Raw(
        metric,
        Kind.CUMULATIVE,
        VType.DISTRIBUTION,
        points,
        resource_type="generic_task",
        resource_labels={"task_id": task},
    )


def dataset() -> list[Raw]:
    return [
        *executions(),
        # payment attempts from two instances on two resource types: the API cannot reduce
        # across resource types, so two series come back and the adapter must add them
        cumulative(app("payment_attempts"), {0: 40, 1: 50, 2: 60, 3: 10, 4: 3}),
        cumulative(app("payment_attempts"), {0: 40, 1: 30, 2: 20}, resource="cloud_run_revision"),
        # window 4: failures already ingested, attempts lagging behind: inconsistent
        cumulative(app("payment_failures"), {0: 1, 1: 0, 2: 30, 4: 5}),
        cumulative(app("sessions"), {0: 900, 1: 950, 2: 1000, 3: 100, 4: 800}),
        cumulative(app("crashed_sessions"), {0: 2, 1: 3, 2: 40, 3: 0, 4: 1}),
        cumulative(app("ai_tokens"), {0: 51000.6, 1: 49000.2, 2: 50000}, VType.DOUBLE),
        cumulative(app("api_requests"), {0: 3100, 1: 3000, 2: 2900, 3: 300, 4: 3000}),
        # db_ops and panic_activations: never written, so never measured
        latency_cumulative(
            app("api_latency_ms"), {0: buckets(90, 10, 5), 2: buckets(90, 10, 7)}, "web-1"
        ),  # bucket 5 is [200, 300) ms, bucket 7 [500, 1000)
        latency_cumulative(app("api_latency_ms"), {0: buckets(90, 10, 5)}, "web-2"),
        Raw(  # a DELTA distribution (e.g. written by CreateTimeSeries per window)
            app("db_latency_ms"),
            Kind.DELTA,
            VType.DISTRIBUTION,
            [(T0 + 1 * W + 60, buckets(95, 5, 4)), (T0 + 2 * W + 60, buckets(80, 20, 6))],
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.fixture
def server() -> Iterator[MetricServer]:
    with MetricServer(PROJECT, dataset()) as s:
        yield s


def source(server: MetricServer, **kwargs: Any) -> CloudMonitoringMetrics:
    return CloudMonitoringMetrics(W, client=server.client(), settle_seconds=0, **kwargs)


def by_window(batches: list[Any]) -> dict[int, Any]:
    return {(int(b.window_start.timestamp()) - T0) // W: b for b in batches}


def test_requests_ask_the_api_for_aligned_windows_of_the_env_project(
    server: MetricServer,
) -> None:
    # a bake asks from an unaligned moment to "now", in the middle of window 5
    source(server).batches(ENV, at(T0 - 25), at(T0 + 5 * W + 17))

    first = server.first_pages()
    asked = {server.metric_of(r): r for r in first}
    assert len(first) == len(asked) == 11  # one query per metric, none repeated
    assert set(asked) == {
        FUNCTION_EXECUTIONS,
        *(
            app(n)
            for n in (
                "payment_attempts",
                "payment_failures",
                "panic_activations",
                "ai_tokens",
                "sessions",
                "crashed_sessions",
                "api_requests",
                "db_ops",
                "api_latency_ms",
                "db_latency_ms",
            )
        ),
    }
    for metric, r in asked.items():
        assert r.name == f"projects/{PROJECT}"
        assert r.filter == f'metric.type = "{metric}"'
        # (start, end] on window boundaries: windows 0..4, not the open window 5
        assert r.interval.start_time == at(T0)
        assert r.interval.end_time == at(T0 + 5 * W)
        assert r.aggregation.alignment_period == timedelta(seconds=W)
        assert r.aggregation.per_series_aligner == Agg.Aligner.ALIGN_DELTA
        assert r.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL
    fn = asked[FUNCTION_EXECUTIONS].aggregation
    assert fn.cross_series_reducer == Agg.Reducer.REDUCE_SUM
    assert list(fn.group_by_fields) == ["metric.labels.status"]
    for name in ("api_latency_ms", "db_latency_ms"):
        assert asked[app(name)].aggregation.cross_series_reducer == (
            Agg.Reducer.REDUCE_PERCENTILE_95
        )
    assert asked[app("sessions")].aggregation.cross_series_reducer == Agg.Reducer.REDUCE_SUM
    assert not list(asked[app("sessions")].aggregation.group_by_fields)
    # paging: execution_count comes back as several series, two per page
    follow_ups = [r for r in server.requests if r.page_token]
    assert {server.metric_of(r) for r in follow_ups} >= {FUNCTION_EXECUTIONS}
    assert all(r.interval == asked[server.metric_of(r)].interval for r in follow_ups)


def test_time_series_become_one_batch_per_window(server: MetricServer) -> None:
    batches = source(server).batches(ENV, at(T0 - 25), at(T0 + 5 * W + 17))

    w = by_window(batches)
    assert sorted(w) == [0, 1, 2, 3, 4]
    for i, b in w.items():
        assert b.env == "production"
        assert b.window_seconds == W
        assert b.window_start == at(T0 + i * W)
        assert b.release is None
        assert b.batch_id == f"cloud-monitoring.{T0 + i * W}"

    c = {i: b.counters for i, b in w.items()}
    # execution_count: three 20 s points per window, every function and status added up
    assert (c[0].function_invocations, c[0].function_errors) == (3 * 122, 3 * 2)
    assert (c[1].function_invocations, c[1].function_errors) == (3 * 135, 0)  # measured 0
    assert (c[2].function_invocations, c[2].function_errors) == (3 * 96, 3 * 6)
    assert (c[3].function_invocations, c[3].function_errors) == (None, None)  # idle: absent
    assert (c[4].function_invocations, c[4].function_errors) == (3 * 153, 3 * 3)
    # two series (two resource types) added up
    assert [c[i].payment_attempts for i in range(4)] == [80, 80, 80, 10]
    assert [c[i].payment_failures for i in range(4)] == [1, 0, 30, 0]
    # window 4: 5 failures of 3 attempts (ingestion skew): neither is trusted
    assert (c[4].payment_attempts, c[4].payment_failures) == (None, None)
    assert [c[i].sessions for i in range(5)] == [900, 950, 1000, 100, 800]
    assert [c[i].crashed_sessions for i in range(5)] == [2, 3, 40, 0, 1]
    assert [c[i].api_requests for i in range(5)] == [3100, 3000, 2900, 300, 3000]
    # DOUBLE counters are rounded, not truncated
    assert [c[i].ai_tokens for i in range(5)] == [51001, 49000, 50000, 0, 0]
    # never written: absent in every window, never 0
    assert all(c[i].panic_activations is None and c[i].db_ops is None for i in range(5))

    lat = {i: b.latency for i, b in w.items()}
    # window 0: both instances' histograms merged (not the max of two p95s): 180 requests in
    # [50, 100) ms, 20 in [200, 300) -> the 190th of 200 is half-way into [200, 300)
    assert lat[0].api_p95_ms == pytest.approx(250.0)
    assert lat[2].api_p95_ms == pytest.approx(750.0)  # 10 of 100 in [500, 1000)
    assert lat[1].api_p95_ms is None and lat[3].api_p95_ms is None  # no requests measured
    assert lat[1].db_p95_ms == pytest.approx(100.0)  # 95 of 100 below 100 ms
    assert lat[2].db_p95_ms == pytest.approx(450.0)  # 20 of 100 in [300, 500)
    assert lat[0].db_p95_ms is None and lat[4].db_p95_ms is None


def test_windows_not_settled_yet_are_left_for_a_later_tick(server: MetricServer) -> None:
    src = CloudMonitoringMetrics(W, client=server.client(), settle_seconds=60)

    batches = src.batches(ENV, at(T0), at(T0 + 5 * W + 17))

    # window 4 ended 17 s ago, less than 60 s: not asked for yet; window 3 ended 77 s ago
    assert sorted(by_window(batches)) == [0, 1, 2, 3]
    assert {r.interval.end_time for r in server.requests} == {at(T0 + 4 * W)}
    server.requests.clear()
    assert src.batches(ENV, at(T0 + 4 * W), at(T0 + 5 * W + 17)) == []
    assert server.requests == []  # nothing complete to ask for: no call at all


def test_a_metric_kind_the_aligner_refuses_surfaces_as_one_clear_error(
    server: MetricServer,
) -> None:
    server.series.append(
        Raw(app("sessions"), Kind.GAUGE, VType.INT64, [(T0 + 30, 5)], resource_type="global")
    )

    with pytest.raises(CloudMonitoringError) as caught:
        source(server).batches(ENV, at(T0), at(T0 + 5 * W))

    message = str(caught.value)
    assert PROJECT in message and app("sessions") in message
    assert "INVALID_ARGUMENT" in message and "ALIGN_DELTA" in message
    assert "grpc" not in message.lower() and "\n" not in message


def test_permission_denied_names_the_project_and_the_missing_role(
    server: MetricServer,
) -> None:
    other = EnvConfig(name="staging", project="avalo-staging-9c1d")

    with pytest.raises(CloudMonitoringError) as caught:
        source(server).batches(other, at(T0), at(T0 + 5 * W))

    message = str(caught.value)
    assert "avalo-staging-9c1d" in message
    assert "roles/monitoring.viewer" in message
    assert "_InactiveRpcError" not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(server.requests) == 1  # refused once, not retried


def test_unavailable_is_retried_by_the_client(server: MetricServer) -> None:
    server.faults = [(grpc.StatusCode.UNAVAILABLE, "connection reset")] * 2

    batches = source(server).batches(ENV, at(T0), at(T0 + 5 * W))

    assert sorted(by_window(batches)) == [0, 1, 2, 3, 4]
    first = [server.metric_of(r) for r in server.requests[:3]]
    assert first == [FUNCTION_EXECUTIONS] * 3  # the same query, twice refused, then answered


def test_unavailable_for_longer_than_the_deadline_raises_so_the_tick_is_retried(
    server: MetricServer,
) -> None:
    server.faults = [(grpc.StatusCode.UNAVAILABLE, "backend down")] * 1000

    with pytest.raises(CloudMonitoringError) as caught:
        source(server, deadline_seconds=1.0).batches(ENV, at(T0), at(T0 + 5 * W))

    message = str(caught.value)
    assert PROJECT in message and "unavailable" in message.lower()
    assert "\n" not in message
    assert len(server.requests) >= 2  # it did retry before giving up


def test_partial_results_are_not_judged(server: MetricServer) -> None:
    server.execution_errors[app("sessions")] = "Some data could not be read in time"

    with pytest.raises(CloudMonitoringError, match="incomplete"):
        source(server).batches(ENV, at(T0), at(T0 + 5 * W))


def test_the_bake_analysis_judges_cloud_monitoring_windows(server: MetricServer) -> None:
    """The batches feed the same pure analysis: window 2's crash rate and latency breach."""
    from shared.gates.checks_file import ChecksConfig
    from shared.monitoring.analysis import analyse
    from shared.monitoring.settings import MonitoringSettings
    from shared.monitoring.windows import aggregate

    batches = source(server).batches(ENV, at(T0), at(T0 + 5 * W))
    checks = ChecksConfig.model_validate({"environments": {"production": {"monitoring": {}}}})
    s: MonitoringSettings = checks.env("production").monitoring
    report = analyse(
        env="production",
        release="2.4.0",
        bake_start=at(T0),
        now=at(T0 + 5 * W),
        windows=aggregate(batches),
        baseline_windows=[],
        s=s,
        t=ENV.thresholds.model_copy(update={"consecutive_breaches": 1}),
    )

    assert report.ran and not report.ok
    assert "crash_free_rate" in report.summary and "function_error_rate" in report.summary
    checks = {c.name: c for c in report.checks}
    assert "panic_activations not reported" in checks["panic_activations"].detail
