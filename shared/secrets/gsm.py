"""The secret store on Google Secret Manager, in an environment's own project.

Only this module talks to the Secret Manager client; it maps its resources to `SecretInfo`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from shared.secrets.model import SecretInfo, SecretVersion, VersionState
from shared.secrets.ports import SecretNotFound, SecretStoreError

_STATES = {
    "ENABLED": VersionState.ENABLED,
    "DISABLED": VersionState.DISABLED,
    "DESTROYED": VersionState.DESTROYED,
}


def _client() -> Any:
    from google.auth.exceptions import GoogleAuthError
    from google.cloud import secretmanager  # heavy: import on use

    try:
        return secretmanager.SecretManagerServiceClient()
    except GoogleAuthError as exc:
        # No credentials: one clear error, not a traceback (and a hint for the local stack).
        raise SecretStoreError(
            f"Secret Manager: {str(exc).split('. ')[0]} (locally, set "
            "RELEASECTL_SECRETS_BACKEND=local or start the emulators)"
        ) from None


def _errors() -> tuple[type[Exception], type[Exception], type[Exception]]:
    from google.api_core import exceptions

    return exceptions.NotFound, exceptions.AlreadyExists, exceptions.GoogleAPIError


def _when(value: Any) -> datetime:
    # The client gives a timezone-aware DatetimeWithNanoseconds; keep it a plain UTC datetime.
    return datetime.fromtimestamp(value.timestamp(), UTC)


def to_version(resource: Any) -> SecretVersion:
    """A Secret Manager `SecretVersion` resource as our metadata."""
    state = _STATES.get(getattr(resource.state, "name", str(resource.state)))
    if state is None:
        raise SecretStoreError(f"{resource.name}: unexpected version state {resource.state}")
    return SecretVersion(
        id=resource.name.rsplit("/", 1)[-1], state=state, created_at=_when(resource.create_time)
    )


class SecretManagerStore:
    def __init__(self, project: str, client: Any = None) -> None:
        self.project = project
        self._client_obj = client

    @property
    def client(self) -> Any:
        if self._client_obj is None:
            self._client_obj = _client()
        return self._client_obj

    def _path(self, name: str) -> str:
        return f"projects/{self.project}/secrets/{name}"

    def describe(self, name: str) -> SecretInfo | None:
        not_found, _, api_error = _errors()
        try:
            self.client.get_secret(request={"name": self._path(name)})
            pages = self.client.list_secret_versions(request={"parent": self._path(name)})
            versions = tuple(to_version(v) for v in pages)
        except not_found:
            return None
        except api_error as exc:
            raise SecretStoreError(f"secret {name} in {self.project}: {exc}") from None
        return SecretInfo(name=name, versions=versions)

    def access(self, name: str, version: str) -> str:
        not_found, _, api_error = _errors()
        path = f"{self._path(name)}/versions/{version}"
        try:
            response = self.client.access_secret_version(request={"name": path})
        except not_found:
            raise SecretNotFound(f"secret {name} version {version} does not exist") from None
        except api_error as exc:
            raise SecretStoreError(f"secret {name} in {self.project}: {exc}") from None
        value: str = response.payload.data.decode("utf-8")
        return value

    def add_version(self, name: str, value: bytes) -> SecretVersion:
        _, already, api_error = _errors()
        parent = f"projects/{self.project}"
        try:
            # the usual case: the secret exists already, and we only add a version to it
            with contextlib.suppress(already):
                self.client.create_secret(
                    request={
                        "parent": parent,
                        "secret_id": name,
                        "secret": {"replication": {"automatic": {}}},
                    }
                )
            created = self.client.add_secret_version(
                request={"parent": self._path(name), "payload": {"data": value}}
            )
        except api_error as exc:
            raise SecretStoreError(f"secret {name} in {self.project}: {exc}") from None
        return to_version(created)

    def disable(self, name: str, version: str) -> None:
        not_found, _, api_error = _errors()
        path = f"{self._path(name)}/versions/{version}"
        try:
            self.client.disable_secret_version(request={"name": path})
        except not_found:
            raise SecretNotFound(f"secret {name} version {version} does not exist") from None
        except api_error as exc:
            raise SecretStoreError(f"secret {name} in {self.project}: {exc}") from None
