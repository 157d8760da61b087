"""The app's metrics batches on `app-metrics` (contract, docs/MONITORING.md) and their checks.

One batch = the counters one app instance (or aggregator) saw in one window of one env.
Counters that were not measured are absent (None), never 0: a missing metric is not a pass.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shared.errors import Refused
from shared.monitoring.histogram import MAX_BUCKET

# Firestore stores 64-bit integers: a larger count could never be written (and would loop)
Count = Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)]
Millis = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Camel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Counters(_Camel):
    function_invocations: Count | None = None
    function_errors: Count | None = None
    payment_attempts: Count | None = None
    payment_failures: Count | None = None
    panic_activations: Count | None = None
    ai_tokens: Count | None = None
    sessions: Count | None = None
    crashed_sessions: Count | None = None
    api_requests: Count | None = None
    db_ops: Count | None = None
    # mobile builds (docs/MOBILE.md): users the app saw in the window, and those who crashed
    users: Count | None = None
    crashed_users: Count | None = None

    @model_validator(mode="after")
    def _parts_within_totals(self) -> Self:
        for part, total in (
            ("function_errors", "function_invocations"),
            ("payment_failures", "payment_attempts"),
            ("crashed_sessions", "sessions"),
            ("crashed_users", "users"),
        ):
            p, t = getattr(self, part), getattr(self, total)
            if p is not None and t is not None and p > t:
                raise ValueError(f"{to_camel(part)} ({p}) exceeds {to_camel(total)} ({t})")
        return self


# bucket index (shared/monitoring/histogram.py) → how many requests took that long
Histogram = dict[Annotated[int, Field(ge=0, le=MAX_BUCKET)], Count]


class Latency(_Camel):
    api_p95_ms: Millis | None = None
    db_p95_ms: Millis | None = None
    # optional: the window's latencies as a log-bucketed histogram; when every batch of a
    # window sends one, the window's p95 is read from their merge (a true p95, within 1 %)
    api_histogram: Histogram | None = Field(None, max_length=MAX_BUCKET + 1)
    db_histogram: Histogram | None = Field(None, max_length=MAX_BUCKET + 1)

    def histogram(self, name: str) -> Histogram | None:
        return self.api_histogram if name == "api" else self.db_histogram


class MetricsBatch(_Camel):
    batch_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    env: str = Field(max_length=30)
    # the release the counting instance runs, if it knows
    release: str | None = Field(None, max_length=128)
    window_start: AwareDatetime
    window_seconds: int = Field(ge=1, le=3600)
    counters: Counters = Counters()
    latency: Latency = Latency()
    # a mobile app's batch: its platform, version and build (docs/MOBILE.md, crash signals)
    platform: Literal["android", "ios"] | None = None
    app_version: str | None = Field(None, max_length=64)
    build: int | None = Field(None, ge=1, le=2_100_000_000)

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(seconds=self.window_seconds)


def _describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_batch(data: bytes) -> MetricsBatch:
    """The batch in a message body, or `Refused` naming what is wrong."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"metrics batch is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused("metrics batch must be a JSON object")
    try:
        return MetricsBatch.model_validate(raw)
    except ValidationError as exc:
        raise Refused(f"metrics batch: {_describe(exc)}") from None


def check_window(
    batch: MetricsBatch, *, window_seconds: int, now: datetime, max_skew: timedelta
) -> None:
    """The batch's window fits the env's windows and is not from the future, else `Refused`."""
    if batch.window_seconds != window_seconds:
        raise Refused(
            f"metrics batch: windowSeconds is {batch.window_seconds}, {batch.env} uses "
            f"{window_seconds}-second windows"
        )
    if int(batch.window_start.timestamp()) % window_seconds or batch.window_start.microsecond:
        raise Refused(
            f"metrics batch: windowStart {batch.window_start.isoformat()} is not on a "
            f"{window_seconds}-second boundary"
        )
    if batch.window_start > now + max_skew:
        raise Refused(
            f"metrics batch: windowStart {batch.window_start.isoformat()} is in the future "
            f"(now {now.isoformat()})"
        )
