"""When a build's crash numbers are a confirmed breach (pure).

A window counts only with enough sessions (`min_sessions`): a quiet hour neither breaches nor
clears. The crash-free users rate is `1 - crashed_users / users` (sessions stand in when the
app does not count users). A breach is the latest `consecutive_windows` counted windows all
below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.mobile.settings import CrashRules


@dataclass(frozen=True)
class CrashWindow:
    start: datetime
    sessions: int
    crashed_sessions: int
    users: int | None = None
    crashed_users: int | None = None

    @property
    def crash_free(self) -> float:
        if self.users:
            return 1 - (self.crashed_users or 0) / self.users
        return 1 - self.crashed_sessions / self.sessions if self.sessions else 1.0

    def evidence(self) -> dict[str, Any]:
        return {
            "windowStart": self.start.isoformat(),
            "sessions": self.sessions,
            "crashedSessions": self.crashed_sessions,
            "users": self.users,
            "crashedUsers": self.crashed_users,
            "crashFreeUsers": round(self.crash_free, 5),
        }


@dataclass(frozen=True)
class Breach:
    last_window: datetime
    reason: str
    evidence: dict[str, Any]


def merge(windows: list[CrashWindow]) -> list[CrashWindow]:
    """Batches of the same window (several app instances) → one window each, in time order."""
    by_start: dict[datetime, CrashWindow] = {}
    for w in windows:
        seen = by_start.get(w.start)
        if seen is None:
            by_start[w.start] = w
            continue
        by_start[w.start] = CrashWindow(
            w.start,
            seen.sessions + w.sessions,
            seen.crashed_sessions + w.crashed_sessions,
            _add(seen.users, w.users),
            _add(seen.crashed_users, w.crashed_users),
        )
    return [by_start[k] for k in sorted(by_start)]


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def judge(windows: list[CrashWindow], rules: CrashRules, build: str) -> Breach | None:
    counted = [w for w in merge(windows) if w.sessions >= rules.min_sessions]
    latest = counted[-rules.consecutive_windows :]
    if len(latest) < rules.consecutive_windows:
        return None
    if any(w.crash_free >= rules.crash_free_users for w in latest):
        return None
    worst = min(w.crash_free for w in latest)
    reason = (
        f"crash-free users of {build} below {rules.crash_free_users:.2%} for "
        f"{len(latest)} window(s) in a row (lowest {worst:.2%})"
    )
    evidence = {
        "signal": "app-metrics",
        "threshold": rules.crash_free_users,
        "minSessions": rules.min_sessions,
        "windows": [w.evidence() for w in latest],
    }
    return Breach(latest[-1].start, reason, evidence)
