"""`--wait` follows a rollout: a failure exits 1, unless it is what the command asked for."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import typer

from shared.cli import sending
from shared.domain.states import State

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rollout(state: State, attempt: int = 1) -> Any:
    from shared.domain.model import Rollout

    return Rollout(
        release="9.1.0",
        env="staging",
        state=state,
        attempt=attempt,
        actor="ana",
        created_at=NOW,
        updated_at=NOW,
        state_since=NOW,
        reason="trying it",
    )


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The rollouts the follower reads, in order (the last one repeats)."""
    queue: list[Any] = []
    monkeypatch.setattr(sending.context, "db", lambda: None)
    monkeypatch.setattr(sending, "POLL_S", 0)

    def read(db: Any, release: str, env: str) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(sending.views, "read_rollout", read)
    return queue


def test_a_rollback_that_ends_rolled_back_did_what_it_was_asked(seen: list[Any]) -> None:
    seen += [rollout(State.ROLLING_BACK), rollout(State.ROLLED_BACK)]
    sending.follow("9.1.0", "staging", time.monotonic() + 5, "release.rollback")


def test_a_rollback_that_fails_exits_1(seen: list[Any]) -> None:
    seen += [rollout(State.ROLLING_BACK), rollout(State.ROLLBACK_FAILED)]
    with pytest.raises(typer.Exit) as exited:
        sending.follow("9.1.0", "staging", time.monotonic() + 5, "release.rollback")
    assert exited.value.exit_code == 1


def test_a_promotion_rolled_back_is_a_failure(seen: list[Any]) -> None:
    seen += [rollout(State.VERIFYING), rollout(State.ROLLED_BACK)]
    with pytest.raises(typer.Exit):
        sending.follow("9.1.0", "staging", time.monotonic() + 5)


def test_earlier_attempts_are_not_followed(seen: list[Any]) -> None:
    """`local push` of a blocked release waits for the new attempt, not the old verdict."""
    seen += [
        rollout(State.BLOCKED, 1),
        rollout(State.GATING, 2),
        rollout(State.AWAITING_APPROVAL, 2),
    ]
    sending.follow("9.1.0", "staging", time.monotonic() + 5, after_attempt=1)
