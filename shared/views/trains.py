"""How a mobile train reads to a person: its state in a few words, who has the build, and the
crash signal that halted it. Pure; the dashboard and `releasectl status` show the same words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.mobile.model import PHASED_PERCENT, Train, TrainEntry

STORE = {"android": "Google Play", "ios": "App Store"}
# (platform, track, store status) -> the train's state; None as status: any.
_STATES: dict[tuple[str, str | None, str | None], str] = {
    ("android", "production", "inProgress"): "in progress",
    ("android", "production", "halted"): "halted",
    ("android", "production", "completed"): "complete",
    ("ios", "appstore", "ACTIVE"): "in progress",
    ("ios", "appstore", "PAUSED"): "paused",
    ("ios", "appstore", "COMPLETE"): "complete",
}
_TRACKS = {
    "internal": "internal testing",
    "closed": "closed testing",
    "production": "production",
    "testflight": "TestFlight",
    "review": "App Review",
    "appstore": "phased release",
}
# state -> the css class the dashboard colours it with
KIND = {
    "in progress": "running",
    "halted": "breach",
    "paused": "breach",
    "complete": "live",
    "testing": "pending",
    "in review": "waiting",
    "not started": "skipped",
    "waiting for the store": "running",
}


def state(train: Train) -> str:
    """in progress, halted, paused, complete, testing, in review, not started, or waiting for
    the store (a call is out and the store has not confirmed it yet)."""
    if train.pending is not None:
        return "waiting for the store"
    found = _STATES.get((train.platform, train.track, train.status))
    if found is not None:
        return found
    if train.track is None:
        return "not started"
    return "in review" if train.track == "review" else "testing"


def track(train: Train) -> str:
    return _TRACKS.get(train.track or "", train.track or "-")


def users(train: Train) -> str:
    """Who the store offers the build to: Play's user fraction, or the phased release's day."""
    if train.platform == "ios" and train.track == "appstore":
        if train.status == "COMPLETE":
            return "all users"
        day = train.day
        if day is not None and 1 <= day <= len(PHASED_PERCENT):
            return f"day {day} of 7 ({PHASED_PERCENT[day - 1]} %)"
        return "phased release" if day is None else f"day {day}"
    if train.track == "production":
        if train.status == "completed" or train.fraction is None:
            return "all users"
        return f"{train.fraction:.0%}".replace("%", " %")
    return "testers" if train.track else "-"


def waits_for_person(train: Train) -> str | None:
    """What a halted or paused train needs from someone (the runbook in docs/MOBILE.md)."""
    if train.pending is None and state(train) in ("halted", "paused"):
        return "fix forward with a new build, or resume it (releasectl mobile resume)"
    return None


@dataclass(frozen=True)
class Signal:
    """The crash signal a train was halted on (its recorded evidence)."""

    source: str  # app-metrics, play-vitals, crashlytics
    reason: str
    windows: list[dict[str, Any]]  # crash windows, oldest first (app-metrics, vitals)
    threshold: float | None  # crash-free users the build had to stay above
    detail: dict[str, Any]  # what else the evidence says (Crashlytics' issue, counts)


def signal(train: Train, history: list[TrainEntry] | None = None) -> Signal | None:
    """The evidence the train was last halted on (it stays on the train after a resume), with
    the halt's reason from its history when there is one (a confirmed halt clears the train's
    own `reason`), else a summary of the evidence."""
    evidence = train.evidence or {}
    if not evidence:
        return None
    windows = [w for w in evidence.get("windows") or [] if isinstance(w, dict)]
    threshold = evidence.get("threshold")
    limit = float(threshold) if isinstance(threshold, int | float) else None
    said = next((e.reason for e in reversed(history or []) if e.evidence and e.reason), None)
    detail = {
        k: v
        for k, v in evidence.items()
        if k not in ("windows", "threshold", "signal", "build", "platform") and v is not None
    }
    source = str(evidence.get("signal") or "unknown")
    return Signal(
        source=source,
        reason=said or train.reason or _summary(source, windows, limit, detail),
        windows=windows,
        threshold=limit,
        detail=detail,
    )


def _summary(
    source: str, windows: list[dict[str, Any]], limit: float | None, detail: dict[str, Any]
) -> str:
    rates = [w["crashFreeUsers"] for w in windows if isinstance(w.get("crashFreeUsers"), float)]
    if rates and limit is not None:
        return (
            f"crash-free users down to {min(rates):.2%} (must stay above {limit:.2%}), "
            f"{len(rates)} window(s) in a row"
        )
    issue = detail.get("issue") if isinstance(detail.get("issue"), dict) else {}
    title = (issue or {}).get("title")
    share = detail.get("crashPercentage")
    if title or share is not None:
        return f"{source}: {title or 'crash spike'}" + (
            f" ({share:g} % of users crashed)" if isinstance(share, int | float) else ""
        )
    return f"crash signal from {source}"


def crashed_users(sig: Signal) -> list[tuple[str, float | None, str]]:
    """The halting windows as bars: the share of users who crashed (1 - crash-free), so the
    limit (1 - threshold) sits well inside the chart instead of at its very top."""
    limit = 1 - sig.threshold if sig.threshold is not None else None
    out = []
    for w in sig.windows:
        rate = w.get("crashFreeUsers")
        value = (1 - float(rate)) if isinstance(rate, int | float) else None
        over = value is not None and limit is not None and value > limit
        out.append((str(w.get("windowStart", ""))[11:16], value, "breach" if over else "ok"))
    return out
