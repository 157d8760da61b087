"""Kill switches through the flag service of an environment (`FlagStore`, the same path as
`releasectl flags kill`): each flag changed in its own transaction, with its audit entry."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.clock import Clock, utcnow
from shared.config import EnvConfig
from shared.flags import edits
from shared.flags.model import FlagInvalid
from shared.flags.ports import FlagStore

log = logging.getLogger(__name__)


class FlagKillSwitches:
    def __init__(self, store_for: Callable[[str], FlagStore], clock: Clock = utcnow) -> None:
        self.store_for, self.clock = store_for, clock

    def kill(self, env: EnvConfig, flags: tuple[str, ...], actor: str) -> list[str]:
        store = self.store_for(env.project)
        killed = []
        for flag in flags:
            current = store.get_doc(flag)
            if current is not None and current.get("killSwitch") is True:
                continue  # already off: a repeat writes nothing
            try:
                store.change(flag, edits.kill(flag), actor, self.clock())
            except FlagInvalid as exc:  # e.g. the flag does not exist in this env
                log.warning("kill switch %s not set: %s", flag, exc, extra={"env": env.name})
                continue
            killed.append(flag)
        return killed
