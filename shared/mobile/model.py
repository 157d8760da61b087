"""The mobile train of one release on one platform (pure: no I/O, time passed in).

A train holds what the store confirmed (`track`, `status`, `fraction`, `day`) and, while a
store call is out, that call (`pending`). A command is checked against the confirmed state,
asks for one store call (an outbox effect), and only the store's answer moves the train: nothing
is recorded as done that the store did not confirm.

Android (Play): internal → closed → production, whose staged rollout goes through the configured
fractions; halt = the same release with status `halted`. iOS (App Store Connect): TestFlight →
review → phased release (`ACTIVE` / `PAUSED` / `COMPLETE`, days 1..7).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.model import Doc
from shared.errors import Refused
from shared.mobile.settings import MobileConfig

Platform = Literal["android", "ios"]
PLATFORMS: tuple[Platform, ...] = ("android", "ios")
# Track names a command may ask for: Play's three, or TestFlight for iOS.
Track = Literal["internal", "closed", "production", "testflight"]
# What a store call does (the outbox effect's `action`).
Action = Literal["track", "testflight", "submit", "release", "phase"]
Verb = Literal["promote", "submit", "release", "halt", "resume", "complete", "advance"]
# Build numbers: Play's versionCode and App Store's CFBundleVersion are positive integers
# (Play's upper bound is 2100000000).
MAX_BUILD = 2_100_000_000
# How each platform's build rides in a release's artifacts: `android=versionCode:4102`.
_BUILD_PREFIX: dict[Platform, str] = {"android": "versionCode:", "ios": "build:"}
KILL_SWITCHES = "flags"  # the artifact naming the release's flags (its kill switches)
# The App Store's phased release: the share of users (with automatic updates) on days 1..7.
PHASED_PERCENT = (1, 2, 5, 10, 20, 50, 100)


def phased_fraction(state: str | None, day: int | None) -> float | None:
    """The share of users a phased release reaches: by its day; all of them once COMPLETE."""
    if state == "COMPLETE":
        return 1.0
    if day is None or not 1 <= day <= len(PHASED_PERCENT):
        return None
    return PHASED_PERCENT[day - 1] / 100


def parse_build(platform: Platform, ref: str) -> int:
    """`versionCode:4102` (android) / `build:4102` (ios) → 4102; ValueError naming the problem."""
    prefix = _BUILD_PREFIX[platform]
    number = ref.removeprefix(prefix)
    if number == ref or not number.isdigit() or not 0 < int(number) <= MAX_BUILD:
        raise ValueError(
            f"artifact {platform}={ref!r}: expected {prefix}N with N in 1..{MAX_BUILD}"
        )
    return int(number)


def mobile_builds(artifacts: dict[str, str] | None) -> dict[Platform, int]:
    """The release's mobile builds, from its artifacts."""
    return {p: parse_build(p, artifacts[p]) for p in PLATFORMS if artifacts and p in artifacts}


class StoreCall(BaseModel):
    """One call to a store: what the train asked for and is waiting to see confirmed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str  # the event that asked for it: a confirmation of any other call is stale
    verb: Verb
    action: Action
    track: str | None = None  # Play track
    status: str | None = None  # Play release status / App Store phased state wanted
    fraction: float | None = None  # Play userFraction (None: all users)
    asked_at: datetime


class StoreView(BaseModel):
    """What a store says about a build (the answer to a call, and `mobile status`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    track: str | None = None
    status: str | None = None  # inProgress/halted/completed · TestFlight/WAITING_FOR_REVIEW/…
    fraction: float | None = None
    day: int | None = None  # App Store phased release day (currentDayNumber)
    ids: dict[str, str] = Field(default_factory=dict)  # store ids (version, phased release)
    detail: dict[str, Any] = Field(default_factory=dict)


class TrainEntry(Doc):
    """One line of a train's append-only audit (`releases/{id}/trains/{platform}/history`)."""

    seq: int
    event_id: str
    verb: str
    actor: str
    at: datetime
    # observed: the store moved on its own (an App Store phased release's day, its end)
    outcome: Literal["asked", "confirmed", "refused by store", "stale", "observed"]
    track: str | None = None
    status: str | None = None
    fraction: float | None = None
    reason: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class Train(Doc):
    """`releases/{id}/trains/{platform}`."""

    release: str
    platform: Platform
    build: int
    track: str | None = None  # none yet; internal/closed/production; testflight/review/appstore
    status: str | None = None
    fraction: float | None = None
    step: int = 0  # index into the configured fractions (Android production)
    step_since: datetime | None = None
    day: int | None = None
    ids: dict[str, str] = Field(default_factory=dict)
    pending: StoreCall | None = None
    actor: str = ""
    reason: str | None = None
    halted_at: datetime | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime
    seq: int = 0

    @property
    def app_track(self) -> str:
        """The store lock's key: one release in flight per app and track."""
        return f"{self.platform}:{self.track or 'none'}"


class TrackLock(Doc):
    """`mobileTracks/{platform}:{track}`: the release that holds a store track."""

    platform: Platform
    track: str
    release: str
    since: datetime


def new_train(release: str, platform: Platform, build: int, now: datetime) -> Train:
    return Train(release=release, platform=platform, build=build, updated_at=now)


def fraction_steps(cfg: MobileConfig) -> tuple[float, ...]:
    if cfg.android is None:
        raise Refused("no Android app is configured ([mobile.android])")
    return cfg.android.fractions


def store_call(
    train: Train,
    verb: Verb,
    action: Action,
    event_id: str,
    now: datetime,
    **fields: Any,
) -> StoreCall:
    if train.pending is not None:
        raise Refused(
            f"{train.platform} train of {train.release}: the store call "
            f"{train.pending.verb} ({train.pending.id}) is not confirmed yet; retry later"
        )
    return StoreCall(id=event_id, verb=verb, action=action, asked_at=now, **fields)
