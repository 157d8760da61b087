"""Versioned Firestore migrations of the app's database (one run per environment project).

Entry points: `shared.bootstrap.migration_engine` for the CLI and Cloud Build,
`applied_for_release` for the rollout's `migrate` step. Planning (`planning.py`) is pure;
Firestore I/O lives in `history`, `lock`, `snapshot`, `writer` and `passes`.
"""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.migrations.handler import Engine
from shared.migrations.model import AppliedVersions, RunReport

__all__ = ["DEFAULT_LEASE_S", "AppliedVersions", "Engine", "RunReport", "applied_for_release"]

DEFAULT_LEASE_S = 600


def _client(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def applied_for_release(
    env_name: str, release: str, *, settings: Settings | None = None, db: Any = None
) -> AppliedVersions:
    """The versions `release` applied to `env_name` (read from that env's schema history).

    For the rollout's `migrate` step: call it when the migrate build of `release` succeeds and
    store the result with the step.
    """
    settings = settings or Settings()
    env = settings.plane.env(env_name)
    engine = Engine(db if db is not None else _client(env.project), env, [], actor="reader")
    return engine.applied_by_release(release)
