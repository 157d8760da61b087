"""The process-wide evaluator behind `is_feature_enabled_for_user`, fed by a Firestore listener.

Install one explicitly (`install`) or let the first call start a listener on the project named
by RELEASECTL_FLAGS_PROJECT (else GOOGLE_CLOUD_PROJECT). Only that first call waits for I/O.
`evaluate_many(flag, user_ids)` answers for several users at once (same results, less overhead).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from shared.errors import ConfigError
from shared.flags.evaluation import FlagEvaluator, FlagSnapshot
from shared.flags.events import COLLECTION

FIRST_SNAPSHOT_TIMEOUT_S = 10.0
_lock = threading.Lock()
_default: FlagEvaluator | None = None
_listener: FlagListener | None = None  # the one `_evaluator` started, stopped by `install`


class FlagListener:
    """Keeps an evaluator's snapshot equal to the collection (Firestore `on_snapshot`)."""

    def __init__(self, db: Any, evaluator: FlagEvaluator) -> None:
        self.evaluator = evaluator
        self._watch = db.collection(COLLECTION).on_snapshot(self._on_snapshot)

    def _on_snapshot(self, docs: list[Any], _changes: Any, _read_time: Any) -> None:
        pairs = [(d.id, d.to_dict() or {}) for d in docs]
        self.evaluator.replace(FlagSnapshot.from_docs(pairs, self.evaluator.snapshot))

    def stop(self) -> None:
        self._watch.unsubscribe()


def listen(
    project: str, timeout: float = FIRST_SNAPSHOT_TIMEOUT_S
) -> tuple[FlagEvaluator, FlagListener]:
    """An evaluator kept fresh by a listener on `project`, after its first snapshot arrived."""
    from google.cloud import firestore

    evaluator = FlagEvaluator()
    listener = FlagListener(firestore.Client(project=project), evaluator)
    if not evaluator.wait_ready(timeout):
        listener.stop()
        raise ConfigError(f"no feature-flag snapshot from project {project!r} in {timeout:.0f}s")
    return evaluator, listener


def install(evaluator: FlagEvaluator | None) -> None:
    """Use `evaluator` from now on (None: start a listener again on the next call)."""
    global _default, _listener
    with _lock:
        if _listener is not None:
            _listener.stop()
            _listener = None
        _default = evaluator


def _evaluator() -> FlagEvaluator:
    global _default, _listener
    with _lock:
        if _default is None:
            project = os.environ.get("RELEASECTL_FLAGS_PROJECT") or os.environ.get(
                "GOOGLE_CLOUD_PROJECT"
            )
            if not project:
                raise ConfigError("set RELEASECTL_FLAGS_PROJECT to the app's Firebase project")
            _default, _listener = listen(project)
        return _default


def is_feature_enabled_for_user(flag: str, user_id: str) -> bool:
    """Is `flag` on for `user_id`? No I/O after the first snapshot; unknown flags are off
    (always-on safety flags on); a blank user id raises `InvalidUserId` (a ValueError)."""
    evaluator = _default or _evaluator()
    # FlagEvaluator.is_enabled, inlined (one call less on the hot path).
    evaluate = evaluator.snapshot.evaluators.get(flag)
    if evaluate is not None:
        return evaluate(user_id)
    return evaluator.unknown(flag, user_id)


def evaluate_many(flag: str, user_ids: Iterable[str]) -> list[bool]:
    """`is_feature_enabled_for_user(flag, u)` for each id, in order, from one snapshot; every id
    is checked before any is evaluated (`InvalidUserId` for the first bad one)."""
    evaluator = _default or _evaluator()
    return evaluator.evaluate_many(flag, user_ids)
