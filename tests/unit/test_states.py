"""The transition table of docs/ARCHITECTURE.md, "State machine", move by move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.states import (
    FAILURES,
    HOLDS_LOCK,
    IN_FLIGHT,
    RESTING,
    TRANSITIONS,
    State,
    can_move,
    check_move,
)
from shared.errors import IllegalTransition

S = State
# The happy paths and every failure path the design names, spelled out independently.
LEGAL = {
    (S.PENDING, S.GATING),
    (S.PENDING, S.CANCELLED),
    (S.GATING, S.BLOCKED),
    (S.GATING, S.AWAITING_APPROVAL),
    (S.GATING, S.MIGRATING),
    (S.GATING, S.CANCELLED),
    (S.AWAITING_APPROVAL, S.MIGRATING),
    (S.AWAITING_APPROVAL, S.REJECTED),
    (S.AWAITING_APPROVAL, S.CANCELLED),
    (S.MIGRATING, S.DEPLOYING),
    (S.MIGRATING, S.FAILED),
    (S.DEPLOYING, S.VERIFYING),
    (S.DEPLOYING, S.ROLLING_BACK),
    (S.VERIFYING, S.BAKING),
    (S.VERIFYING, S.ROLLING_BACK),
    (S.BAKING, S.LIVE),
    (S.BAKING, S.ROLLING_BACK),
    (S.LIVE, S.ROLLING_BACK),
    (S.ROLLING_BACK, S.ROLLED_BACK),
    (S.ROLLING_BACK, S.ROLLBACK_FAILED),
    (S.ROLLBACK_FAILED, S.ROLLING_BACK),
    (S.BLOCKED, S.PENDING),
    (S.REJECTED, S.PENDING),
    (S.FAILED, S.PENDING),
    (S.CANCELLED, S.PENDING),
    (S.ROLLED_BACK, S.PENDING),
}


def test_the_table_is_exactly_the_designed_moves() -> None:
    table = {(src, dst) for src, dsts in TRANSITIONS.items() for dst in dsts}
    assert table == LEGAL


@given(st.sampled_from(list(State)), st.sampled_from(list(State)))
def test_every_pair_is_either_legal_or_refused_with_both_states_named(
    src: State, dst: State
) -> None:
    if (src, dst) in LEGAL:
        check_move(src, dst, what="r")
    else:
        with pytest.raises(IllegalTransition) as err:
            check_move(src, dst, what="release 1.0.0 in staging")
        assert f"from {src} to {dst}" in err.value.reason
        assert "release 1.0.0 in staging" in err.value.reason


def test_a_new_rollout_can_only_start_pending() -> None:
    assert can_move(None, S.PENDING)
    assert not any(can_move(None, s) for s in State if s is not S.PENDING)


def test_nothing_deployed_states_cannot_roll_back() -> None:
    for s in (S.PENDING, S.GATING, S.AWAITING_APPROVAL, S.MIGRATING):
        assert not can_move(s, S.ROLLING_BACK)


def test_live_is_only_reached_through_a_bake() -> None:
    assert [s for s in State if can_move(s, S.LIVE)] == [S.BAKING]


def test_state_groups_are_consistent() -> None:
    assert FAILURES <= RESTING
    assert S.AWAITING_APPROVAL in RESTING and S.LIVE in RESTING
    assert S.BAKING not in RESTING
    assert IN_FLIGHT | {S.ROLLBACK_FAILED} == HOLDS_LOCK
