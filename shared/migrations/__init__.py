"""Versioned Firestore migrations of the app's database (one run per environment project).

Entry points: `open_engine` for the CLI and Cloud Build, `applied_for_release` for the
rollout's `migrate` step. Planning (`planning.py`) is pure; Firestore I/O lives in `history`,
`lock`, `snapshot`, `writer` and `passes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.migrations.engine import Engine
from shared.migrations.files import DEFAULT_DIR, load
from shared.migrations.model import AppliedVersions, RunReport
from shared.migrations.progress import NoProgress, ProgressSink
from shared.migrations.snapshot import default_port

__all__ = ["AppliedVersions", "Engine", "RunReport", "applied_for_release", "open_engine"]

DEFAULT_LEASE_S = 600


def _client(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def open_engine(
    env_name: str,
    *,
    actor: str,
    release: str | None = None,
    directory: Path = DEFAULT_DIR,
    settings: Settings | None = None,
    chunk_size: int = 500,
    progress: Callable[[], ProgressSink] = NoProgress,
) -> Engine:
    """An engine on env `env_name`'s project; unknown env or bad files raise before any I/O."""
    settings = settings or Settings()
    env = settings.plane.env(env_name)
    migrations = load(directory)
    lease_s = int(os.environ.get("RELEASECTL_MIGRATE_LEASE_S", DEFAULT_LEASE_S))
    return Engine(
        _client(env.project),
        env,
        migrations,
        actor=actor,
        release=release,
        snapshots=default_port(settings.firestore_emulator_host, env.project),
        local=settings.local,
        lease=timedelta(seconds=lease_s),
        chunk_size=chunk_size,
        progress=progress,
    )


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
