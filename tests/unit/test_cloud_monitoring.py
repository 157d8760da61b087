"""`CloudMonitoringMetrics` edge cases with an in-memory client (the wire: integration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api import distribution_pb2
from google.cloud import monitoring_v3

from shared.config import EnvConfig
from shared.errors import ConfigError
from shared.monitoring.cloud_monitoring import (
    CloudMonitoringError,
    CloudMonitoringMetrics,
    Series,
)

ENV = EnvConfig(name="staging", project="avalo-staging-1")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SESSIONS = Series("custom.googleapis.com/avalo/sessions", "sessions")
LATENCY = Series("custom.googleapis.com/avalo/api_latency_ms", "api_p95_ms", percentile=True)


class Pager:
    def __init__(self, pages: list[monitoring_v3.ListTimeSeriesResponse]) -> None:
        self.pages = iter(pages)


class Client:
    """Answers every call with one page holding one series of `points` (end, value)."""

    def __init__(self, points: list[tuple[datetime, dict[str, Any]]]) -> None:
        self.points = points
        self.requests: list[monitoring_v3.ListTimeSeriesRequest] = []

    def list_time_series(self, *, request: Any, retry: Any, timeout: float) -> Pager:
        self.requests.append(request)
        series = monitoring_v3.TimeSeries(
            metric={"type": "x"},
            points=[
                {
                    "interval": {"start_time": end - timedelta(minutes=1), "end_time": end},
                    "value": v,
                }
                for end, v in self.points
            ],
        )
        return Pager([monitoring_v3.ListTimeSeriesResponse(time_series=[series])])


def read(client: Client, series: Series, **kwargs: Any) -> list[Any]:
    src = CloudMonitoringMetrics(60, [series], client=client, settle_seconds=0, **kwargs)
    return src.batches(ENV, T0, T0 + timedelta(minutes=3))


def test_a_minute_is_the_shortest_window() -> None:
    with pytest.raises(ConfigError, match="at least 60 seconds"):
        CloudMonitoringMetrics(5, client=Client([]))
    assert CloudMonitoringMetrics(60, client=Client([])).window == 60


@pytest.mark.parametrize(
    ("start", "end", "asked"),
    [
        (T0, T0 + timedelta(minutes=3), (T0, T0 + timedelta(minutes=3))),
        (
            T0 + timedelta(seconds=1),
            T0 + timedelta(minutes=3, seconds=59),
            (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)),
        ),
        (
            T0 - timedelta(microseconds=1),
            T0 + timedelta(minutes=1),
            (T0, T0 + timedelta(minutes=1)),
        ),
    ],
)
def test_the_interval_asked_for_is_whole_windows_inside_start_end(
    start: datetime, end: datetime, asked: tuple[datetime, datetime]
) -> None:
    client = Client([])
    CloudMonitoringMetrics(60, [SESSIONS], client=client, settle_seconds=0).batches(ENV, start, end)
    (r,) = client.requests
    assert (r.interval.start_time, r.interval.end_time) == asked


def test_no_complete_window_no_call() -> None:
    client = Client([])
    src = CloudMonitoringMetrics(60, [SESSIONS], client=client, settle_seconds=0)
    assert src.batches(ENV, T0 + timedelta(seconds=5), T0 + timedelta(seconds=65)) == []
    assert client.requests == []


def test_values_that_are_no_measurement_are_left_out() -> None:
    client = Client(
        [
            (T0 + timedelta(minutes=1), {"double_value": float("nan")}),
            (T0 + timedelta(minutes=2), {"double_value": -3.0}),
            (T0 + timedelta(minutes=3), {"double_value": 180.5}),
        ]
    )
    batches = read(client, LATENCY)
    assert [b.latency.api_p95_ms for b in batches] == [None, None, 180.5]


def test_a_zero_count_is_measured_not_absent() -> None:
    batches = read(Client([(T0 + timedelta(minutes=2), {"int64_value": 0})]), SESSIONS)
    assert [(b.window_start, b.counters.sessions) for b in batches] == [
        (T0 + timedelta(minutes=1), 0)
    ]


def test_a_distribution_where_a_number_belongs_is_one_clear_error() -> None:
    value = {"distribution_value": distribution_pb2.Distribution(count=3)}
    with pytest.raises(CloudMonitoringError, match="returned distribution_value values"):
        read(Client([(T0 + timedelta(minutes=1), value)]), SESSIONS)


def test_a_point_off_the_window_boundaries_is_an_error_not_a_shifted_window() -> None:
    client = Client([(T0 + timedelta(minutes=1, seconds=17), {"int64_value": 4})])
    with pytest.raises(CloudMonitoringError, match="not on a 60-second boundary"):
        read(client, SESSIONS)
