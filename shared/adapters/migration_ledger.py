"""The `MigrationLedger` port: the env's own schema history says what a release applied."""

from __future__ import annotations

import logging
from typing import Any

from google.api_core.exceptions import GoogleAPICallError

from shared.config import EnvConfig, Settings
from shared.migrations import applied_for_release

log = logging.getLogger(__name__)


class SchemaHistoryLedger:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def applied(self, release: str, env: EnvConfig) -> dict[str, Any]:
        try:
            found = applied_for_release(env.name, release, settings=self.settings)
        except GoogleAPICallError as exc:
            # evidence, not a gate: the rollout goes on, and the step says what was not read
            log.warning("schema history of %s unreadable: %s", env.name, exc.message)
            return {"error": f"schema history of {env.project} unreadable: {exc.message}"}
        return {
            "versions": found.versions,
            "schemaVersion": found.schema_version,
            "snapshot": found.snapshot,
        }
