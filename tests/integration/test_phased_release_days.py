"""An App Store phased release moves on by itself: the simulator's days pass on its own clock
(here a test clock, a day per `DAY` seconds), the production adapter reads them, and the
control plane's train follows them on the mobile env's tick, as `releasectl` shows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.entrypoints import decode_tick, deliver
from shared.mobile.ports import StoreRejected
from shared.service.messagebus import MessageBus
from tests.integration.store_sims import DayClock, Stores, running_stores
from tests.integration.test_mobile_bus import bus, mobile, send
from tests.pubsub_envelope import envelope

__all__ = ["bus"]  # the bus over these stores (its fixture asks for `stores`)
DAY = 60.0


@pytest.fixture(scope="module")
def clock() -> DayClock:
    return DayClock(DAY)


@pytest.fixture(scope="module")
def stores(clock: DayClock) -> Iterator[Stores]:
    with running_stores(day_s=DAY, clock=clock) as s:
        yield s


def _released(stores: Stores, build: int) -> str:
    """Through the adapter: TestFlight, submitted, approved by review, phased release day 1."""
    asc = stores.asc()
    asc.add_to_group(build, "internal-testers")
    version = asc.submit(build, "4.2.0").ids["version"]
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": build}).raise_for_status()
    asc.release(build)
    return version


def _phase(stores: Stores, version: str) -> tuple[Any, ...]:
    view = stores.asc().phased_release(version)
    assert view is not None
    return view.status, view.day, view.fraction, view.detail["totalPauseDuration"]


def test_the_adapter_reads_the_days_apple_moves_on_pauses_and_completion(
    stores: Stores, clock: DayClock
) -> None:
    version = _released(stores, 4200)
    assert _phase(stores, version) == ("ACTIVE", 1, 0.01, 0)
    clock.days(2.5)
    assert _phase(stores, version) == ("ACTIVE", 3, 0.05, 0)
    stores.asc().set_phase(4200, "PAUSED")
    clock.days(3)
    assert _phase(stores, version) == ("PAUSED", 3, 0.05, 3)  # a pause keeps the day
    stores.asc().set_phase(4200, "ACTIVE")
    clock.days(0.5)
    assert _phase(stores, version) == ("ACTIVE", 4, 0.1, 3)  # it goes on where it stopped
    clock.days(3)
    assert _phase(stores, version) == ("ACTIVE", 7, 1.0, 3)
    clock.days(1)
    assert _phase(stores, version) == ("COMPLETE", 7, 1.0, 3)
    with pytest.raises(StoreRejected, match="completed phased release cannot change"):
        stores.asc().set_phase(4200, "PAUSED")


def _tick(bus: MessageBus, env: str) -> None:
    body = envelope(json.dumps({"env": env}).encode())
    deliver(bus, uuid.uuid4().hex, body, topic="monitoring-ticks", decode=decode_tick)


def test_the_train_follows_the_phased_release_day_by_day(
    bus: MessageBus, stores: Stores, clock: DayClock, firestore_db: Any
) -> None:
    version = f"7.{uuid.uuid4().int % 1000}.0"
    created = send(
        bus,
        type="release.create",
        version=version,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"ios": "build:4102"},
    )
    assert created.outcome == "applied", created.note
    mobile(bus, "promote", version, platform="ios", track="testflight")
    mobile(bus, "submit", version)
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": 4102}).raise_for_status()
    assert mobile(bus, "release", version).outcome == "applied"
    train = firestore_db.document(f"releases/{version}/trains/ios")

    def where() -> tuple[Any, ...]:
        doc = train.get().to_dict()
        return doc["status"], doc["day"], doc["fraction"]

    assert where() == ("ACTIVE", 1, 0.01)
    clock.days(1.5)
    _tick(bus, "staging")
    assert where() == ("ACTIVE", 2, 0.02)
    clock.days(2)
    _tick(bus, "staging")
    assert where() == ("ACTIVE", 4, 0.1)
    assert mobile(bus, "halt", version, platform="ios", reason="looking").outcome == "applied"
    clock.days(5)
    _tick(bus, "staging")
    assert where() == ("PAUSED", 4, 0.1)

    result = CliRunner().invoke(app, ["mobile", "status", version, "--json"])
    assert result.exit_code == 0, result.output
    ios = json.loads(result.output)["ios"]["builds"]["4102"]
    assert (ios["status"], ios["day"], ios["fraction"]) == ("PAUSED", 4, 0.1)
    assert ios["detail"]["totalPauseDuration"] == 5

    mobile(bus, "resume", version, platform="ios")
    clock.days(4)
    _tick(bus, "staging")
    assert where() == ("COMPLETE", 7, 1.0)
    history = firestore_db.collection(f"releases/{version}/trains/ios/history").stream()
    lines = sorted((h.to_dict() for h in history), key=lambda h: h["seq"])
    observed = [(h["status"], h["fraction"]) for h in lines if h["outcome"] == "observed"]
    assert observed == [("ACTIVE", 0.02), ("ACTIVE", 0.1), ("COMPLETE", 1.0)]
