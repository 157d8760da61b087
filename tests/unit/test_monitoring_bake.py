"""Metrics batches in, verdicts out: validation, aggregation, and the bake driving rollbacks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import DeadLetter
from shared.domain.states import State
from shared.entrypoints import decode_tick, deliver
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.batch import MetricsBatch
from shared.monitoring.client import batch_bytes
from shared.monitoring.handler import MetricsHandler
from shared.monitoring.windows import aggregate
from shared.transport import PubSubMessage
from tests.pubsub_envelope import envelope
from tests.unit.fakes import Driver, FakeClock, make_world

SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "monitoring": {
                    "window_seconds": 60,
                    "metrics": ["function_error_rate", "payment_failure_rate"],
                }
            }
        }
    }
)


class Memory:
    """A `MetricsSource`, a batch sink and a letter box in memory."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], MetricsBatch] = {}
        self.letters: list[DeadLetter] = []

    def put(self, item: Any, received_at: datetime | None = None, *, shards: int = 1) -> bool:
        if isinstance(item, DeadLetter):
            self.letters.append(item)
            return True
        new = (item.env, item.batch_id) not in self.stored
        self.stored.setdefault((item.env, item.batch_id), item)
        return new

    def batches(self, env: EnvConfig, start: datetime, end: datetime) -> list[MetricsBatch]:
        return [
            b
            for (e, _), b in self.stored.items()
            if e == env.name and start <= b.window_start < end
        ]

    parts = batches


def batch(start: datetime, n: int = 0, **counters: int) -> dict[str, Any]:
    return {
        "batchId": f"b-{start:%H%M%S}-{n}",
        "env": "staging",
        "windowStart": start.isoformat(),
        "windowSeconds": 60,
        "counters": {
            "functionInvocations": 1000,
            "functionErrors": 10,
            "paymentAttempts": 100,
            "paymentFailures": 0,
            **counters,
        },
    }


def handler(plane: PlaneConfig, mem: Memory, clock: FakeClock) -> MetricsHandler:
    return MetricsHandler(plane=plane, checks=CHECKS, sink=mem, letters=mem, clock=clock)


def message(body: object, event_id: str = "m-1") -> PubSubMessage:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return PubSubMessage(event_id, data, {"origin": "app"})


# -- validation ----------------------------------------------------------------------------


def _with(**changes: Any) -> dict[str, Any]:
    return {**batch(FakeClock().now), **changes}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "metrics batch is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            _with(counters={"functionErrors": -3}),
            "counters.functionErrors: Input should be greater",
        ),
        (_with(counters={"functionErrors": 5, "functionInvocations": 4}), "exceeds"),
        (_with(counters={"sessions": True}), "counters.sessions: Input should be a valid integer"),
        (_with(counters={"sessions": 1.5}), "counters.sessions"),
        (_with(latency={"apiP95Ms": -1}), "latency.apiP95Ms"),
        (_with(surprise=1), "surprise: Extra inputs are not permitted"),
        (_with(windowStart="2026-11-25T12:00:00"), "windowStart: Input should have timezone"),
        (_with(windowStart="2026-11-25T12:05:00Z"), "is in the future"),
        (_with(windowStart="2026-11-25T11:59:30Z"), "not on a 60-second boundary"),
        (_with(windowSeconds=30), "staging uses 60-second windows"),
        (_with(env="qa"), "unknown environment 'qa'"),
        (_with(batchId="../x"), "batchId"),
    ],
)
def test_a_bad_batch_is_dead_lettered_with_its_reason(
    plane: PlaneConfig, body: object, reason: str
) -> None:
    mem, clock = Memory(), FakeClock()
    outcome = handler(plane, mem, clock).handle(message(body, "bad-1"))
    assert outcome == "refused"
    assert mem.stored == {}
    (letter,) = mem.letters
    assert reason in letter.reason
    assert (letter.event_id, letter.topic, letter.received_at) == (
        "bad-1",
        "app-metrics",
        clock.now,
    )
    assert letter.attributes == {"origin": "app"}


def test_a_window_within_the_clock_skew_is_accepted(plane: PlaneConfig) -> None:
    mem, clock = Memory(), FakeClock()
    body = _with(windowStart=(clock.now + timedelta(seconds=60)).isoformat())
    assert handler(plane, mem, clock).handle(message(body)) == "stored"


