"""The train state machine: which store call a verb asks for, and what a store answer does.

`plan` checks a verb against what the store last confirmed and returns the one call to make
(None: nothing to do, e.g. halting what is already halted); `confirm` applies the store's
answer. Both are pure; the handler stages their results in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.errors import Refused
from shared.mobile.model import (
    Action,
    StoreCall,
    StoreView,
    Train,
    TrainEntry,
    Verb,
    fraction_steps,
    store_call,
)
from shared.mobile.settings import MobileConfig

# Play release statuses (TrackRelease.status) and App Store phased release states.
IN_PROGRESS, HALTED, COMPLETED = "inProgress", "halted", "completed"
ACTIVE, PAUSED, COMPLETE = "ACTIVE", "PAUSED", "COMPLETE"
WAITING_FOR_REVIEW = "WAITING_FOR_REVIEW"
# Where an iOS call leaves the train (its `track`).
_IOS_TRACK: dict[Action, str] = {
    "testflight": "testflight",
    "submit": "review",
    "release": "appstore",
    "phase": "appstore",
}
# Verbs that put a build in front of real users: they need the env's approval first.
NEEDS_APPROVAL = frozenset({"production", "submit", "release"})


@dataclass(frozen=True)
class Ask:
    """A verb as the handler hands it over."""

    verb: Verb
    event_id: str
    now: datetime
    track: str | None = None
    approved: bool = False  # the release's rollout in the mobile env passed its approval


def plan(train: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    rules = _ANDROID if train.platform == "android" else _IOS
    rule = rules.get(ask.verb)
    if rule is None:
        raise Refused(f"{ask.verb} does not apply to {train.platform} trains")
    return rule(train, ask, cfg)


# -- Android ---------------------------------------------------------------------------------


def _android_promote(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    steps = fraction_steps(cfg)
    if not (cfg.android is not None):
        raise ValueError("[mobile] has no android app")
    order = [cfg.android.internal_track, cfg.android.closed_track, "production"]
    names = {"internal": order[0], "closed": order[1], "production": order[2]}
    if ask.track not in names:
        raise Refused(f"android track must be internal, closed or production, not {ask.track!r}")
    target = names[ask.track]
    here = order.index(t.track) if t.track in order else -1
    wanted = order.index(target)
    if here >= wanted:
        return None  # already there (or further): promoting again changes nothing
    if wanted > here + 1:
        before = order[wanted - 1]
        raise Refused(f"android build {t.build} must be on the {before} track first")
    if target == "production":
        _approved(t, ask)
        first = _fraction(target, steps[0])
        return store_call(t, "promote", "track", ask.event_id, ask.now, **first)
    return store_call(t, "promote", "track", ask.event_id, ask.now, track=target, status=COMPLETED)


def _fraction(track: str, fraction: float) -> dict[str, object]:
    if fraction >= 1.0:
        return {"track": track, "status": COMPLETED, "fraction": None}
    return {"track": track, "status": IN_PROGRESS, "fraction": fraction}


def _production(t: Train, verb: str) -> None:
    if t.track != "production":
        where = t.track or "no track yet"
        raise Refused(f"{verb}: android build {t.build} is not in production ({where})")


def _android_advance(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    steps = fraction_steps(cfg)
    _production(t, "advance")
    if t.status != IN_PROGRESS or t.step + 1 >= len(steps):
        return None
    nxt = _fraction("production", steps[t.step + 1])
    return store_call(t, "advance", "track", ask.event_id, ask.now, **nxt)


def _android_halt(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    _production(t, "halt")
    if t.status == HALTED:
        return None
    if t.status == COMPLETED:
        raise Refused(f"android build {t.build} reached every user: fix forward with a new build")
    return store_call(
        t,
        "halt",
        "track",
        ask.event_id,
        ask.now,
        track="production",
        status=HALTED,
        fraction=t.fraction,
    )


def _android_resume(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    _production(t, "resume")
    if t.status != HALTED:
        return None
    return store_call(
        t,
        "resume",
        "track",
        ask.event_id,
        ask.now,
        track="production",
        status=IN_PROGRESS,
        fraction=t.fraction,
    )


def _android_complete(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    _production(t, "complete")
    if t.status == COMPLETED:
        return None
    return store_call(
        t, "complete", "track", ask.event_id, ask.now, track="production", status=COMPLETED
    )


# -- iOS -------------------------------------------------------------------------------------


def _ios_promote(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    if ask.track != "testflight":
        raise Refused(
            "ios builds are promoted to testflight only; then mobile submit and mobile release"
        )
    if t.track is not None:
        return None
    return store_call(t, "promote", "testflight", ask.event_id, ask.now, track="testflight")


def _ios_submit(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    if t.track in ("review", "appstore"):
        return None
    if t.track != "testflight":
        raise Refused(f"submit: ios build {t.build} is not on TestFlight yet")
    _approved(t, ask)
    return store_call(t, "submit", "submit", ask.event_id, ask.now, status=WAITING_FOR_REVIEW)


def _ios_release(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
    if t.track == "appstore":
        return None
    if t.track != "review":
        raise Refused(f"release: ios build {t.build} was not submitted for review")
    _approved(t, ask)
    return store_call(t, "release", "release", ask.event_id, ask.now, status=ACTIVE)


def _appstore(t: Train, verb: str) -> None:
    if t.track != "appstore":
        raise Refused(f"{verb}: ios build {t.build} has no phased release (it is not released)")


Rule = Callable[[Train, Ask, MobileConfig], StoreCall | None]


def _phase(current: set[str | None], wanted: str) -> Rule:
    def rule(t: Train, ask: Ask, cfg: MobileConfig) -> StoreCall | None:
        _appstore(t, ask.verb)
        if t.status == wanted:
            return None
        if t.status not in current:
            raise Refused(f"{ask.verb}: the phased release of ios build {t.build} is {t.status}")
        return store_call(t, ask.verb, "phase", ask.event_id, ask.now, status=wanted)

    return rule


def _approved(t: Train, ask: Ask) -> None:
    if not ask.approved:
        raise Refused(
            f"{t.platform} build {t.build} of {t.release} needs the release's approval in the "
            "production environment first (releasectl release promote/approve)"
        )


_ANDROID: dict[str, Rule] = {
    "promote": _android_promote,
    "advance": _android_advance,
    "halt": _android_halt,
    "resume": _android_resume,
    "complete": _android_complete,
}
_IOS: dict[str, Rule] = {
    "promote": _ios_promote,
    "submit": _ios_submit,
    "release": _ios_release,
    "halt": _phase({ACTIVE}, PAUSED),
    "resume": _phase({PAUSED}, ACTIVE),
    "complete": _phase({ACTIVE, PAUSED}, COMPLETE),
}


# -- store answers ---------------------------------------------------------------------------


def confirm(
    train: Train, call_id: str, view: StoreView | None, error: str | None, now: datetime
) -> tuple[Train, StoreCall | None]:
    """The train after the store answered `call_id` (`view`, or `error` if it refused), and
    the call it answered (None: a stale answer to a call the train no longer waits for)."""
    call = train.pending
    if call is None or call.id != call_id:
        return train, None
    if error is not None or view is None:
        return train.model_copy(update={"pending": None, "reason": error, "updated_at": now}), call
    track = view.track or (_IOS_TRACK[call.action] if train.platform == "ios" else call.track)
    moved = (track, view.fraction, view.status) != (train.track, train.fraction, train.status)
    update: dict[str, object] = {
        "pending": None,
        "track": track,
        "status": view.status,
        "fraction": view.fraction,
        "day": view.day,
        "ids": {**train.ids, **view.ids},
        "reason": None,
        "updated_at": now,
        "step": _step(train, call),
        "step_since": now if moved else train.step_since,
    }
    if view.status in (HALTED, PAUSED) and train.status not in (HALTED, PAUSED):
        update["halted_at"] = now
    return train.model_copy(update=update), call


def observe(train: Train, view: StoreView, now: datetime) -> Train | None:
    """The train once the store moved on its own (an App Store phased release read on the
    tick: its day, COMPLETE after day 7, resumed after 30 days of pauses); None when nothing
    moved, or while a call of ours is out (its answer will say where the store is)."""
    if train.pending is not None or train.track != "appstore" or view.status is None:
        return None
    if (view.status, view.day) == (train.status, train.day):
        return None
    update: dict[str, object] = {
        "status": view.status,
        "day": view.day,
        "fraction": view.fraction,
        "ids": {**train.ids, **view.ids},
        "updated_at": now,
    }
    if view.status == PAUSED and train.status != PAUSED:
        update["halted_at"] = now
    return train.model_copy(update=update)


def _step(train: Train, call: StoreCall) -> int:
    if call.verb == "promote" and call.track == "production":
        return 0
    return train.step + 1 if call.verb == "advance" else train.step


def entry(
    train: Train,
    event_id: str,
    verb: str,
    actor: str,
    outcome: str,
    now: datetime,
    call: StoreCall | None = None,
    reason: str | None = None,
    evidence: dict[str, object] | None = None,
) -> TrainEntry:
    return TrainEntry.model_validate(
        {
            "seq": train.seq + 1,
            "event_id": event_id,
            "verb": verb,
            "actor": actor,
            "at": now,
            "outcome": outcome,
            "track": call.track if call else train.track,
            "status": call.status if call else train.status,
            "fraction": call.fraction if call else train.fraction,
            "reason": reason,
            "evidence": evidence or {},
        }
    )
