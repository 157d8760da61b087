"""What the notifier needs from outside: the sent-notice ledger, the channels, the secrets
that configure them, and the rollout records (for evidence)."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from shared.domain.model import Rollout
from shared.notify.ledger import Delivery
from shared.notify.render import Message


class SentLog(Protocol):
    def claim(self, record: Delivery, stale_after: timedelta) -> bool:
        """Create the record (status `sending`) unless one exists; True if we may send."""
        ...

    def finish(self, record: Delivery) -> None: ...


class Sender(Protocol):
    def send(self, message: Message) -> None: ...


class SecretSource(Protocol):
    def get(self, env: str, name: str) -> str | None:
        """The current value of a secret of `env` (registered for redaction), or None."""
        ...


class RolloutReader(Protocol):
    def read(self, release: str, env: str) -> Rollout | None: ...