def test_a_redelivered_batch_is_stored_once(plane: PlaneConfig) -> None:
    mem, clock = Memory(), FakeClock()
    h = handler(plane, mem, clock)
    assert h.handle(message(batch(clock.now), "m-1")) == "stored"
    assert h.handle(message(batch(clock.now), "m-2")) == "duplicate"
    assert len(mem.stored) == 1


def test_batches_of_one_window_are_summed_and_latencies_weighted() -> None:
    start = FakeClock().now
    one = MetricsBatch.model_validate(
        {**batch(start, 1), "counters": {"apiRequests": 100}, "latency": {"apiP95Ms": 100.0}}
    )
    two = MetricsBatch.model_validate(
        {
            **batch(start, 2),
            "counters": {"apiRequests": 300, "sessions": 7},
            "latency": {"apiP95Ms": 200.0},
        }
    )
    (window,) = aggregate([one, two])
    assert window.counters == {"api_requests": 400, "sessions": 7}
    assert window.api_p95_ms == 175.0
    assert window.db_p95_ms is None
    assert window.batches == 2


# -- the bake drives the state machine -----------------------------------------------------


def metrics_world(plane: PlaneConfig, live_breach: str = "alert") -> tuple[Driver, Memory]:
    """A world whose bake analysis reads batches from memory; staging's `live_breach` set."""
    staging = plane.env("staging").model_copy(update={"live_breach": live_breach})
    plane = plane.model_copy(update={"environments": {**plane.environments, "staging": staging}})
    w = make_world(plane)
    mem = Memory()
    w.bus.ports.bake = MetricsBakeAnalysis(CHECKS, mem)
    return Driver(w), mem


@pytest.fixture
def d(plane: PlaneConfig) -> tuple[Driver, Memory]:
    return metrics_world(plane)


def go_live(d: Driver, version: str) -> None:
    d.command(type="release.create", version=version, commit=SHA, branch="main", author="alice")
    _baking(d, version)
    d.w.clock.advance(minutes=d.w.bus.plane.env("staging").bake_minutes)
    d.tick("staging")
    assert d.rollout(version, "staging").state is State.LIVE


def _baking(d: Driver, version: str) -> None:
    d.command(type="release.promote", release=version, env="staging", actor="alice")
    d.step(f"{version}/staging/1/migrate", "SUCCESS")
    d.step(f"{version}/staging/1/deploy", "SUCCESS")
    assert d.rollout(version, "staging").state is State.BAKING


def _publish(d: Driver, mem: Memory, windows: int, **counters: int) -> None:
    h = MetricsHandler(plane=d.w.bus.plane, checks=CHECKS, sink=mem, letters=mem, clock=d.w.clock)
    since = d.rollout("1.1.0", "staging").state_since
    for i in range(windows):
        body = {**batch(since + timedelta(minutes=i), **counters), "release": "1.1.0"}
        assert h.handle(message(body, f"m-{i}")) == "stored"


def test_a_breach_confirmed_over_three_windows_rolls_back_once(
    d: tuple[Driver, Memory],
) -> None:
    drv, mem = d
    go_live(drv, "1.0.0")
    drv.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="a")
    _baking(drv, "1.1.0")
    drv.w.clock.advance(minutes=3)
    _publish(drv, mem, 3, functionErrors=120)  # 12% > 5%

    drv.w.clock.advance(seconds=-30)  # the third window is still open: two complete windows
    drv.tick("staging")
    assert drv.rollout("1.1.0", "staging").state is State.BAKING

    drv.w.clock.advance(seconds=30)
    first = drv.tick("staging")
    rollout = drv.rollout("1.1.0", "staging")
    assert rollout.state is State.ROLLED_BACK
    assert rollout.reason is not None
    assert rollout.reason.startswith("function_error_rate: breached in 3 consecutive windows")
    bake = rollout.steps["bake"]
    assert bake.status == "failed"
    assert [w["function_errors"] for w in bake.detail["windows"]] == [120, 120, 120]
    assert drv.w.deploy_target.calls == [("1.0.0", "staging")]

    # the same tick delivered again, and the next tick: nothing more is restored
    deliver(
        drv.w.bus, first.event_id, envelope(b'{"env": "staging"}'), topic="t", decode=decode_tick
    )
    drv.tick("staging")
    assert drv.w.deploy_target.calls == [("1.0.0", "staging")]
    assert [h.to_state for h in drv.w.uow.store.history["1.1.0"]].count("rolling_back") == 1


