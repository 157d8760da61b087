"""Semantic versions of migrations: parsing and precedence (semver.org §11)."""

from __future__ import annotations

import re
from functools import total_ordering

from shared.domain.commands import SEMVER
from shared.migrations.errors import BadMigrationInput

_SEMVER = re.compile(SEMVER)


@total_ordering
class SemVer:
    """A parsed version; compares by semver precedence (build metadata ignored)."""

    __slots__ = ("core", "pre", "text")

    def __init__(self, text: str) -> None:
        match = _SEMVER.match(text) if isinstance(text, str) else None
        if match is None:
            raise BadMigrationInput(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        self.text = text
        self.core = (int(match[1]), int(match[2]), int(match[3]))
        self.pre: tuple[str, ...] = tuple(match[4].split(".")) if match[4] else ()

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return self.core, 0 if self.pre else 1, pre

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"SemVer({self.text!r})"

    def __str__(self) -> str:
        return self.text


ZERO = SemVer("0.0.0")


def parse(text: str) -> SemVer:
    return SemVer(text)
