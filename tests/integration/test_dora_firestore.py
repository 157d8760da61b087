"""DORA from the history on the Firestore emulator: the settled-day documents give the same
figures as the raw history, a day is settled once, and `releasectl metrics` prints them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from shared.adapters import firestore_views as views
from shared.dora.model import report
from tests.integration.core_stack import PROJECT

# Yesterday noon: in the past for `releasectl metrics`, which reads the real clock.
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def seed(db: Any, version: str, env: str, at: datetime, *moves: str) -> None:
    ref = db.collection("releases").document(version)
    ref.set(
        {
            "version": version,
            "commit": "ab" * 20,
            "branch": "main",
            "author": "dev",
            "createdAt": at - timedelta(hours=3),
            "historySeq": len(moves),
        }
    )
    # what every move also writes: the rollout, stamped with the move's time
    last = at + timedelta(minutes=10 * (len(moves) - 1))
    ref.collection("rollouts").document(env).set(
        {"release": version, "env": env, "state": moves[-1], "updatedAt": last}
    )
    for i, to in enumerate(moves):
        ref.collection("history").document(f"{i + 1:06d}").set(
            {
                "seq": i + 1,
                "eventId": f"{version}/{i}",
                "env": env,
                "attempt": 1,
                "from": moves[i - 1] if i else None,
                "to": to,
                "actor": "test",
                "at": at + timedelta(minutes=10 * i),
            }
        )


def history(db: Any) -> None:
    for day in range(1, 8):
        at = NOW - timedelta(days=day)
        seed(db, f"1.{day}.0", "production", at, "pending", "deploying", "verifying", "live")
    seed(db, "1.9.0", "production", NOW - timedelta(days=2, hours=5),
         "pending", "deploying", "verifying", "rolling_back", "rolled_back")  # fmt: skip
    seed(db, "1.8.0", "staging", NOW - timedelta(days=1), "pending", "deploying", "verifying")
    seed(db, "2.0.0", "production", NOW - timedelta(minutes=40), "deploying", "verifying", "live")


def test_settled_days_give_the_history_s_figures(firestore_db: Any) -> None:
    history(firestore_db)
    since = NOW - timedelta(days=10)
    raw = views.env_moves(firestore_db, "production", since)
    direct = report(
        "production", raw, views.changes(firestore_db, {m.release for m in raw}), since, NOW
    )
    cold = views.dora(firestore_db, "production", since, NOW)
    days = list(firestore_db.collection(views.DORA_DAYS).stream())
    warm = views.dora(firestore_db, "production", since, NOW)
    assert len(days) == 10  # every settled day, empty ones too
    assert cold.total == warm.total == direct.total
    assert warm.total.deployments == 9 and warm.total.rollbacks == 1
    assert warm.total.lead_time.value is not None
    assert len(list(firestore_db.collection(views.DORA_DAYS).stream())) == 10


def test_metrics_prints_the_figures_and_refuses_a_bad_period(
    firestore_db: Any, monkeypatch: Any
) -> None:
    from shared.cli import app, context

    history(firestore_db)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    context.settings.cache_clear()
    context.db.cache_clear()
    shown = CliRunner().invoke(app, ["metrics", "--env", "production", "--since", "30d"])
    assert shown.exit_code == 0, shown.output
    assert "change fail rate" in shown.output
    as_json = CliRunner().invoke(app, ["metrics", "--since", "30d", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["total"]["rollbacks"] == 1
    bad = CliRunner().invoke(app, ["metrics", "--since", "lately"])
    assert bad.exit_code == 2 and "--since 'lately'" in bad.output
    unknown = CliRunner().invoke(app, ["metrics", "--env", "qa"])
    assert unknown.exit_code == 2