def test_metrics_of_the_old_release_do_not_count_against_the_new_one(
    d: tuple[Driver, Memory],
) -> None:
    drv, mem = d
    go_live(drv, "1.0.0")
    drv.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="a")
    _baking(drv, "1.1.0")
    drv.w.clock.advance(minutes=3)
    since = drv.rollout("1.1.0", "staging").state_since
    h = MetricsHandler(
        plane=drv.w.bus.plane, checks=CHECKS, sink=mem, letters=mem, clock=drv.w.clock
    )
    for i in range(3):
        body = {**batch(since + timedelta(minutes=i), functionErrors=500), "release": "1.0.0"}
        h.handle(message(body, f"old-{i}"))
    drv.tick("staging")
    assert drv.rollout("1.1.0", "staging").state is State.BAKING


def test_no_metrics_never_roll_back_and_the_bake_records_it_was_inconclusive(
    d: tuple[Driver, Memory],
) -> None:
    drv, _ = d
    drv.command(type="release.create", version="1.1.0", commit=SHA, branch="main", author="a")
    _baking(drv, "1.1.0")
    drv.w.clock.advance(minutes=2)
    drv.tick("staging")
    assert drv.rollout("1.1.0", "staging").state is State.BAKING
    drv.w.clock.advance(minutes=drv.w.bus.plane.env("staging").bake_minutes)
    drv.tick("staging")
    rollout = drv.rollout("1.1.0", "staging")
    # The core takes an inconclusive analysis at the end of the bake to live; the step keeps
    # `ran: false` and the reason, so the record never claims the metrics passed.
    assert rollout.state is State.LIVE
    assert rollout.steps["bake"].status == "inconclusive"
    assert rollout.reason is not None and "inconclusive" in rollout.reason
    assert rollout.steps["bake"].detail["ran"] is False
    assert "inconclusive" in rollout.steps["bake"].detail["summary"]


def test_the_client_helper_builds_a_batch_the_handler_accepts(plane: PlaneConfig) -> None:
    mem, clock = Memory(), FakeClock()
    clock.advance(seconds=37)
    body = batch_bytes(
        batch_id="app-1",
        env="staging",
        window_seconds=60,
        now=clock.now,
        counters={"functionInvocations": 10, "functionErrors": 1},
        latency={"apiP95Ms": 80.0},
        release="1.1.0",
        windows_back=1,
    )
    assert handler(plane, mem, clock).handle(message(body)) == "stored"
    stored = mem.stored[("staging", "app-1")]
    assert stored.window_start == clock.now - timedelta(seconds=97)
    assert stored.counters.function_errors == 1 and stored.counters.sessions is None


def test_each_env_reads_the_metrics_source_its_settings_name(plane: PlaneConfig) -> None:
    from shared.monitoring.sources import PerEnvSource

    checks = ChecksConfig.model_validate(
        {
            "environments": {
                "staging": {"monitoring": {"window_seconds": 60}},
                "production": {"monitoring": {"window_seconds": 120, "source": "cloud-monitoring"}},
            }
        }
    )
    app, cloud = Memory(), Memory()
    built: list[int] = []

    def reader(window_seconds: int) -> Memory:
        built.append(window_seconds)
        return cloud

    source = PerEnvSource(checks, app, reader)
    at = FakeClock().now
    app.put(MetricsBatch.model_validate({**batch(at), "env": "staging"}))
    cloud.put(MetricsBatch.model_validate({**batch(at, n=1), "env": "production"}))
    later = at + timedelta(minutes=1)
    assert [b.env for b in source.parts(plane.env("staging"), at, later)] == ["staging"]  # type: ignore[union-attr]
    assert [b.env for b in source.parts(plane.env("production"), at, later)] == ["production"]  # type: ignore[union-attr]
    source.parts(plane.env("production"), at, later)
    assert built == [120]  # one Cloud Monitoring reader per window length, built once
