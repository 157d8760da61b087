"""Which step a rollout is on, what waits for a person, and a rollout's step timeline. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from shared.domain.model import Rollout, StepName, StepRecord

# The forward steps in the order a rollout runs them, and the state each one runs in.
ORDER = ("gates", "approval", "migrate", "deploy", "smoke", "bake")
# The timeline: the rollout's steps in `StepName`'s order (the steps some environments add,
# a backup before migrating, canary traffic steps and the finish build, in their place); the
# live watch, the rollback and the flags come after it.
_TIMELINE = tuple(s for s in get_args(StepName) if s not in ("watch", "rollback", "flags"))
_STEP_OF_STATE = {
    "gating": "gates",
    "awaiting_approval": "approval",
    "migrating": "migrate",
    "deploying": "deploy",
    "verifying": "smoke",
    "baking": "bake",
    "rolling_back": "rollback",
}
# What a person has to do about a rollout in this state (none: nothing waits for anyone).
WAITING = {
    "awaiting_approval": "approve or reject",
    "rollback_failed": "retry the rollback (environment state unknown)",
}


# Statuses of a step still going (a build's are Cloud Build's own).
_RUNNING = frozenset({"running", "waiting", "paused", "QUEUED", "WORKING", "PENDING"})


@dataclass(frozen=True)
class StepLine:
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None
    reason: str | None
    build_id: str | None


def step_of(rollout: Rollout) -> str | None:
    return _STEP_OF_STATE.get(rollout.state.value)


def step_label(rollout: Rollout) -> str | None:
    """`step 6/6 (bake)`, for a rollout on one of the forward steps."""
    step = step_of(rollout)
    if step in ORDER:
        return f"step {ORDER.index(step) + 1}/{len(ORDER)} ({step})"
    return None


def position(rollout: Rollout) -> str:
    """`baking, step 6/6 (bake)`: the state and the step it is on."""
    label = step_label(rollout)
    return f"{rollout.state.value}, {label}" if label else rollout.state.value


def waiting(rollout: Rollout | None) -> str | None:
    """What a person must do for this rollout to move on, if anything."""
    if rollout is None:
        return None
    bake = rollout.steps.get("bake")
    if rollout.state.value == "baking" and bake is not None and bake.status == "paused":
        return "approve to take the paused bake live, or roll it back"
    return WAITING.get(rollout.state.value)


def timeline(rollout: Rollout, now: datetime) -> list[StepLine]:
    """The steps in run order (then rollback, watch, flags), each with how long it took."""
    extra = [s for s in rollout.steps if s not in _TIMELINE]
    names = [s for s in _TIMELINE if s in rollout.steps] + sorted(extra)
    return [_line(name, rollout.steps[name], now) for name in names]


def _line(name: str, step: StepRecord, now: datetime) -> StepLine:
    end = step.finished_at or (now if step.status in _RUNNING else None)
    took = (end - step.started_at).total_seconds() if end and step.started_at else None
    return StepLine(
        name, step.status, step.started_at, step.finished_at, took, step.reason, step.build_id
    )


def duration(seconds: float | None) -> str:
    """`3m 12s`, `1h 04m`, `2d 3h`; `-` when unknown."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"
