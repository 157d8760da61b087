"""The `ReleaseFlags` port on each environment's Firestore (`featureFlags/{flag}`): a release's
flags turned on when it is live, taken back on rollback (compare-and-set, safe to repeat)."""

from __future__ import annotations

from typing import Any

from shared.clock import Clock, utcnow
from shared.config import EnvConfig
from shared.flags.release_hooks import apply_turn_off, apply_turn_on
from shared.flags.releases import FlagChange, parse_requirements
from shared.flags.store import FirestoreFlagStore


class FirestoreReleaseFlags:
    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self._stores: dict[str, FirestoreFlagStore] = {}

    def _store(self, env: EnvConfig) -> FirestoreFlagStore:
        if env.project not in self._stores:
            from google.cloud import firestore

            self._stores[env.project] = FirestoreFlagStore(firestore.Client(project=env.project))
        return self._stores[env.project]

    def turn_on(self, release: str, env: EnvConfig, spec: str) -> list[dict[str, Any]]:
        done = apply_turn_on(self._store(env), release, parse_requirements(spec), self.clock())
        return [change.model_dump(mode="json") for change in done]

    def turn_off(
        self, release: str, env: EnvConfig, applied: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        prior = [FlagChange.model_validate(change) for change in applied]
        done = apply_turn_off(self._store(env), release, prior, self.clock())
        return [change.model_dump(mode="json") for change in done]
