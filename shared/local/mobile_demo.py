"""The demo's mobile act (`releasectl local demo`, docs/MOBILE.md): a release with an Android
and an iOS build reaches Play's internal track and TestFlight once it is live in staging, is
approved for production, goes to Play production at 10 % and to the App Store's phased release
(day 1); then the app reports its crash-free users dropping below 99 %, and the control plane
halts the Play rollout, pauses the phased release and turns the release's kill switch on with
no command. Every check reads the stores (the simulators) themselves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from shared.adapters import firestore_views as views
from shared.bootstrap import mobile_stores
from shared.cli import context
from shared.errors import ConfigError
from shared.local.driving import wait_for
from shared.local.state import StackState
from shared.local.traffic import report_crashes
from shared.mobile.model import Train

WAIT_S = 300.0
KILL_SWITCH = "videoCalls"


class MobileDemoFailed(Exception):
    pass


def _until(what: str, check: Callable[[], Any]) -> Any:
    return wait_for(what, check, MobileDemoFailed, WAIT_S)


def _train(release: str, platform: str) -> Train | None:
    return next((t for t in views.trains(context.db(), release) if t.platform == platform), None)


def _at(release: str, platform: str, track: str, status: str | None = None) -> Train:
    def reached() -> Train | None:
        t = _train(release, platform)
        if t is not None and t.reason and t.pending is None and t.track != track:
            raise MobileDemoFailed(f"{platform}: the store refused: {t.reason}")
        ok = t is not None and t.track == track and (status is None or t.status == status)
        return t if ok else None

    train: Train = _until(f"{release} {platform} on {track}", reached)
    return train


def builds_of(major: int) -> dict[str, str]:
    """A build per demo run (the simulators know 4000..4299; crash windows are per build)."""
    build = 4000 + major % 300
    return {
        "android": f"versionCode:{build}",
        "ios": f"build:{build}",
        "flags": f"{KILL_SWITCH}=10",
    }


def testing(release: str) -> str:
    android = _at(release, "android", "internal")
    ios = _at(release, "ios", "testflight")
    return f"Play internal track: versionCode {android.build}; TestFlight: build {ios.build}"


def to_production(stack: StackState, release: str, send: Callable[..., None]) -> str:
    for track in ("closed", "production"):
        send(
            type="mobile.promote",
            release=release,
            platform="android",
            track=track,
            actor="demo-dev",
        )
        _at(release, "android", track)
    send(type="mobile.submit", release=release, platform="ios", actor="demo-dev")
    ios = _at(release, "ios", "review")
    url = stack.simulators["app-store-connect"].port
    httpx.post(f"http://127.0.0.1:{url}/_sim/review", json={"build": ios.build}).raise_for_status()
    send(type="mobile.release", release=release, platform="ios", actor="demo-dev")
    android = _at(release, "android", "production", "inProgress")
    ios = _at(release, "ios", "appstore", "ACTIVE")
    return (
        f"Play production {android.fraction:.0%} (inProgress); App Store phased release "
        f"{ios.status}, day {ios.day}"
    )


def crash(release: str) -> str:
    """The app reports two windows whose crash-free users are below 99 %."""
    train = _train(release, "android")
    mobile = context.plane().mobile
    if not (train is not None and mobile is not None):
        raise ConfigError("the demo's mobile act needs [mobile] and a train")
    report_crashes(mobile.env, release, "android", train.build, [(3000, 75), (3000, 90)])
    return "crash-free users 97.5 % then 97.0 % (2 windows, 3000 users each) on app-metrics"


def halted(release: str) -> str:
    stores = mobile_stores(context.settings())

    def both() -> tuple[dict[str, Any], Any] | None:
        android = _train(release, "android")
        ios = _train(release, "ios")
        if android is None or ios is None or android.status != "halted" or ios.status != "PAUSED":
            return None
        play = stores.play().tracks()["production"][0]
        phased = stores.app_store().status(ios.build)
        return (play, phased) if play["status"] == "halted" and phased.status == "PAUSED" else None

    play, phased = _until(f"{release} halted and paused", both)
    flag = _until(f"{KILL_SWITCH} killed", _killed)
    return (
        f"from the stores: Play production {play['status']} at {play['userFraction']:.0%}, "
        f"App Store phased release {phased.status} (day {phased.day}); {flag}"
    )


def _killed() -> str | None:
    from google.cloud import firestore

    mobile = context.plane().mobile
    if not (mobile is not None):
        raise ConfigError("the demo's mobile act needs [mobile] and a train")
    project = context.plane().env(mobile.env).project
    doc = firestore.Client(project=project).collection("featureFlags").document(KILL_SWITCH).get()
    data = doc.to_dict() or {}
    return f"{KILL_SWITCH} kill switch on in {mobile.env}" if data.get("killSwitch") else None
