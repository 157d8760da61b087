"""The notifier's adapters: each environment's secret store (webhook URLs, mail credentials)
and the rollout records (for the evidence summary)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.config import EnvConfig, PlaneConfig
from shared.domain.model import Rollout
from shared.secrets import handler as secrets
from shared.secrets.ports import SecretStore

# Rotated webhook URLs are picked up within this long by a warm function instance.
SECRET_TTL_S = 300.0


class StoreSecrets:
    """`SecretSource` over each environment's secret store, with a short cache."""

    def __init__(self, plane: PlaneConfig, stores: Callable[[EnvConfig], SecretStore]) -> None:
        self.plane, self.stores = plane, stores
        self._stores: dict[str, SecretStore] = {}
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def get(self, env: str, name: str) -> str | None:
        hit = self._cache.get((env, name))
        if hit is not None and time.monotonic() - hit[0] < SECRET_TTL_S:
            return hit[1]
        if env not in self._stores:
            self._stores[env] = self.stores(self.plane.env(env))
        value = secrets.read_value(self._stores[env], name)
        self._cache[(env, name)] = (time.monotonic(), value)
        return value


class FirestoreRollouts:
    def __init__(self, db: Any) -> None:
        from shared.adapters.firestore_store import FirestoreUnitOfWork

        self.uow = FirestoreUnitOfWork(db)

    def read(self, release: str, env: str) -> Rollout | None:
        return self.uow.read_rollout(release, env)
