"""The mobile trains as the dashboard shows them: each app's latest trains, a release's trains
with their history and the crash signal that halted them. Read-only: the levers are
`releasectl mobile …` (docs/MOBILE.md)."""

from __future__ import annotations

from typing import Any

from shared.adapters.firestore_views import TrainView
from shared.dashboard import charts
from shared.dashboard.ports import AppTrains
from shared.mobile.model import TrackLock, Train, TrainEntry
from shared.views import trains as words

APP_TRAINS = 10  # trains per app on the mobile page
OVERVIEW_TRAINS = 1  # per app on the overview: the one holding production, else the latest


def row(train: Train, history: list[TrainEntry] | None = None) -> dict[str, Any]:
    """One train in the words and numbers a person reads."""
    state = words.state(train)
    sig = words.signal(train, history)
    halted = state in ("halted", "paused")
    chart = None
    if sig is not None and sig.windows:
        limit = 1 - sig.threshold if sig.threshold is not None else None
        chart = charts.bars("crashed users", words.crashed_users(sig), limit, fmt="{:.2%}")
    return {
        "train": train,
        "store": words.STORE[train.platform],
        "state": state,
        "kind": words.KIND.get(state, "pending"),
        "track": words.track(train),
        "users": words.users(train),
        "waits": words.waits_for_person(train),
        "signal": sig,
        "halted_on": sig if halted else None,  # the evidence is kept after a resume
        "chart": chart,
    }


def apps(found: list[AppTrains]) -> list[dict[str, Any]]:
    return [
        {
            "app": a,
            "store": words.STORE.get(a.platform, a.platform),
            "rows": [_unless_moved_on(row(t), a.holder) for t in a.trains],
        }
        for a in found
    ]


def release_trains(
    views: list[TrainView], holders: dict[str, TrackLock] | None = None
) -> list[dict[str, Any]]:
    return [
        _unless_moved_on(
            {**row(v.train, v.history), "history": v.history},
            (holders or {}).get(v.train.platform),
        )
        for v in views
    ]


def _unless_moved_on(r: dict[str, Any], holder: TrackLock | None) -> dict[str, Any]:
    """A halted train waits for a person only while it holds the app's production track: once
    a later release took the track (fixed forward), the old one is history."""
    if holder is not None and holder.release != r["train"].release:
        return {**r, "waits": None}
    return r


def moving(found: list[dict[str, Any]]) -> bool:
    """A store call is out: the page follows it until the store answers."""
    return any(r["train"].pending is not None for r in found)
