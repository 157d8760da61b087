"""A file-backed secret store for the local stack: `.local/secrets/<project>/<NAME>/`.

Same metadata as Secret Manager (numeric version ids, enabled/disabled, create time). Each
value is its own file (`v<id>`, mode 0600, directories 0700); `meta.json` is replaced
atomically after the value is on disk, so a crash never leaves a version half-written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from shared.clock import Clock, utcnow
from shared.secrets.model import SecretInfo, SecretVersion, VersionState
from shared.secrets.ports import SecretNotFound, SecretStoreError

FILE_MODE = 0o600
DIR_MODE = 0o700


class LocalSecretStore:
    def __init__(self, root: Path, project: str, clock: Clock = utcnow) -> None:
        self.project = project
        self.dir = root / project
        self.clock = clock

    def _secret_dir(self, name: str) -> Path:
        return self.dir / name

    def describe(self, name: str) -> SecretInfo | None:
        meta = self._secret_dir(name) / "meta.json"
        if not meta.exists():
            return None
        try:
            return SecretInfo.model_validate_json(meta.read_bytes())
        except (OSError, ValidationError) as exc:
            raise SecretStoreError(f"{meta}: unreadable secret metadata ({exc})") from None

    def access(self, name: str, version: str) -> str:
        info = self.describe(name)
        found = next((v for v in info.versions if v.id == version), None) if info else None
        if found is None:
            raise SecretNotFound(
                f"secret {name} version {version} does not exist in {self.project}"
            )
        if found.state is not VersionState.ENABLED:
            raise SecretNotFound(f"secret {name} version {version} is {found.state}")
        return (self._secret_dir(name) / f"v{version}").read_text(encoding="utf-8")

    def add_version(self, name: str, value: bytes) -> SecretVersion:
        with self._locked(name) as folder:
            info = self.describe(name) or SecretInfo(name=name)
            next_id = str(max((int(v.id) for v in info.versions), default=0) + 1)
            version = SecretVersion(id=next_id, state=VersionState.ENABLED, created_at=self.clock())
            _write_new(folder / f"v{next_id}", value)
            updated = info.model_copy(update={"versions": (*info.versions, version)})
            _replace(folder / "meta.json", updated.model_dump_json(indent=2).encode())
            return version

    def disable(self, name: str, version: str) -> None:
        with self._locked(name) as folder:
            info = self.describe(name)
            if info is None or all(v.id != version for v in info.versions):
                raise SecretNotFound(f"secret {name} version {version} does not exist")
            versions = tuple(
                v.model_copy(update={"state": VersionState.DISABLED}) if v.id == version else v
                for v in info.versions
            )
            data = info.model_copy(update={"versions": versions}).model_dump_json(indent=2)
            _replace(folder / "meta.json", data.encode())

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        """The secret's folder, held under an exclusive lock (two rotations never interleave)."""
        folder = self._secret_dir(name)
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for d in (self.dir.parent, self.dir, folder):
            d.chmod(DIR_MODE)
        fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield folder
        finally:
            os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet, readable by its owner only, and flush it to disk."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data)
    os.replace(tmp, path)
