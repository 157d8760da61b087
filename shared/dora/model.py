"""DORA's five software delivery metrics (2024 definitions) from an environment's release
history. Pure: transitions in, figures out; `now` is passed.

- **deployment frequency**: rollouts that deployed something (reached `deploying`) per day;
- **change lead time**: from the change (the commit's time when the release records one, else
  the release's creation by CI) to the rollout going `live`, median;
- **change fail rate**: deployments that needed a rollback (the rollout reached
  `rolling_back`, automatically or by command) or a fix-forward (the next deployment is a fix:
  a `hotfix/` or `fix/` branch, or a patch bump X.Y.Z+1 of the same X.Y), over deployments;
- **failed deployment recovery time**: from when the failed deployment started serving (its
  `verifying`, or `deploying` if it never got further) to the rollback ending `rolled_back`, or
  the fix going `live`; a failure still open at `now` is counted apart, never as a duration;
- **deployment rework rate**: unplanned deployments (rollbacks and fix-forwards) over all
  deployments (forward ones and rollbacks).

Bands follow the 2024 report's clusters; where its clusters are not monotone (change fail rate:
high 20 %, medium 10 %) or leave a gap (recovery: nothing between one day and one week), the
band is the best one whose limit the value is within (docs/DASHBOARD.md has the table).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Band = Literal["elite", "high", "medium", "low"]
Why = Literal["rollback", "fix-forward"]
# The history moves the metrics need; the query asks for these only (firestore.indexes.json).
MOVES = ("deploying", "verifying", "live", "rolling_back", "rolled_back", "rollback_failed")

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
_FIX_BRANCH = ("hotfix/", "fix/")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Move:
    """One history entry of the environment: `release`'s rollout `attempt` moved `to` at `at`."""

    release: str
    attempt: int
    to: str
    at: datetime


@dataclass(frozen=True)
class Change:
    """What the metrics need of a release: when its change was made, and whether it is a fix."""

    version: str
    branch: str
    changed_at: datetime
    from_commit: bool = False  # changed_at is the commit's time (else the release's creation)


@dataclass
class Deployment:
    release: str
    attempt: int
    started: datetime  # entered `deploying`
    serving: datetime  # entered `verifying` (or `deploying`, if it never got further)
    live: datetime | None = None
    rollback_started: datetime | None = None
    rolled_back: datetime | None = None
    rollback_failed: bool = False
    failed: Why | None = None
    recovered: datetime | None = None
    fix: bool = False  # this deployment fixed the one before it forward

    @property
    def key(self) -> tuple[str, int]:
        return (self.release, self.attempt)


@dataclass(frozen=True)
class Figure:
    value: float | None  # None: nothing to measure in the period
    unit: str
    band: Band | None
    count: int  # how many observations the value rests on


@dataclass
class Period:
    start: datetime
    end: datetime
    deployments: int
    failed: int
    rollbacks: int
    fix_forwards: int
    open_failures: int
    leads_from_commit: int  # lead times measured from the commit (the rest: from creation)
    frequency: Figure
    lead_time: Figure
    change_fail_rate: Figure
    recovery_time: Figure
    rework_rate: Figure


@dataclass
class Report:
    env: str
    since: datetime
    now: datetime
    total: Period
    series: list[Period] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)


def deployments(moves: Iterable[Move]) -> list[Deployment]:
    """Each rollout attempt that reached `deploying`, with what became of it, by start time."""
    found: dict[tuple[str, int], Deployment] = {}
    for m in sorted(moves, key=lambda m: m.at):
        key = (m.release, m.attempt)
        d = found.get(key)
        if m.to == "deploying" and d is None:
            found[key] = Deployment(m.release, m.attempt, started=m.at, serving=m.at)
        elif d is None:
            continue  # deployed before the period: not one of its deployments
        elif m.to == "verifying":
            d.serving = m.at
        elif m.to == "live" and d.live is None:
            d.live = m.at
        elif m.to == "rolling_back" and d.rollback_started is None:
            d.rollback_started = m.at
        elif m.to == "rolled_back":
            d.rolled_back = m.at
        elif m.to == "rollback_failed":
            d.rollback_failed = True
    return sorted(found.values(), key=lambda d: d.started)


def is_fix(change: Change, before: Change | None) -> bool:
    """A fix-forward: a fix branch, or a patch bump of the release deployed before it."""
    if change.branch.startswith(_FIX_BRANCH):
        return True
    mine, theirs = _semver(change.version), _semver(before.version) if before else None
    return bool(mine and theirs and mine[:2] == theirs[:2] and mine[2] > theirs[2])


