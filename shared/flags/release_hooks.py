"""Carrying out the release plans against one environment's flags (I/O through `FlagStore`).

Two ways, both safe to repeat:
- `apply_planned(store, changes)`: compare-and-set of changes planned earlier (and persisted by
  the caller first, so a crash between planning and writing loses nothing);
- `apply_turn_on` / `apply_turn_off`: plan and write in one go, each flag re-planned inside its
  own transaction.
A flag whose plan became "nothing to do", or that someone changed meanwhile, is left unwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

from shared.flags.model import Flag, FlagInvalid, parse_flag
from shared.flags.ports import FlagStore
from shared.flags.releases import FlagChange, FlagRequirement, turn_off, turn_on

Plan = Callable[[Flag | None], Flag | None]


class _NothingToDo(Exception):
    """Raised inside a transaction to leave it without writing."""


def actor_for(release: str) -> str:
    return f"release {release}"


def _apply(
    store: FlagStore, release: str, flag: str, plan: Plan, now: datetime
) -> FlagChange | None:
    seen: list[Flag | None] = []

    def change(current: Flag | None) -> Flag:
        seen.append(current)
        new = plan(current)
        if new is None:
            raise _NothingToDo
        return new

    try:
        new = store.change(flag, change, actor_for(release), now)
    except _NothingToDo:
        return None
    before = seen[-1]  # the value read by the transaction's last (committed) attempt
    return FlagChange(
        flag=flag,
        release=release,
        before=before.content() if before else None,
        after=new.content(),
    )


def apply_turn_on(
    store: FlagStore, release: str, requirements: Iterable[FlagRequirement], now: datetime
) -> list[FlagChange]:
    """After `live`: turn the release's flags on. Keep the result for `apply_turn_off`."""
    done = []
    for req in requirements:
        change = _apply(store, release, req.flag, partial(turn_on, req), now)
        if change is not None:
            done.append(change)
    return done


def apply_turn_off(
    store: FlagStore, release: str, applied: Iterable[FlagChange], now: datetime
) -> list[FlagChange]:
    """On rollback: take back what `release` turned on, where nobody changed it since."""
    done = []
    for prior in applied:
        if prior.release != release:
            continue
        change = _apply(store, release, prior.flag, partial(turn_off, prior), now)
        if change is not None:
            done.append(change)
    return done


def apply_planned(
    store: FlagStore, changes: Iterable[FlagChange], now: datetime
) -> list[FlagChange]:
    """Write each change whose flag still holds `before`; return those written now. A flag
    already at `after` (a repeat) or changed by someone else is left alone."""
    done = []
    for change in changes:
        if _apply(store, change.release, change.flag, partial(_cas, change), now) is not None:
            done.append(change)
    return done


def _cas(change: FlagChange, current: Flag | None) -> Flag | None:
    held = current.content() if current is not None else None
    expected = parse_flag(change.flag, change.before).content() if change.before else None
    if current is None or held != expected:
        return None
    return parse_flag(change.flag, {**current.to_doc(), **change.after})


def current_flags(store: FlagStore) -> dict[str, Flag]:
    """The env's valid flags (invalid ones are the guard's business, not a release's)."""
    flags = {}
    for name, doc in store.all_docs().items():
        try:
            flags[name] = parse_flag(name, doc)
        except FlagInvalid:
            continue
    return flags
