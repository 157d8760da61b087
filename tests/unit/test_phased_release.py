"""The App Store simulator's phased release arithmetic (pure): a day per `day_s` of ACTIVE
time, 1 → 7, a pause keeps the day and counts towards the 30 days allowed, COMPLETE is final."""

from __future__ import annotations

import pytest

from shared.local import phased_release as p
from shared.mobile.model import PHASED_PERCENT, phased_fraction

DAY = 10.0  # seconds per day: the arithmetic does not care how long a day is


def _started(at: float = 0.0) -> p.Phase:
    return p.start(p.Phase(state=p.ACTIVE), at)


def test_a_day_per_day_of_active_time_from_1_to_7_then_complete() -> None:
    phase = _started()
    days = [p.day(phase, t, DAY) for t in (0, 9.9, 10, 25, 60, 69.9)]
    assert days == [1, 1, 2, 3, 7, 7]
    assert p.at(phase, 69.9, DAY).state == p.ACTIVE
    done = p.at(phase, 70, DAY)
    assert (done.state, p.day(done, 500, DAY)) == (p.COMPLETE, 7)


def test_nothing_moves_before_the_version_is_on_sale() -> None:
    waiting = p.Phase(state=p.ACTIVE)  # approved, release requested later
    assert (p.day(waiting, 1_000, DAY), p.at(waiting, 1_000, DAY).state) == (0, p.ACTIVE)
    assert p.day(p.start(waiting, 1_000), 1_015, DAY) == 2


def test_a_pause_keeps_the_day_and_resume_continues_where_it_stopped() -> None:
    phase = _started()
    paused = p.change(phase, p.PAUSED, 25, DAY)  # day 3, half way through it
    assert [p.day(paused, t, DAY) for t in (25, 100, 300)] == [3, 3, 3]
    assert p.pause_days(paused, 55, DAY) == 3
    resumed = p.change(paused, p.ACTIVE, 55, DAY)  # 30 s paused
    assert p.day(resumed, 55, DAY) == 3
    assert p.day(resumed, 60, DAY) == 4  # the other half of day 3 was left
    assert p.at(resumed, 99.9, DAY).state == p.ACTIVE
    assert p.at(resumed, 100, DAY).state == p.COMPLETE  # 70 s active, 30 s paused
    assert p.pause_days(resumed, 100, DAY) == 3


def test_pausing_twice_is_one_pause_and_pauses_add_up() -> None:
    phase = p.change(_started(), p.PAUSED, 5, DAY)
    assert p.change(phase, p.PAUSED, 8, DAY) == phase
    phase = p.change(phase, p.ACTIVE, 25, DAY)
    phase = p.change(phase, p.PAUSED, 30, DAY)
    assert p.pause_days(phase, 50, DAY) == 4  # 20 s + 20 s


def test_the_30_days_of_pauses_run_out_and_the_release_goes_on_by_itself() -> None:
    phase = p.change(_started(), p.PAUSED, 15, DAY)  # day 2
    limit = p.PAUSE_LIMIT_DAYS * DAY
    assert p.at(phase, 15 + limit - 0.1, DAY).state == p.PAUSED
    later = p.at(phase, 15 + limit, DAY)
    assert later.state == p.ACTIVE and later.paused_s == limit
    assert p.day(phase, 15 + limit + 5, DAY) == 3  # 20 s active by then
    with pytest.raises(p.PhaseRefused, match="30 days"):
        p.change(phase, p.PAUSED, 15 + limit + 1, DAY)


def test_complete_releases_to_everyone_and_is_final() -> None:
    phase = p.change(_started(), p.COMPLETE, 12, DAY)
    assert (phase.state, p.day(phase, 1_000, DAY)) == (p.COMPLETE, 2)
    assert p.change(phase, p.COMPLETE, 20, DAY) == phase
    for wanted in (p.ACTIVE, p.PAUSED):
        with pytest.raises(p.PhaseRefused, match="cannot change"):
            p.change(phase, wanted, 20, DAY)
    paused = p.change(_started(), p.PAUSED, 5, DAY)
    assert p.change(paused, p.COMPLETE, 9, DAY).state == p.COMPLETE


def test_only_a_release_under_way_can_be_paused() -> None:
    with pytest.raises(p.PhaseRefused, match="ACTIVE"):
        p.change(p.Phase(state=p.INACTIVE), p.PAUSED, 0, DAY)
    with pytest.raises(p.PhaseRefused, match="not ACTIVE, PAUSED or COMPLETE"):
        p.change(_started(), "STOPPED", 0, DAY)


def test_the_share_of_users_follows_apples_schedule() -> None:
    assert [phased_fraction("ACTIVE", d) for d in range(1, 8)] == [
        pct / 100 for pct in PHASED_PERCENT
    ]
    assert PHASED_PERCENT == (1, 2, 5, 10, 20, 50, 100)
    assert phased_fraction("PAUSED", 3) == 0.05
    assert phased_fraction("COMPLETE", 2) == 1.0
    assert phased_fraction("ACTIVE", None) is None
    assert phased_fraction("ACTIVE", 8) is None
