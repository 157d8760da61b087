"""Migration files on disk: names, checksums, loading and validation of what they declare.

A file is `NNN_snake_name.py` and declares `version` (semver), `description`, `up(ctx)`,
optionally `down(ctx)` and `protected_writes` (protected collections it may write).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

from shared.config import REPO_ROOT
from shared.migrations.errors import BadMigrationInput
from shared.migrations.model import PROTECTED_COLLECTIONS, MigrationInfo
from shared.migrations.versions import SemVer

DEFAULT_DIR = REPO_ROOT / "migrations"
FILE_NAME = re.compile(r"^(\d{3})_([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.py$")

Step = Callable[[Any], None]


@dataclass(frozen=True)
class Migration:
    info: MigrationInfo
    up: Step
    down: Step | None

    @property
    def version(self) -> SemVer:
        return SemVer(self.info.version)


def checksum(text: str) -> str:
    """SHA-256 over the file's lines: independent of line endings and trailing blanks, so a
    checkout on another OS does not look like an edit (Flyway's checksum is line-based too)."""
    normal = "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")
    return "sha256:" + hashlib.sha256(normal.encode("utf-8")).hexdigest()


def parse_name(file_name: str) -> tuple[int, str]:
    match = FILE_NAME.match(file_name)
    if match is None:
        raise BadMigrationInput(
            f"malformed migration file name {file_name!r}: expected NNN_snake_name.py "
            "(three digits, underscore, lower-case snake_case)"
        )
    return int(match[1]), match[2]


def candidate_files(directory: Path) -> list[Path]:
    """Every .py file that must be a migration (package and private files are skipped)."""
    if not directory.is_dir():
        raise BadMigrationInput(f"migrations directory {directory} not found")
    return sorted(
        p for p in directory.iterdir() if p.suffix == ".py" and not p.name.startswith(("_", "."))
    )


def _load_module(path: Path, number: int, name: str) -> ModuleType:
    module_name = f"_releasectl_migration_{number:03d}_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BadMigrationInput(f"{path.name}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise BadMigrationInput(f"{path.name}: failed to import: {exc}") from exc
    return module


def describe(path: Path, module: ModuleType, text: str) -> Migration:
    """Check what a loaded file declares; one clear error naming the file and the attribute."""
    number, name = parse_name(path.name)
    version = getattr(module, "version", None)
    if not isinstance(version, str):
        raise BadMigrationInput(f"{path.name}: `version` must be a string (semver)")
    try:
        SemVer(version)
    except BadMigrationInput as exc:
        raise BadMigrationInput(f"{path.name}: version {exc}") from None
    description = getattr(module, "description", None)
    if not isinstance(description, str) or not description.strip():
        raise BadMigrationInput(f"{path.name}: `description` must be a non-empty string")
    up, down = getattr(module, "up", None), getattr(module, "down", None)
    if not callable(up):
        raise BadMigrationInput(f"{path.name}: `up(ctx)` is missing")
    if down is not None and not callable(down):
        raise BadMigrationInput(f"{path.name}: `down` must be a function")
    protected = _protected(path.name, getattr(module, "protected_writes", ()))
    info = MigrationInfo(
        number=number,
        name=name,
        file=path.name,
        version=version,
        description=description.strip(),
        checksum=checksum(text),
        has_down=down is not None,
        protected_writes=protected,
    )
    return Migration(info, up, down)


def _protected(file_name: str, declared: object) -> tuple[str, ...]:
    if isinstance(declared, str) or not isinstance(declared, Iterable):
        raise BadMigrationInput(f"{file_name}: `protected_writes` must be a list of collections")
    names = tuple(sorted({str(d) for d in declared}))
    unknown = [n for n in names if n not in PROTECTED_COLLECTIONS]
    if unknown:
        raise BadMigrationInput(
            f"{file_name}: protected_writes names {unknown}, which are not protected "
            f"collections ({', '.join(sorted(PROTECTED_COLLECTIONS))})"
        )
    return names


def check_order(migrations: list[Migration]) -> list[Migration]:
    """Numbers and versions must both be unique and agree on the order."""
    seen_numbers: dict[int, str] = {}
    seen_versions: dict[SemVer, str] = {}
    for m in migrations:
        if m.info.number in seen_numbers:
            raise BadMigrationInput(
                f"duplicate migration number {m.info.number:03d}: "
                f"{seen_numbers[m.info.number]} and {m.info.file}"
            )
        if m.version in seen_versions:
            raise BadMigrationInput(
                f"duplicate version {m.info.version}: {seen_versions[m.version]} and {m.info.file}"
            )
        seen_numbers[m.info.number] = m.info.file
        seen_versions[m.version] = m.info.file
    ordered = sorted(migrations, key=lambda m: m.info.number)
    for before, after in pairwise(ordered):
        if not before.version < after.version:
            raise BadMigrationInput(
                f"{after.info.file} (version {after.info.version}) must have a higher version "
                f"than {before.info.file} (version {before.info.version})"
            )
    return ordered


def load(directory: Path = DEFAULT_DIR) -> list[Migration]:
    """Every migration in `directory`, in order; the first problem raises `BadMigrationInput`."""
    found = []
    for path in candidate_files(directory):
        number, name = parse_name(path.name)
        text = path.read_text(encoding="utf-8")
        found.append(describe(path, _load_module(path, number, name), text))
    return check_order(found)
