"""Judging an edit of our parameters made in the Remote Config console. Pure.

Each flag's parameter in the edited template is read back as a `Delivery` and compared with
what Firestore says. An edit our policies allow is adopted into Firestore (a rollout percent, a
kill switch turned on, allow and deny lists); one they forbid is reverted (republished from
Firestore): a safety flag turned off, a percent outside 0-100 or with more than two decimals, a
parameter of ours deleted, a changed seed (it would reshuffle every user), a shape we do not
publish, or, in an environment that requires approvals, a flag turned on outside a release.
Parameters that are not flags of ours are not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import EnvConfig
from shared.flags import templates
from shared.flags.bucketing import MICRO_SPACE
from shared.flags.model import Flag, FlagInvalid, check_transition, parse_flag
from shared.flags.templates import OFF, Delivery, Unreadable


@dataclass(frozen=True)
class Adopt:
    flag: str
    before: Flag
    after: Flag
    what: str


@dataclass(frozen=True)
class Revert:
    flag: str
    reason: str


Decision = Adopt | Revert


def judge(
    env: EnvConfig, namespace: str, template: Mapping[str, Any], flags: Mapping[str, Flag]
) -> list[Decision]:
    """A decision for each of our flags whose parameter differs from Firestore."""
    decisions: list[Decision] = []
    for name, flag in sorted(flags.items()):
        decision = _judge_one(env, namespace, template, name, flag)
        if decision is not None:
            decisions.append(decision)
    return decisions


def _judge_one(
    env: EnvConfig, namespace: str, template: Mapping[str, Any], name: str, flag: Flag
) -> Decision | None:
    try:
        seen = templates.read(namespace, template, name)
    except Unreadable as exc:
        return Revert(name, f"not a shape releasectl publishes ({exc})")
    if seen is None:
        return Revert(name, "a managed parameter was deleted")
    expected = templates.delivery(name, flag)
    if seen == expected:
        return None
    if seen.micro is not None:
        if not 0 <= seen.micro <= MICRO_SPACE:
            return Revert(name, f"rollout {seen.micro / 1_000_000:g}% is outside 0-100")
        seed = templates.seed_of(namespace, template, name)
        if seed != flag.seed_for(name):
            return Revert(name, f"the rollout seed changed to {seed!r}: it would reshuffle users")
    try:
        after = adopted(name, flag, seen)
        check_transition(name, flag, after)
    except FlagInvalid as exc:
        return Revert(name, exc.reason)
    if env.approval_required and _turned_on(name, flag, after):
        return Revert(name, f"turning a flag on in {env.name} goes through a release")
    return Adopt(name, flag, after, _what(name, flag, after))


def adopted(name: str, flag: Flag, seen: Delivery) -> Flag:
    """`flag` changed so that it delivers `seen` (validated: `FlagInvalid` if not allowed)."""
    doc = flag.to_doc()
    if seen == OFF:
        fields: dict[str, Any] = {"killSwitch": True}  # everyone off: the emergency stop
    elif seen.micro is None and seen.default:
        fields = {"enabled": True, "killSwitch": False, "rolloutPercent": 100}
        fields["denyUsers"] = list(seen.deny)
    else:
        percent = (seen.micro or 0) / 1_000_000
        fields = {"enabled": True, "killSwitch": False, "rolloutPercent": percent}
        fields |= {"allowUsers": list(seen.allow), "denyUsers": list(seen.deny)}
    doc.update(fields)
    for key in ("allowUsers", "denyUsers"):
        if not doc.get(key):
            doc.pop(key, None)
    if isinstance(doc.get("rolloutPercent"), float) and doc["rolloutPercent"].is_integer():
        doc["rolloutPercent"] = int(doc["rolloutPercent"])
    return parse_flag(name, doc)


def _turned_on(name: str, before: Flag, after: Flag) -> bool:
    return templates.delivery(name, before) == OFF and templates.delivery(name, after) != OFF


def _what(name: str, before: Flag, after: Flag) -> str:
    if after.kill_switch and not before.kill_switch:
        return "kill switch on"
    if after.rollout_percent != before.rollout_percent:
        return f"rollout {before.rollout_percent:g}% → {after.rollout_percent:g}%"
    return "targeting changed"
