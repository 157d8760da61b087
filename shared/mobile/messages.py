"""Messages the release bus handles for the trains besides the commands (follow-ups)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.mobile.model import Platform, StoreView


class StoreAnswered(BaseModel):
    """A store's answer to one train call: what it now holds (`view`) or why it refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release: str
    platform: Platform
    call_id: str
    view: StoreView | None = None
    error: str | None = None


class StoreObserved(BaseModel):
    """What a store holds now for a train's build, read on the tick (`view`), where the store
    moves on its own: an App Store phased release's day and state. `seq` is the train's
    as it was read: a train that moved since then is not overwritten by an older reading."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release: str
    platform: Platform
    seq: int
    view: StoreView


class CrashBreach(BaseModel):
    """A confirmed crash breach of a release's build: halt its trains, kill its switches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release: str
    platform: Platform
    build: int
    signal: str  # app-metrics | crashlytics | play-vitals
    reason: str
    evidence: dict[str, Any]


class TrainDue(BaseModel):
    """The tick's nudge: a release live in the testing env goes to internal testing /
    TestFlight (`promote`), or a Play production step whose bake passed moves on (`advance`).
    Its event id names the release, platform and step, so each nudge is carried out once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release: str
    platform: Platform
    verb: Literal["promote", "advance"]
