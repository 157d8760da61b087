"""Edits made through `releasectl flags …`: pure functions from the current flag to the new one.

Every result is validated again by the store before it is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.flags.model import Flag, FlagInvalid, parse_flag


@dataclass(frozen=True)
class Edit:
    flag: str
    enabled: bool | None = None
    rollout_percent: float | None = None
    kill_switch: bool | None = None
    create: bool = False
    owner: str | None = None
    description: str | None = None

    def fields(self) -> dict[str, Any]:
        pairs = {
            "enabled": self.enabled,
            "rolloutPercent": self.rollout_percent,
            "killSwitch": self.kill_switch,
            "owner": self.owner,
            "description": self.description,
        }
        return {k: v for k, v in pairs.items() if v is not None}

    def __call__(self, current: Flag | None) -> Flag:
        if current is None and not self.create:
            raise FlagInvalid(f"unknown flag {self.flag!r} (use --create to add it)")
        if current is not None and self.create:
            raise FlagInvalid(f"flag {self.flag!r} already exists")
        base: dict[str, Any] = (
            current.to_doc() if current else {"enabled": False, "rolloutPercent": 0}
        )
        return parse_flag(self.flag, {**base, **self.fields()})


def kill(flag: str) -> Edit:
    return Edit(flag, kill_switch=True)


def unkill(flag: str) -> Edit:
    return Edit(flag, kill_switch=False)
