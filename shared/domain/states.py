"""The rollout state machine (docs/ARCHITECTURE.md): states and the one table of legal moves."""

from __future__ import annotations

from enum import StrEnum

from shared.errors import IllegalTransition


class State(StrEnum):
    PENDING = "pending"
    GATING = "gating"
    BLOCKED = "blocked"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    MIGRATING = "migrating"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    BAKING = "baking"
    LIVE = "live"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = State

# from-state -> the states it may move to. Anything not listed is refused with a reason.
# A finished rollout (blocked, rejected, failed, cancelled, rolled_back) may be promoted again,
# which starts a new attempt from `pending`; `rollback_failed` may retry its rollback.
_TRANSITIONS: dict[State, frozenset[State]] = {
    S.PENDING: frozenset({S.GATING, S.CANCELLED}),
    S.GATING: frozenset({S.BLOCKED, S.AWAITING_APPROVAL, S.MIGRATING, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.MIGRATING, S.REJECTED, S.CANCELLED}),
    S.MIGRATING: frozenset({S.DEPLOYING, S.FAILED}),
    S.DEPLOYING: frozenset({S.VERIFYING, S.ROLLING_BACK}),
    S.VERIFYING: frozenset({S.BAKING, S.ROLLING_BACK}),
    S.BAKING: frozenset({S.LIVE, S.ROLLING_BACK}),
    S.LIVE: frozenset({S.ROLLING_BACK}),
    S.ROLLING_BACK: frozenset({S.ROLLED_BACK, S.ROLLBACK_FAILED}),
    S.ROLLBACK_FAILED: frozenset({S.ROLLING_BACK}),
    S.BLOCKED: frozenset({S.PENDING}),
    S.REJECTED: frozenset({S.PENDING}),
    S.FAILED: frozenset({S.PENDING}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.ROLLED_BACK: frozenset({S.PENDING}),
}
TRANSITIONS = _TRANSITIONS

# States in which the rollout holds its environment's lock (one rollout in flight per env).
IN_FLIGHT = frozenset(
    {
        S.PENDING,
        S.GATING,
        S.AWAITING_APPROVAL,
        S.MIGRATING,
        S.DEPLOYING,
        S.VERIFYING,
        S.BAKING,
        S.ROLLING_BACK,
    }
)
# States in which a rollout keeps its environment's lock. A failed rollback keeps it too: the
# environment is in an unknown state until a person retries the rollback (the lease still ends).
HOLDS_LOCK = IN_FLIGHT | {S.ROLLBACK_FAILED}
# States where a rollout waits for a person or has finished: `--wait` stops here.
RESTING = frozenset(set(State) - IN_FLIGHT) | {S.AWAITING_APPROVAL}
FAILURES = frozenset({S.BLOCKED, S.REJECTED, S.FAILED, S.ROLLED_BACK, S.ROLLBACK_FAILED})
# Something of the release may be running in the environment: a rollback has work to undo.
DEPLOYED_SOMETHING = frozenset({S.DEPLOYING, S.VERIFYING, S.BAKING, S.LIVE, S.ROLLBACK_FAILED})


def can_move(src: State | None, dst: State) -> bool:
    if src is None:
        return dst is S.PENDING
    return dst in _TRANSITIONS.get(src, frozenset())


def check_move(src: State | None, dst: State, *, what: str) -> None:
    """Raise `IllegalTransition` naming the rollout and both states unless the move is legal."""
    if not can_move(src, dst):
        allowed = ", ".join(sorted(_TRANSITIONS.get(src, frozenset()))) if src else "pending"
        raise IllegalTransition(
            f"{what}: cannot move from {src or 'nothing'} to {dst} (allowed: {allowed or 'none'})"
        )
