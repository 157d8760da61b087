"""The traffic generator's mobile part reads which builds users run from the store simulators
themselves, after the production adapters put them there, and follows the phased release's
days as the App Store simulator moves them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from shared.local.mobile_traffic import Audience, MobileTraffic
from shared.mobile.settings import MobileConfig
from shared.monitoring.batch import parse_batch
from tests.integration.store_sims import APP_ID, GROUP, PACKAGE, DayClock, Stores, running_stores

DAY = 60.0


@pytest.fixture(scope="module")
def clock() -> DayClock:
    return DayClock(DAY)


@pytest.fixture(scope="module")
def stores(clock: DayClock) -> Iterator[Stores]:
    with running_stores(day_s=DAY, clock=clock) as s:
        yield s


def test_the_generator_sends_what_the_stores_rolled_out(stores: Stores, clock: DayClock) -> None:
    play = stores.play()
    play.set_release("production", 4101, "completed", None, "3.0.0")
    play.set_release("production", 4102, "inProgress", 0.1, "3.1.0")
    asc = stores.asc()
    asc.add_to_group(4102, GROUP)
    asc.submit(4102, "3.1.0")
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": 4102}).raise_for_status()
    asc.release(4102)
    mobile = MobileConfig.model_validate(
        {
            "env": "production",
            "android": {"package_name": PACKAGE, "fractions": [0.1, 1.0]},
            "ios": {"app_id": APP_ID, "internal_group": GROUP, "issuer_id": "i", "key_id": "K1"},
        }
    )
    sent: list[bytes] = []
    urls = {"android": stores.play_sim.url, "ios": stores.asc_sim.url}
    traffic = MobileTraffic(mobile, 60, urls, sent.append)  # type: ignore[arg-type]
    assert traffic.audiences() == [
        Audience("android", 4102, "3.1.0", 0.1),
        Audience("android", 4101, "3.0.0", 0.9),
        Audience("ios", 4102, "3.1.0", 0.01),
    ]
    clock.days(2)  # day 3 of the phased release: 5 %
    assert traffic(datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)) == 3
    users = {(b.platform, b.build): b.counters.users for b in map(parse_batch, sent)}
    assert users == {("android", 4102): 2000, ("android", 4101): 18000, ("ios", 4102): 1000}
