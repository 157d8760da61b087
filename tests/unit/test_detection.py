"""Detection without the tick: a stored batch has its env judged at once, at most one analysis
per env at a time (a lease), debounced, and a batch that arrives mid-run is never left for
the tick."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.detection import Detector
from shared.monitoring.handler import MetricsHandler
from tests.unit.fakes import FakeClock
from tests.unit.test_monitoring_bake import Memory, batch, message


class MemoryLease:
    """The `DetectionLease` in memory, with the Firestore adapter's rules."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}

    def acquire(
        self, env: str, holder: str, now: datetime, until: datetime
    ) -> tuple[bool, datetime | None]:
        s = self.state.setdefault(env, {})
        held = s.get("holder") not in (None, holder) and s.get("until") and s["until"] > now
        if held:
            s["pending"] = True
            return False, None
        s.update(holder=holder, until=until, pending=False)
        return True, s.get("lastRun")

    def finish(self, env: str, holder: str, ran_at: datetime, until: datetime) -> bool:
        s = self.state[env]
        if s.get("holder") != holder:
            return False
        again = bool(s.get("pending"))
        s.update(
            holder=holder if again else None,
            until=until if again else None,
            pending=False,
            lastRun=ran_at,
        )
        return again

    def release(self, env: str, holder: str, ran_at: datetime | None) -> None:
        s = self.state[env]
        if s.get("holder") == holder:
            s.update(holder=None, until=None)
            if ran_at is not None:
                s["lastRun"] = ran_at


class World:
    def __init__(self, debounce: float = 1.0) -> None:
        self.clock = FakeClock()
        self.lease = MemoryLease()
        self.runs: list[tuple[str, str, datetime]] = []
        self.slept: list[float] = []
        self.during: list[Any] = []  # what happens while the next analysis runs
        self.detector = Detector(
            lease=self.lease,
            analyse=self.analyse,
            clock=self.clock,
            debounce=lambda env: debounce,
            sleep=self.sleep,
        )

    def analyse(self, env: str, run_id: str) -> None:
        self.runs.append((env, run_id, self.clock.now))
        self.clock.advance(seconds=0.2)
        if self.during:
            self.during.pop(0)()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)


def test_a_batch_is_judged_at_once_and_the_lease_let_go() -> None:
    w = World()
    assert w.detector.poke("dev", "b1") == 1
    assert w.runs == [("dev", "b1#0", w.runs[0][2])]
    assert w.lease.state["dev"]["holder"] is None


def test_a_batch_arriving_mid_run_makes_the_holder_run_again_after_the_debounce() -> None:
    w = World(debounce=1.0)
    others: list[int] = []
    w.during.append(lambda: others.append(w.detector.poke("dev", "b2")))
    assert w.detector.poke("dev", "b1") == 2
    assert others == [0]  # the second instance did not run an analysis of its own
    (_, first, t1), (_, second, t2) = w.runs
    assert (first, second) == ("b1#0", "b1#1")
    assert t2 - t1 == timedelta(seconds=1)  # debounced: one start per second at most
    assert w.slept == [pytest.approx(0.8)]


def test_one_analysis_per_env_others_are_not_held_up() -> None:
    w = World()
    w.during.append(lambda: w.detector.poke("staging", "s1"))
    w.detector.poke("dev", "b1")
    assert [(env, run) for env, run, _ in w.runs] == [("dev", "b1#0"), ("staging", "s1#0")]


def test_a_failed_analysis_lets_the_lease_go_and_raises() -> None:
    w = World()

    def broken(env: str, run_id: str) -> None:
        raise ConnectionError("firestore unavailable")

    w.detector.analyse = broken
    with pytest.raises(ConnectionError):
        w.detector.poke("dev", "b1")
    assert w.lease.state["dev"]["holder"] is None  # the redelivery takes it again


def test_a_lease_left_by_a_dead_holder_lapses() -> None:
    w = World()
    w.lease.acquire("dev", "dead", w.clock.now, w.clock.now + timedelta(seconds=60))
    assert w.detector.poke("dev", "b1") == 0
    w.clock.advance(seconds=61)
    assert w.detector.poke("dev", "b2") == 1


CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {"monitoring": {"window_seconds": 60}},
            "production": {"monitoring": {"window_seconds": 60, "source": "cloud-monitoring"}},
        }
    }
)


def test_the_metrics_handler_pokes_on_every_delivery_but_not_for_cloud_monitoring_envs(
    plane: PlaneConfig,
) -> None:
    w = World()
    mem = Memory()
    h = MetricsHandler(
        plane=plane, checks=CHECKS, sink=mem, letters=mem, clock=w.clock, detector=w.detector
    )
    body = batch(w.clock.now)
    assert h.handle(message(body, "m-1")) == "stored"
    w.clock.advance(seconds=5)
    assert h.handle(message(body, "m-2")) == "duplicate"  # not counted; judged again
    assert h.handle(message({**body, "batchId": "p-1", "env": "production"}, "m-3")) == "stored"
    assert [env for env, _, _ in w.runs] == ["staging", "staging"]
