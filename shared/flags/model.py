"""The flag document `featureFlags/{flag}` (camelCase fields, a contract shared with migration
002_add_feature_flags) and its validation. Pure: no I/O, no clock."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic import model_validator as _model_validator
from pydantic.alias_generators import to_camel

from shared.errors import Refused
from shared.flags import catalog

# Firebase Remote Config seeds are 0-32 chars of [-_.0-9a-zA-Z]; an empty seed would drop the
# "seed." prefix in Remote Config, so we require at least one character (default: flag name).
SEED_RE = r"^[-_.0-9a-zA-Z]{1,32}$"
FLAG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
MAX_LIST = 1000

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"\S")]
Text = Annotated[str, StringConstraints(max_length=500)]


class FlagInvalid(Refused):
    """A flag value or edit that may never be stored (bad type, range, safety rule)."""


class Flag(BaseModel):
    """One flag's document. Strict: a string "true" or a number for a bool is a wrong type."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )

    enabled: bool
    rollout_percent: float = Field(ge=0, le=100)
    kill_switch: bool = False
    always_on: bool = False
    allow_users: list[UserId] = Field(default_factory=list, max_length=MAX_LIST)
    deny_users: list[UserId] = Field(default_factory=list, max_length=MAX_LIST)
    seed: Annotated[str, StringConstraints(pattern=SEED_RE)] | None = None
    owner: Text = ""
    description: Text = ""
    updated_by: Text = ""
    updated_at: datetime | None = None

    @_model_validator(mode="after")
    def _rules(self) -> Self:
        if abs(self.rollout_percent * 100 - round(self.rollout_percent * 100)) > 1e-6:
            raise ValueError("rolloutPercent: at most two decimals")
        if self.always_on and not (
            self.enabled
            and self.rollout_percent == 100
            and not self.kill_switch
            and not self.deny_users
        ):
            raise ValueError(
                "alwaysOn: an always-on flag must stay enabled at 100% "
                "with no kill switch and no denied users"
            )
        return self

    @property
    def micro_percent(self) -> int:
        """The rollout as Remote Config micro-percent (0..100,000,000)."""
        return round(self.rollout_percent * 1_000_000)

    def seed_for(self, name: str) -> str:
        return self.seed or name

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)

    def content(self) -> dict[str, Any]:
        """What decides evaluation: the document less who/when (used to compare two versions)."""
        return self.model_dump(by_alias=True, exclude={"updated_by", "updated_at"})


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(to_camel(str(p)) if isinstance(p, str) else str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] != "missing" and loc:
            msg = f"{msg} (got {e['input']!r:.60})"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def check_name(name: str) -> str:
    if not FLAG_NAME_RE.match(name):
        raise FlagInvalid(
            f"flag name {name!r}: must start with a letter and use 1-32 of [A-Za-z0-9_-]"
        )
    return name


def parse_flag(name: str, data: Any) -> Flag:
    """Validate a stored document for flag `name`; one `FlagInvalid` names every problem."""
    check_name(name)
    if not isinstance(data, dict):
        raise FlagInvalid(f"featureFlags/{name}: document must be a map of fields")
    try:
        flag = Flag.model_validate(data)
    except ValidationError as exc:
        raise FlagInvalid(f"featureFlags/{name}: {_describe(exc)}") from None
    problem = catalog.policy_violation(name, flag.enabled, flag.rollout_percent, flag.always_on)
    if problem is None and flag.deny_users and catalog.policy(name) != catalog.Policy.PLAIN:
        problem = "denyUsers: not allowed on a protected flag"
    if problem:
        raise FlagInvalid(f"featureFlags/{name}: {problem}")
    return flag


def check_transition(name: str, before: Flag | None, after: Flag | None) -> None:
    """Rules about a change, beyond the validity of its result."""
    if after is None:
        if before is not None and (before.always_on or catalog.protected(name)):
            raise FlagInvalid(f"featureFlags/{name}: a protected flag may not be deleted")
        return
    if before is not None and before.always_on and not after.always_on:
        raise FlagInvalid(f"featureFlags/{name}: alwaysOn may not be turned off")
