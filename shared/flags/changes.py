"""People's flag commands (`flags.set|kill|unkill`, docs/FLAGS.md), carried out by the control
plane through the env's flag store: the same validated transaction as every other writer
(`FlagStore.change`), signed with the verified sender in `updatedBy`, so the guard's audit
entry for the write names that person.

A change that would leave the flag as it is writes nothing: a command carried out twice (its
outbox repeated after a crash), or a kill of a flag that is already killed, is one change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.clock import Clock, utcnow
from shared.config import EnvConfig
from shared.domain.commands import FlagCommand, KillFlag, SetFlag
from shared.domain.messages import StepReport
from shared.flags import edits
from shared.flags.model import Flag, FlagInvalid
from shared.flags.ports import FlagStore


class Unchanged(Exception):
    """The edit leaves the flag as it is: nothing to write (the transaction is abandoned)."""

    def __init__(self, current: Flag) -> None:
        super().__init__("unchanged")
        self.current = current


def edit_of(cmd: FlagCommand) -> edits.Edit:
    if isinstance(cmd, SetFlag):
        return edits.Edit(
            cmd.flag,
            cmd.enabled,
            cmd.rollout_percent,
            None,
            cmd.create,
            cmd.owner,
            cmd.description,
        )
    return edits.kill(cmd.flag) if isinstance(cmd, KillFlag) else edits.unkill(cmd.flag)


def once(edit: edits.Edit, seen: list[Flag | None] | None = None) -> Callable[[Flag | None], Flag]:
    """`edit`, raising `Unchanged` where it changes nothing (also a create of a flag that
    already holds exactly what the create asks for: the same command carried out again).
    `seen` gets the value the edit was applied to (the transaction's last attempt last)."""

    def change(current: Flag | None) -> Flag:
        if seen is not None:
            seen.append(current)
        if edit.create and current is not None:
            again = edits.Edit(**{**edit.__dict__, "create": False})(current)
            if again.content() == current.content():
                raise Unchanged(current)
        new = edit(current)
        if current is not None and new.content() == current.content():
            raise Unchanged(current)
        return new

    return change


def state(flag: Flag) -> str:
    on = "KILLED" if flag.kill_switch else "on" if flag.enabled else "off"
    return f"{on}, rollout {flag.rollout_percent:g}%"


class FlagChanges:
    """The `FlagChangePort` of the bus: one env's flag changed as its sender asked."""

    def __init__(self, store_for: Callable[[str], FlagStore], clock: Clock = utcnow) -> None:
        self.store_for, self.clock = store_for, clock

    def apply(self, env: EnvConfig, cmd: FlagCommand) -> StepReport:
        """What the change did; ok=False (never raised) for a change the flag's rules refuse."""
        store = self.store_for(env.project)
        where = f"{cmd.flag} in {env.name}"
        seen: list[Flag | None] = []
        try:
            new = store.change(cmd.flag, once(edit_of(cmd), seen), cmd.actor, self.clock())
        except Unchanged as same:
            detail: dict[str, Any] = {"flag": cmd.flag, "changed": False}
            detail["value"] = same.current.content()
            return StepReport(
                ran=True, ok=True, summary=f"{where}: already {state(same.current)}", detail=detail
            )
        except FlagInvalid as exc:
            return StepReport(ran=True, ok=False, summary=exc.reason, detail={"flag": cmd.flag})
        detail = {"flag": cmd.flag, "changed": True, "after": new.content()}
        before = seen[-1] if seen else None
        if before is not None:
            detail["before"] = before.content()
        return StepReport(ran=True, ok=True, summary=f"{where}: {state(new)}", detail=detail)
