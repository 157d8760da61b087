"""For the app side (the sample app, the demo, benchmarks): one batch in the contract format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.monitoring.batch import MetricsBatch


def window_start(now: datetime, window_seconds: int) -> datetime:
    """The start of the window `now` falls in (windows are aligned to the Unix epoch)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


def batch_bytes(
    *,
    batch_id: str,
    env: str,
    window_seconds: int,
    now: datetime,
    counters: dict[str, int],
    latency: dict[str, Any] | None = None,  # apiP95Ms…, or a histogram (apiHistogram)
    release: str | None = None,
    windows_back: int = 0,
    app: dict[str, Any] | None = None,
) -> bytes:
    """A validated `app-metrics` message body (camelCase keys, as the topic expects)."""
    start = window_start(now, window_seconds) - timedelta(seconds=window_seconds * windows_back)
    raw: dict[str, Any] = {
        "batchId": batch_id,
        "env": env,
        "windowStart": start.isoformat(),
        "windowSeconds": window_seconds,
        "counters": counters,
        "latency": latency or {},
    }
    if release is not None:
        raw["release"] = release
    raw.update(app or {})  # a mobile app's batch: platform, appVersion, build (docs/MOBILE.md)
    batch = MetricsBatch.model_validate(raw)  # fail here, not in the dead-letter collection
    return json.dumps(batch.model_dump(by_alias=True, mode="json", exclude_none=True)).encode()
