"""The reviewed advisory ignore file (`config/advisory-ignores.toml`).

An advisory that does not apply to us is accepted only with its id, the package, a reason, who
reviewed it and an expiry date; past that date it blocks again. A broken file is one
`ConfigError` naming the file and the key (the scan then does not run: nothing passes on a
file nobody can read).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.config import REPO_ROOT, load_toml
from shared.errors import ConfigError

DEFAULT_IGNORES_FILE = REPO_ROOT / "config" / "advisory-ignores.toml"
MAX_DAYS = 366  # an ignore is a decision with a review date, not a permanent skip


def canonical(name: str) -> str:
    """PEP 503 normalised package name (what pip-audit reports)."""
    return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))


class AdvisoryIgnore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z]+-[\w.:-]+$")  # GHSA-…, PYSEC-…, CVE-…
    package: str = Field(min_length=1)
    reason: str = Field(min_length=10)
    reviewed_by: str = Field(min_length=1)
    reviewed_on: date
    expires: date

    def in_force(self, now: datetime) -> bool:
        return now.date() <= self.expires


class IgnoreFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ignore: list[AdvisoryIgnore] = Field(default_factory=list)

    def check(self) -> None:
        for n, item in enumerate(self.ignore):
            if (item.expires - item.reviewed_on).days > MAX_DAYS:
                raise ConfigError(
                    f"ignore.{n}.expires: more than {MAX_DAYS} days after reviewed_on "
                    f"({item.id}): review it again instead"
                )


def load_ignores(path: Path = DEFAULT_IGNORES_FILE) -> list[AdvisoryIgnore]:
    """The file's ignores; a missing file means none."""
    if not path.exists():
        return []
    return load_toml(path, IgnoreFile, "advisory ignore file", IgnoreFile.check).ignore


def match(
    ignores: list[AdvisoryIgnore], ids: set[str], package: str, now: datetime
) -> AdvisoryIgnore | None:
    """The ignore in force for this advisory (any of its ids) in this package, if any."""
    for item in ignores:
        if item.id in ids and canonical(item.package) == canonical(package) and item.in_force(now):
            return item
    return None
