"""DORA figures from hand-made environment histories: rollbacks, fix-forwards, gaps, bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.dora.model import Change, Move, deployments, is_fix, parse_since, report

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def rollout(
    release: str, start: datetime, *, ends: str = "live", attempt: int = 1, took: float = 1
) -> list[Move]:
    """The moves of one rollout: deploying, verifying and then where it `ends`."""
    at = [start, start + 0.1 * H, start + took * H]
    moves = [Move(release, attempt, "deploying", at[0]), Move(release, attempt, "verifying", at[1])]
    if ends == "live":
        return [*moves, Move(release, attempt, "live", at[2])]
    if ends == "rolled_back":
        return [
            *moves,
            Move(release, attempt, "rolling_back", at[2]),
            Move(release, attempt, "rolled_back", at[2] + 0.2 * H),
        ]
    if ends == "live_then_rolled_back":
        return [
            *moves,
            Move(release, attempt, "live", at[2]),
            Move(release, attempt, "rolling_back", at[2] + 2 * H),
            Move(release, attempt, "rolled_back", at[2] + 2.5 * H),
        ]
    assert ends == "rollback_failed"
    return [
        *moves,
        Move(release, attempt, "rolling_back", at[2]),
        Move(release, attempt, "rollback_failed", at[2] + 0.1 * H),
    ]


def change(version: str, at: datetime, branch: str = "main") -> Change:
    return Change(version=version, branch=branch, changed_at=at)


def test_steady_daily_releases_are_elite_with_no_failures() -> None:
    moves, changes = [], {}
    for day in range(30):
        v = f"1.{day}.0"
        changes[v] = change(v, T0 + day * 24 * H - 3 * H)
        moves += rollout(v, T0 + day * 24 * H)
    r = report("production", moves, changes, T0, T0 + 30 * 24 * H)
    assert r.total.deployments == 30
    assert r.total.frequency.value == pytest.approx(1.0)
    assert r.total.frequency.band == "elite"
    assert r.total.lead_time.value == pytest.approx(4.0)  # 3 h before deploy + 1 h to live
    assert r.total.lead_time.band == "elite"
    assert r.total.change_fail_rate.value == 0 and r.total.change_fail_rate.band == "elite"
    assert r.total.recovery_time.value is None and r.total.recovery_time.band is None
    assert r.total.rework_rate.value == 0


def test_a_rollback_is_a_failed_deployment_recovered_when_the_rollback_ends() -> None:
    changes = {v: change(v, T0) for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0")}
    moves = [
        *rollout("1.0.0", T0 + 1 * H),
        *rollout("1.1.0", T0 + 5 * H, ends="rolled_back", took=0.5),
        *rollout("1.2.0", T0 + 9 * H),
        *rollout("1.3.0", T0 + 13 * H, ends="live_then_rolled_back"),
    ]
    r = report("production", moves, changes, T0, T0 + 7 * 24 * H)
    t = r.total
    assert (t.deployments, t.failed, t.rollbacks, t.fix_forwards) == (4, 2, 2, 0)
    assert t.change_fail_rate.value == pytest.approx(50.0)
    assert t.change_fail_rate.band == "low"
    # 1.1.0 served from +0.1 h, rolled back at +0.5 +0.2 h: 0.6 h; 1.3.0 served 0.1 h → 3.5 h
    assert t.recovery_time.value == pytest.approx((0.6 + 3.4) / 2)
    assert t.recovery_time.band == "high"
    # two rollbacks are unplanned deployments out of 4 forward + 2 rollbacks
    assert t.rework_rate.value == pytest.approx(100 * 2 / 6)


def test_a_patch_release_after_a_live_one_is_a_fix_forward() -> None:
    changes = {
        "2.0.0": change("2.0.0", T0),
        "2.0.1": change("2.0.1", T0 + 2 * H),
        "2.1.0": change("2.1.0", T0 + 30 * H),
    }
    moves = [
        *rollout("2.0.0", T0 + 1 * H),
        *rollout("2.0.1", T0 + 3 * H),
        *rollout("2.1.0", T0 + 31 * H),
    ]
    r = report("production", moves, changes, T0, T0 + 2 * 24 * H)
    first, fix, later = r.deployments
    assert first.failed == "fix-forward" and fix.fix and later.failed is None
    assert first.recovered == fix.live
    assert r.total.fix_forwards == 1 and r.total.failed == 1
    assert r.total.change_fail_rate.value == pytest.approx(100 / 3)
    assert r.total.rework_rate.value == pytest.approx(100 / 3)
    # from serving (T0+1.1 h) to the fix being live (T0+4 h)
    assert r.total.recovery_time.value == pytest.approx(2.9)


def test_fix_branches_count_and_a_new_minor_does_not() -> None:
    assert is_fix(change("3.1.0", T0, branch="hotfix/payments"), change("3.0.0", T0))
    assert is_fix(change("3.0.2", T0), change("3.0.1", T0))
    assert not is_fix(change("3.1.0", T0), change("3.0.0", T0))
    assert not is_fix(change("0.0.0-main.abc1234", T0), change("3.0.0", T0))


def test_a_failed_rollback_stays_open_until_the_next_release_goes_live() -> None:
    changes = {v: change(v, T0) for v in ("1.0.0", "1.1.0")}
    open_moves = rollout("1.0.0", T0 + H, ends="rollback_failed")
    r = report("production", open_moves, changes, T0, T0 + 24 * H)
    assert r.total.failed == 1 and r.total.open_failures == 1
    assert r.total.recovery_time.value is None
    healed = report(
        "production", [*open_moves, *rollout("1.1.0", T0 + 10 * H)], changes, T0, T0 + 24 * H
    )
    assert healed.total.open_failures == 0
    assert healed.deployments[0].recovered == T0 + 11 * H


def test_gaps_in_the_history_give_empty_buckets_and_a_low_frequency() -> None:
    changes = {"1.0.0": change("1.0.0", T0 - 24 * 40 * H), "1.1.0": change("1.1.0", T0)}
    moves = [*rollout("1.0.0", T0 + H), *rollout("1.1.0", T0 + 80 * 24 * H)]
    r = report("production", moves, changes, T0, T0 + 90 * 24 * H)
    assert r.total.deployments == 2
    assert r.total.frequency.band == "low"  # under once a month
    assert [p.deployments for p in r.series].count(0) == len(r.series) - 2
    assert all(p.lead_time.value is None for p in r.series if p.deployments == 0)
    # 40 days + 2 h for the first, 80 days + 1 h for the second: the median is between
    assert r.total.lead_time.value == pytest.approx((40 * 24 + 2 + 80 * 24 + 1) / 2)
    assert r.total.lead_time.band == "low"


def test_rollouts_that_never_deployed_are_not_deployments() -> None:
    moves = [Move("1.0.0", 1, "live", T0)]  # deployed before the period: no `deploying` seen
    assert deployments(moves) == []
    r = report("production", moves, {}, T0 - H, T0 + H)
    assert r.total.deployments == 0 and r.total.change_fail_rate.value is None


def test_a_second_attempt_is_another_deployment() -> None:
    changes = {"1.0.0": change("1.0.0", T0)}
    moves = [
        *rollout("1.0.0", T0 + H, ends="rolled_back"),
        *rollout("1.0.0", T0 + 5 * H, attempt=2),
    ]
    r = report("production", moves, changes, T0, T0 + 24 * H)
    assert [(d.attempt, d.failed) for d in r.deployments] == [(1, "rollback"), (2, None)]


@pytest.mark.parametrize(
    ("text", "back"),
    [("30d", timedelta(days=30)), ("12w", timedelta(weeks=12)), ("48h", timedelta(hours=48))],
)
def test_since_takes_periods(text: str, back: timedelta) -> None:
    assert parse_since(text, T0) == T0 - back


@pytest.mark.parametrize("text", ["0d", "soon", "30 days", "2030-01-01", "-3d"])
def test_since_refuses_what_is_not_a_past_period(text: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(text, T0)


def test_lead_time_starts_at_the_commit_where_the_release_records_it() -> None:
    """A release whose CI build recorded its commit time counts from the commit; one without
    counts from its creation, and the report says how many of each it rests on."""
    created = T0 + 10 * H
    changes = {
        "1.0.0": Change("1.0.0", "main", T0, from_commit=True),  # committed 10 h before CI
        "1.1.0": Change("1.1.0", "main", T0 + 2 * H, from_commit=True),
        "1.2.0": Change("1.2.0", "main", created),  # no commit time: from creation
    }
    moves = [
        *rollout("1.0.0", created),  # live 1 h after CI: 11 h after the commit
        *rollout("1.1.0", created + 2 * H),  # committed at +2 h, live at +13 h: 11 h
        *rollout("1.2.0", created + 4 * H),  # 4 h waiting + 1 h: 5 h from creation
    ]
    r = report("production", moves, changes, T0, T0 + 2 * 24 * H)
    assert r.total.lead_time.count == 3 and r.total.leads_from_commit == 2
    assert r.total.lead_time.value == pytest.approx(11.0)  # median of 11, 11, 5
    assert r.total.lead_time.band == "elite"
    only_commits = report("production", moves[:6], changes, T0, T0 + 2 * 24 * H).total
    assert (only_commits.lead_time.count, only_commits.leads_from_commit) == (2, 2)
    late = {**changes, "1.0.0": Change("1.0.0", "main", T0 - 9 * 24 * H, from_commit=True)}
    week = report("production", moves[:3], late, T0, T0 + 2 * 24 * H).total
    assert week.lead_time.band == "medium"  # a commit that waited 9 days for its release
