"""Releases and flags (issue 6, item 5): pure plans the rollout core calls.

A release declares flags it needs, e.g. `videoCalls=10` ("turn videoCalls on at 10% once the
release is live"); it can ride in the release's `artifacts["flags"]` as "flag=percent,…".
After `live`, `plan_turn_on` gives the writes; the core keeps the returned `FlagChange`s (e.g. in
the rollout's step detail) so that on rollback `plan_turn_off` undoes exactly those, and only
where nobody has changed the flag since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.flags import catalog
from shared.flags.model import Flag, FlagInvalid, check_name, parse_flag

ARTIFACT_KEY = "flags"
Percent = Annotated[float, Field(gt=0, le=100)]


class FlagRequirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    flag: str
    rollout_percent: Percent


class FlagChange(BaseModel):
    """One write a release made (or will make) to a flag: the value before and after."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    flag: str
    release: str
    before: dict[str, Any] | None  # the flag's content before (None: it did not exist)
    after: dict[str, Any]


def parse_requirements(spec: str) -> list[FlagRequirement]:
    """`"videoCalls=10, events=2.5"` → requirements; one `FlagInvalid` naming the bad part."""
    out: dict[str, FlagRequirement] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, percent = part.partition("=")
        if not sep:
            raise FlagInvalid(f"release flags: {part!r} is not flag=percent")
        try:
            req = FlagRequirement(flag=check_name(name.strip()), rollout_percent=float(percent))
        except (ValueError, ValidationError):
            raise FlagInvalid(f"release flags: {part!r}: percent must be in (0, 100]") from None
        if req.flag in out:
            raise FlagInvalid(f"release flags: {req.flag} named twice")
        if catalog.protected(req.flag):
            raise FlagInvalid(f"release flags: {req.flag} is protected; releases cannot set it")
        out[req.flag] = req
    return list(out.values())


def turn_on(req: FlagRequirement, current: Flag | None) -> Flag | None:
    """The flag after the release's requirement, or None if nothing needs to change. Raising a
    rollout never lowers one already higher, and a killed flag stays killed (a human's call)."""
    if current is None:
        raise FlagInvalid(f"release flags: unknown flag {req.flag!r} in this environment")
    percent = req.rollout_percent
    if current.enabled:
        percent = max(percent, current.rollout_percent)
    if current.enabled and percent == current.rollout_percent:
        return None
    return parse_flag(req.flag, {**current.to_doc(), "enabled": True, "rolloutPercent": percent})


def turn_off(change: FlagChange, current: Flag | None) -> Flag | None:
    """Undo `change` if the flag still holds what the release wrote; else leave it (None)."""
    if current is None or current.content() != _content(change.flag, change.after):
        return None
    if change.before is None:
        return parse_flag(change.flag, {**current.to_doc(), "enabled": False})
    before = parse_flag(change.flag, change.before)
    fields = {"enabled": before.enabled, "rolloutPercent": before.rollout_percent}
    return parse_flag(change.flag, {**current.to_doc(), **fields})


def plan_turn_on(
    release: str, requirements: Iterable[FlagRequirement], flags: Mapping[str, Flag]
) -> list[FlagChange]:
    """Writes that put an env's flags where a newly live release needs them."""
    changes = []
    for req in requirements:
        current = flags.get(req.flag)
        new = turn_on(req, current)
        if new is not None and current is not None:
            changes.append(_change(release, req.flag, current, new))
    return changes


def plan_turn_off(
    release: str, applied: Iterable[FlagChange], flags: Mapping[str, Flag]
) -> list[FlagChange]:
    """Writes that take back what `release` turned on (from `plan_turn_on`'s changes)."""
    changes = []
    for change in applied:
        if change.release != release:
            continue
        current = flags.get(change.flag)
        new = turn_off(change, current)
        if new is not None and current is not None:
            changes.append(_change(release, change.flag, current, new))
    return changes


def _change(release: str, name: str, current: Flag, new: Flag) -> FlagChange:
    return FlagChange(flag=name, release=release, before=current.content(), after=new.content())


def _content(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    return parse_flag(name, doc).content()
