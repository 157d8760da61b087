"""The local file store (real files) and the Secret Manager adapter (over a stand-in client)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions

from shared.secrets.gsm import SecretManagerStore
from shared.secrets.local_store import LocalSecretStore
from shared.secrets.model import VersionState
from shared.secrets.ports import SecretNotFound, SecretStoreError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_store_versions_and_modes(tmp_path: Path) -> None:
    times = iter([T0, T0 + timedelta(days=1)])
    store = LocalSecretStore(tmp_path / "secrets", "demo-avalo-dev", clock=lambda: next(times))
    assert store.describe("KYC_API_KEY") is None
    first = store.add_version("KYC_API_KEY", b"value-one")
    second = store.add_version("KYC_API_KEY", b"value-two")
    assert (first.id, second.id) == ("1", "2")
    info = store.describe("KYC_API_KEY")
    assert info is not None and info.current() == second
    assert info.versions[0].created_at == T0
    assert store.access("KYC_API_KEY", "1") == "value-one"
    folder = tmp_path / "secrets" / "demo-avalo-dev" / "KYC_API_KEY"
    assert _mode(folder) == 0o700 and _mode(folder.parent) == 0o700
    assert {_mode(p) for p in folder.iterdir()} == {0o600}
    # metadata holds no value
    assert "value-" not in (folder / "meta.json").read_text()


def test_local_store_disable(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path, "demo-avalo-dev")
    store.add_version("K_A", b"one-one")
    store.add_version("K_A", b"two-two")
    store.disable("K_A", "1")
    info = store.describe("K_A")
    assert info is not None
    assert [v.state for v in info.versions] == [VersionState.DISABLED, VersionState.ENABLED]
    with pytest.raises(SecretNotFound, match="disabled"):
        store.access("K_A", "1")
    with pytest.raises(SecretNotFound):
        store.disable("K_A", "9")


def test_local_store_corrupt_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "p-roject" / "K_A"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(SecretStoreError, match="unreadable secret metadata"):
        LocalSecretStore(tmp_path, "p-roject").describe("K_A")


class FakeClient:
    """Answers like SecretManagerServiceClient, from a dict of name -> [(state, value)]."""

    def __init__(self) -> None:
        self.secrets: dict[str, list[list[Any]]] = {}

    def _versions(self, path: str) -> list[list[Any]]:
        name = path.split("/")[3]
        if name not in self.secrets:
            raise exceptions.NotFound(path)
        return self.secrets[name]

    def _resource(self, path: str, n: int, state: str) -> SimpleNamespace:
        return SimpleNamespace(
            name=f"{path}/versions/{n}",
            state=SimpleNamespace(name=state),
            create_time=T0 + timedelta(days=n),
        )

    def get_secret(self, request: dict[str, str]) -> None:
        self._versions(request["name"])

    def list_secret_versions(self, request: dict[str, str]) -> list[SimpleNamespace]:
        path = request["parent"]
        return [self._resource(path, i + 1, v[0]) for i, v in enumerate(self._versions(path))]

    def access_secret_version(self, request: dict[str, str]) -> SimpleNamespace:
        path, n = request["name"].rsplit("/versions/", 1)
        state, value = self._versions(path)[int(n) - 1]
        if state != "ENABLED":
            raise exceptions.FailedPrecondition("disabled")
        return SimpleNamespace(payload=SimpleNamespace(data=value))

    def create_secret(self, request: dict[str, Any]) -> None:
        if request["secret_id"] in self.secrets:
            raise exceptions.AlreadyExists("exists")
        self.secrets[request["secret_id"]] = []

    def add_secret_version(self, request: dict[str, Any]) -> SimpleNamespace:
        versions = self._versions(request["parent"])
        versions.append(["ENABLED", request["payload"]["data"]])
        return self._resource(request["parent"], len(versions), "ENABLED")

    def disable_secret_version(self, request: dict[str, str]) -> None:
        path, n = request["name"].rsplit("/versions/", 1)
        self._versions(path)[int(n) - 1][0] = "DISABLED"


def test_secret_manager_adapter() -> None:
    store = SecretManagerStore("avalo-prod", client=FakeClient())
    assert store.describe("K_A") is None
    assert store.add_version("K_A", b"one-one").id == "1"
    assert store.add_version("K_A", b"two-two").id == "2"
    store.disable("K_A", "1")
    info = store.describe("K_A")
    assert info is not None
    assert [(v.id, v.state) for v in info.versions] == [
        ("1", VersionState.DISABLED),
        ("2", VersionState.ENABLED),
    ]
    assert info.versions[1].created_at == T0 + timedelta(days=2)
    assert store.access("K_A", "2") == "two-two"
    with pytest.raises(SecretStoreError, match="disabled"):
        store.access("K_A", "1")
    with pytest.raises(SecretNotFound):
        store.access("NOPE", "1")


def test_secret_manager_without_credentials_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import secretmanager

    def no_credentials() -> None:
        raise DefaultCredentialsError("Your default credentials were not found. See docs.")

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", no_credentials)
    with pytest.raises(SecretStoreError, match="credentials were not found"):
        SecretManagerStore("avalo-prod").describe("K_A")
