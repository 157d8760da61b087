"""What the flag handlers need from outside: the env project's flags and a notice channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from shared.flags.audit import AuditEntry
from shared.flags.guard import FlagRevert
from shared.flags.model import Flag
from shared.flags.versions import Fetched, Version

Change = Callable[[Flag | None], Flag]


class FlagStore(Protocol):
    """One environment's `featureFlags` collection."""

    def all_docs(self) -> dict[str, dict[str, Any]]: ...
    def get_doc(self, flag: str) -> dict[str, Any] | None: ...
    def audit_entry(self, flag: str, audit_id: str) -> AuditEntry | None: ...
    def audit_log(self, flag: str, limit: int) -> list[AuditEntry]: ...

    def record(self, entry: AuditEntry, restore: FlagRevert | None) -> AuditEntry:
        """Atomically: write `entry` (once per id) and carry out `restore` if the document is
        still the judged version; return what is stored (`superseded` if it was not)."""
        ...

    def change(self, flag: str, change: Change, actor: str, now: datetime) -> Flag:
        """Read, apply `change`, validate, write, in one transaction."""
        ...

    def note_versions(self, flag: str, audit_id: str, versions: dict[str, int]) -> None:
        """Record on an audit entry the Remote Config template versions that deliver it."""
        ...


class NoticePublisher(Protocol):
    def publish(self, entry: AuditEntry) -> None: ...


class RemoteConfig(Protocol):
    """Remote Config's REST API for one template per (project, namespace)
    (`shared.flags.remote_config.RemoteConfigRest`; the local simulator speaks it too)."""

    def get(self, project: str, namespace: str, version: int | None = None) -> Fetched: ...

    def publish(
        self,
        project: str,
        namespace: str,
        template: dict[str, Any],
        etag: str,
        *,
        description: str,
        validate_only: bool = False,
    ) -> Fetched:
        """`EtagMismatch` if `etag` is stale, `TemplateRejected` if the template is invalid."""
        ...

    def list_versions(self, project: str, namespace: str, page_size: int = 20) -> list[Version]: ...
    def rollback(self, project: str, namespace: str, version: int) -> Fetched: ...