def _semver(version: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(version)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def classify(deps: Sequence[Deployment], changes: dict[str, Change]) -> None:
    """Mark each deployment failed (rollback, fix-forward) and when it was recovered."""
    for i, d in enumerate(deps):
        nxt = deps[i + 1] if i + 1 < len(deps) else None
        if d.rollback_started is not None:
            d.failed = "rollback"
            d.recovered = d.rolled_back or (nxt.live if nxt else None)
            continue
        if nxt is None or nxt.release == d.release:
            continue
        mine, theirs = changes.get(nxt.release), changes.get(d.release)
        if d.live is not None and mine is not None and is_fix(mine, theirs):
            d.failed, nxt.fix, d.recovered = "fix-forward", True, nxt.live


def _median_hours(values: list[timedelta]) -> float | None:
    return statistics.median(v.total_seconds() / 3600 for v in values) if values else None


def _band(value: float | None, limits: Sequence[tuple[float, Band]]) -> Band | None:
    if value is None:
        return None
    return next((band for limit, band in limits if value <= limit), "low")


# (inclusive upper limit, band); above the last limit: low.
Limits = tuple[tuple[float, Band], ...]
_LEAD_H: Limits = ((24.0, "elite"), (24.0 * 7, "high"), (24.0 * 30, "medium"))
_RECOVERY_H: Limits = ((1.0, "elite"), (24.0, "high"), (24.0 * 7, "medium"))
_CFR_PCT: Limits = ((5.0, "elite"), (20.0, "high"))
# deployments per day, lower limits: at least daily is on demand, weekly high, monthly medium
_FREQ: Limits = ((1.0, "elite"), (1 / 7, "high"), (1 / 30, "medium"))


def _frequency_band(per_day: float) -> Band:
    return next((band for floor, band in _FREQ if per_day >= floor), "low")


def period(
    deps: Sequence[Deployment], changes: dict[str, Change], start: datetime, end: datetime
) -> Period:
    """The five figures over the deployments that started in [start, end)."""
    mine = [d for d in deps if start <= d.started < end]
    days = max((end - start) / DAY, 1 / 24)
    per_day = len(mine) / days
    timed = [(d.live, changes[d.release]) for d in mine if d.live and d.release in changes]
    leads = [live - change.changed_at for live, change in timed]
    failed = [d for d in mine if d.failed]
    recoveries = [d.recovered - d.serving for d in failed if d.recovered is not None]
    rollbacks = sum(1 for d in mine if d.rollback_started is not None)
    fixes = sum(1 for d in mine if d.fix)
    cfr = 100 * len(failed) / len(mine) if mine else None
    rework = 100 * (rollbacks + fixes) / (len(mine) + rollbacks) if mine else None
    lead_h, rec_h = _median_hours(leads), _median_hours(recoveries)
    return Period(
        start=start,
        end=end,
        deployments=len(mine),
        failed=len(failed),
        rollbacks=rollbacks,
        fix_forwards=fixes,
        open_failures=len(failed) - len(recoveries),
        leads_from_commit=sum(1 for _, change in timed if change.from_commit),
        frequency=Figure(per_day, "per day", _frequency_band(per_day), len(mine)),
        lead_time=Figure(lead_h, "hours", _band(lead_h, _LEAD_H), len(leads)),
        change_fail_rate=Figure(cfr, "%", _band(cfr, _CFR_PCT), len(mine)),
        recovery_time=Figure(rec_h, "hours", _band(rec_h, _RECOVERY_H), len(recoveries)),
        rework_rate=Figure(rework, "%", None, len(mine) + rollbacks),  # 2024: no bands
    )


def buckets(since: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """Chart buckets: hours for up to two days, days for up to two weeks, weeks up to half a
    year, else 30 days."""
    span = now - since
    sizes = ((2 * DAY, DAY / 24), (14 * DAY, DAY), (183 * DAY, 7 * DAY))
    size = next((size for longest, size in sizes if span <= longest), 30 * DAY)
    out, at = [], since
    while at < now:
        out.append((at, min(at + size, now)))
        at += size
    return out


def report(
    env: str, moves: Iterable[Move], changes: dict[str, Change], since: datetime, now: datetime
) -> Report:
    deps = deployments(moves)
    classify(deps, changes)
    return Report(
        env=env,
        since=since,
        now=now,
        total=period(deps, changes, since, now),
        series=[period(deps, changes, a, b) for a, b in buckets(since, now)],
        deployments=deps,
    )


_SINCE = re.compile(r"^(\d{1,4})([hdw])$")
_UNIT = {"h": timedelta(hours=1), "d": DAY, "w": 7 * DAY}


def parse_since(text: str, now: datetime) -> datetime:
    """`30d`, `12w`, `48h` back from now, or an ISO date or time; ValueError names the input."""
    m = _SINCE.match(text.strip())
    if m:
        if int(m[1]) == 0:
            raise ValueError(f"--since {text!r}: the period must not be empty")
        return now - int(m[1]) * _UNIT[m[2]]
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a period like 30d, 12w, 48h or an ISO date"
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=now.tzinfo)
    if at >= now:
        raise ValueError(f"--since {text!r} is not in the past")
    return at
