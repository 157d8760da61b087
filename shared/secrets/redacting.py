"""The bus's `SecretValues` adapter: an environment's current secret values, registered with
`shared.redaction` so a reason that quotes one is scrubbed before it is stored or published.

Read through the env's secret store (Secret Manager, or `.local/secrets/`) at most once per
`TTL_S` per warm instance: a rotated value is picked up within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.config import EnvConfig
from shared.secrets import handler as secrets
from shared.secrets.model import SecretsConfig
from shared.secrets.ports import SecretStore

TTL_S = 300.0


class StoreSecretValues:
    def __init__(
        self,
        config: Callable[[], SecretsConfig],
        stores: Callable[[EnvConfig], SecretStore],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.stores, self.clock = config, stores, clock
        self._read_at: dict[str, float] = {}

    def remember(self, env: EnvConfig) -> None:
        last = self._read_at.get(env.name)
        if last is not None and self.clock() - last < TTL_S:
            return
        store = self.stores(env)
        for spec in self.config().for_env(env.name):
            secrets.read_value(store, spec.name)  # registers the value for redaction
        self._read_at[env.name] = self.clock()
