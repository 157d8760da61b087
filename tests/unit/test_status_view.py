"""`releasectl status` and `history` at 80 columns (golden), and the short form of reasons."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.firestore_views import EnvStatus, ReleaseView
from shared.cli import status_view as view
from shared.domain.model import (
    Deployed,
    EnvironmentState,
    Freeze,
    HistoryEntry,
    LastMove,
    Lock,
    Release,
    Rollout,
    StepRecord,
)
from shared.domain.states import State
from shared.views.reasons import summarise

GOLDEN = Path(__file__).parents[1] / "golden"
T0 = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
NOTE = "error rate 100.00% (must stay below 5.00%)"
# What the bake records when three windows in a row breach (shared.monitoring.analysis).
BREACH = (
    "function_error_rate: breached in 3 consecutive windows (limit 3): "
    f"{NOTE}; {NOTE}; {NOTE}; payment_failure_rate: breached in 4 consecutive windows "
    "(limit 3): payment failure rate 40.00% (must stay below 2.00%); payment failure rate "
    "50.00% (must stay below 2.00%); payment failure rate 55.00% (must stay below 2.00%)"
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rollout(release: str, env: str, state: State, **steps: StepRecord) -> Rollout:
    return Rollout(
        release=release,
        env=env,
        state=state,
        actor="alice",
        created_at=at(0),
        updated_at=at(5),
        state_since=at(5),
        steps=steps,  # type: ignore[arg-type]
    )


def step(status: str, start: float, end: float | None = None, **kw: Any) -> StepRecord:
    return StepRecord(
        status=status, started_at=at(start), finished_at=at(end) if end else None, **kw
    )


def rows() -> list[EnvStatus]:
    waiting = rollout(
        "1.1.0",
        "production",
        State.AWAITING_APPROVAL,
        gates=step("passed", 1, 2),
        approval=step("waiting", 2),
    )
    breached = rollout(
        "0.0.0-main.7867178",
        "staging",
        State.LIVE,
        watch=step(
            "breach",
            3,
            4,
            reason=BREACH,
            detail={"breachStart": at(1).isoformat(), "breachEnd": at(4).isoformat()},
        ),
    )
    return [
        EnvStatus(
            env="dev",
            project="demo-avalo-dev",
            approval_required=False,
            state=EnvironmentState(
                name="dev",
                current=Deployed(release="1.3.0", since=at(0)),
                previous=Deployed(release="1.0.0", since=at(-60)),
                last=LastMove(
                    release="1.4.0",
                    attempt=1,
                    state=State.ROLLED_BACK,
                    reason=f"while live: {BREACH}",
                    at=at(9),
                ),
                frozen=Freeze(by="carol", reason="payments incident [INC-7]", since=at(8)),
            ),
        ),
        EnvStatus(
            env="staging",
            project="demo-avalo-staging",
            approval_required=False,
            state=EnvironmentState(
                name="staging",
                current=Deployed(release="0.0.0-main.7867178", since=at(0)),
                last=LastMove(release="0.0.0-main.7867178", attempt=1, state=State.LIVE, at=at(2)),
            ),
            live=breached,
        ),
        EnvStatus(
            env="production",
            project="demo-avalo-production",
            approval_required=True,
            state=EnvironmentState(
                name="production",
                current=Deployed(release="1.0.0", since=at(0)),
                previous=Deployed(release="0.9.0", since=at(-600)),
                lock=Lock(release="1.1.0", attempt=1, acquired_at=at(1), lease_until=at(60)),
                last=LastMove(release="1.1.0", attempt=1, state=State.AWAITING_APPROVAL, at=at(2)),
            ),
            in_flight=waiting,
        ),
    ]


def release_view() -> ReleaseView:
    moves = [
        ("pending", "cloud-build-ci", None),
        ("gating", "cloud-build-ci", None),
        ("migrating", "gates", None),
        ("deploying", "cloud-build", None),
        ("verifying", "cloud-build", None),
        ("baking", "smoke", None),
        ("live", "monitoring", None),
        ("rolling_back", "monitoring", f"while live: {BREACH}"),
        ("rolled_back", "deploy-target", f"while live: {BREACH}"),
    ]
    history = [
        HistoryEntry.model_validate(
            {
                "seq": i + 1,
                "eventId": f"e{i}",
                "env": "dev",
                "attempt": 1,
                "from": moves[i - 1][0] if i else None,
                "to": to,
                "actor": actor,
                "at": at(i),
                "reason": reason,
            }
        )
        for i, (to, actor, reason) in enumerate(moves)
    ]
    return ReleaseView(
        release=Release(
            version="1.4.0",
            commit="ab" * 20,
            branch="release/1.4.0",
            author="bob",
            created_at=at(-1),
        ),
        rollouts=[
            rollout("1.4.0", "dev", State.ROLLED_BACK).model_copy(
                update={"reason": f"while live: {BREACH}"}
            )
        ],
        history=history,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_status_reads_at_80_columns() -> None:
    env_rows = rows()
    text = view.render([*view.env_table(env_rows), *view.notices(env_rows)], width=80)
    check_golden("status_80.txt", text)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.count("error rate 100.00%") <= 2  # once in the table, once in the breach line


def test_history_reads_at_80_columns() -> None:
    text = view.render(view.history_tables(release_view(), width=80), width=80)
    check_golden("history_80.txt", text)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert all(line.count(NOTE) <= 1 for line in text.splitlines())


def test_history_full_keeps_every_reason_whole() -> None:
    text = view.render(view.history_tables(release_view(), width=300, full=True), width=300)
    assert text.count(NOTE) == 3 * 3  # rollout reason + two history lines, three notes each


def test_a_breach_is_said_once_per_metric_with_its_value_limit_and_windows() -> None:
    assert summarise(BREACH) == (
        f"function_error_rate: {NOTE}, 3 windows in a row; "
        "payment_failure_rate: payment failure rate 55.00% (must stay below 2.00%), "
        "4 windows in a row"
    )
    assert summarise(f"while live: {BREACH}").startswith("while live: function_error_rate: ")


@pytest.mark.parametrize("reason", ["rejected", "smoke (dev): 3 checked, 1 failed (/pay)", ""])
def test_other_reasons_pass_through(reason: str) -> None:
    assert summarise(reason) == reason
    assert summarise(None) == ""


def test_markup_in_reasons_is_shown_not_interpreted() -> None:
    text = view.render(list(view.notices(rows())), width=120)
    assert "payments incident [INC-7]" in text
