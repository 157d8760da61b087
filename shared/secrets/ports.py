"""The secret store port: one Protocol, implemented for Secret Manager and for local files."""

from __future__ import annotations

from typing import Protocol

from shared.errors import ControlPlaneError, Refused
from shared.secrets.model import SecretInfo, SecretVersion


class SecretStoreError(ControlPlaneError):
    """The store could not be read or written (permissions, network, a corrupt local file)."""


class SecretNotFound(Refused):
    """The named secret or version does not exist."""


class SecretStore(Protocol):
    """Secrets of one project. Values cross this boundary only in `access` and `add_version`."""

    project: str

    def describe(self, name: str) -> SecretInfo | None:
        """Metadata of every version, or None if the secret does not exist."""
        ...

    def access(self, name: str, version: str) -> str:
        """The value of one version (an enabled one)."""
        ...

    def add_version(self, name: str, value: bytes) -> SecretVersion:
        """Add a new enabled version, creating the secret if needed."""
        ...

    def disable(self, name: str, version: str) -> None: ...
