"""The store simulators started for tests, with the credentials the real adapters use."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.adapters.app_store_connect import AppStoreConnectApi
from shared.adapters.play_store import PlayDeveloperApi
from shared.local.asc_sim import AppStoreConnectSimulator
from shared.local.phased_release import DAY_S
from shared.local.play_sim import PlaySimulator
from shared.local.store_keys import (
    ASC_ISSUER,
    ASC_KEY_ID,
    PLAY_CLIENT,
    KeyPair,
    ec_pair,
    rsa_pair,
    service_account_info,
)

PACKAGE, APP_ID, GROUP = "app.avalo", "1234567890", "internal-testers"
BUILDS = [4101, 4102, 4200]


@dataclass
class Stores:
    play_sim: PlaySimulator
    asc_sim: AppStoreConnectSimulator
    rsa: KeyPair
    ec: KeyPair

    def play(self, timeout_s: float = 5.0, pair: KeyPair | None = None) -> PlayDeveloperApi:
        info = service_account_info(pair or self.rsa, f"{self.play_sim.url}token", "demo-x")
        return PlayDeveloperApi.connect(PACKAGE, info, self.play_sim.url, timeout_s)

    def asc(self, timeout_s: float = 5.0, **overrides: object) -> AppStoreConnectApi:
        fields: dict[str, object] = {
            "base_url": self.asc_sim.url,
            "app_id": APP_ID,
            "issuer_id": ASC_ISSUER,
            "key_id": ASC_KEY_ID,
            "private_key_pem": self.ec.private_pem,
            "timeout_s": timeout_s,
            **overrides,
        }
        return AppStoreConnectApi(**fields)  # type: ignore[arg-type]


class DayClock:
    """The simulators' clock in a test: it moves only when the test says, a phased-release
    day at a time (`day_s` seconds each)."""

    def __init__(self, day_s: float, now: float = 1_800_000_000.0) -> None:
        self.day_s, self.now = day_s, now

    def __call__(self) -> float:
        return self.now

    def days(self, n: float) -> None:
        self.now += n * self.day_s


@contextmanager
def running_stores(
    day_s: float = DAY_S, clock: Callable[[], float] = time.time
) -> Iterator[Stores]:
    """Both simulators; the App Store's phased release days last `day_s` on `clock`."""
    rsa, ec = rsa_pair(), ec_pair()
    play = PlaySimulator(
        client_email=PLAY_CLIENT, public_key_pem=rsa.public_pem, apps={PACKAGE: BUILDS}
    )
    asc = AppStoreConnectSimulator(
        issuer_id=ASC_ISSUER,
        key_id=ASC_KEY_ID,
        public_key_pem=ec.public_pem,
        app_id=APP_ID,
        builds=BUILDS,
        groups=[GROUP],
        day_s=day_s,
        clock=clock,
    )
    play.start()
    asc.start()
    try:
        yield Stores(play, asc, rsa, ec)
    finally:
        play.stop()
        asc.stop()
