"""How the App Store moves a phased release along on its own (pure: times passed in, in
seconds of the simulator's clock).

Apple releases a version update over seven days (1, 2, 5, 10, 20, 50, 100 % of the users with
automatic updates): `currentDayNumber` goes 1 → 7, one day per `day_s` seconds of ACTIVE time.
A pause keeps the day (the time paused does not count) and may last 30 days in total; a
COMPLETE release is out to everyone. What Apple does once the 30 days of pauses are used up is
not documented: here the release resumes by itself, and a further pause is refused. Day 7 lasts
a day like the others; then the release is COMPLETE.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DAY_S = 86_400.0  # real days, unless a simulator is started with a shorter one
DAYS = 7
PAUSE_LIMIT_DAYS = 30
INACTIVE, ACTIVE, PAUSED, COMPLETE = "INACTIVE", "ACTIVE", "PAUSED", "COMPLETE"


class PhaseRefused(Exception):
    """A change the App Store does not allow (a 409 for the simulator)."""


@dataclass(frozen=True)
class Phase:
    state: str = INACTIVE
    started: float | None = None  # when day 1 began (the version went on sale)
    paused_s: float = 0.0  # paused time before the current pause
    paused_since: float | None = None
    completed_day: int | None = None  # the day it was completed on, once COMPLETE

    def paused_total(self, now: float) -> float:
        running = now - self.paused_since if self.paused_since is not None else 0.0
        return self.paused_s + running


def at(phase: Phase, now: float, day_s: float = DAY_S) -> Phase:
    """The phase as the store holds it at `now`: its own moves (the 30 days of pauses ending,
    the seventh day ending) applied."""
    limit = PAUSE_LIMIT_DAYS * day_s
    if phase.state == PAUSED and phase.paused_total(now) >= limit:
        # the store resumed it when the limit was reached
        phase = replace(phase, state=ACTIVE, paused_s=limit, paused_since=None)
    active = now - phase.started - phase.paused_s if phase.started is not None else 0.0
    if phase.state == ACTIVE and active >= DAYS * day_s:
        return replace(phase, state=COMPLETE, completed_day=DAYS)
    return phase


def day(phase: Phase, now: float, day_s: float = DAY_S) -> int:
    """`currentDayNumber`: 0 before the release starts, then 1..7."""
    phase = at(phase, now, day_s)
    if phase.completed_day is not None:
        return phase.completed_day
    if phase.started is None:
        return 0
    active = now - phase.started - phase.paused_total(now)
    return min(DAYS, 1 + int(max(active, 0.0) // day_s))


def start(phase: Phase, now: float) -> Phase:
    """The version went on sale: day 1 begins (if the phased release is ACTIVE)."""
    if phase.state != ACTIVE or phase.started is not None:
        return phase
    return replace(phase, started=now)


def change(phase: Phase, wanted: str, now: float, day_s: float = DAY_S) -> Phase:
    """`PATCH phasedReleaseState`: ACTIVE (start or resume), PAUSED or COMPLETE."""
    phase = at(phase, now, day_s)
    if phase.state == COMPLETE:
        if wanted == COMPLETE:
            return phase
        raise PhaseRefused("a completed phased release cannot change")
    if wanted == PAUSED:
        return _pause(phase, now, day_s)
    if wanted == ACTIVE:
        if phase.state != PAUSED:
            return replace(phase, state=ACTIVE)
        paused = phase.paused_total(now)
        return replace(phase, state=ACTIVE, paused_s=paused, paused_since=None)
    if wanted == COMPLETE:
        ended = replace(phase, paused_s=phase.paused_total(now), paused_since=None)
        return replace(ended, state=COMPLETE, completed_day=day(phase, now, day_s) or None)
    raise PhaseRefused(f"phasedReleaseState {wanted!r} is not ACTIVE, PAUSED or COMPLETE")


def _pause(phase: Phase, now: float, day_s: float) -> Phase:
    if phase.state == PAUSED:
        return phase
    if phase.state != ACTIVE or phase.started is None:
        raise PhaseRefused("only a phased release under way (ACTIVE) can be paused")
    if phase.paused_s >= PAUSE_LIMIT_DAYS * day_s:
        raise PhaseRefused(f"the phased release was paused for {PAUSE_LIMIT_DAYS} days already")
    return replace(phase, state=PAUSED, paused_since=now)


def pause_days(phase: Phase, now: float, day_s: float = DAY_S) -> int:
    """`totalPauseDuration`, in whole days."""
    return int(at(phase, now, day_s).paused_total(now) // day_s)
