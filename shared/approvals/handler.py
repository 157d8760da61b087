"""The `CommandCheck` port's adapter: every command from a person is signed by that person,
and their roles allow it in that environment.

A command's `id_token` is verified (`TokenVerifier`: firebase-admin, or its emulator mode
locally). The person it names becomes the command's sender: the command's own `actor` (or a
decision's `approver`) must be that person, and is rewritten to their verified name, so the
audit trail holds verified identities only. Their `roles` claim must hold the role the command
needs in its environment (`shared/domain/roles.py`, per-environment overrides in the config).

With `[control] signed_commands = false` an unsigned command is taken at its word and no role
is checked; `signed_approvals = true` still requires approvals and rejections to be signed. A
token sent anyway is always verified (and its roles checked).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from shared.approvals.ports import TokenVerifier
from shared.approvals.signing import must_sign
from shared.approvals.tokens import Identity, check_approver
from shared.config import PlaneConfig
from shared.domain.commands import ACTOR_FIELDS
from shared.domain.roles import denial
from shared.errors import ConfigError, Refused


class SignedCommands:
    def __init__(
        self,
        verifier: Callable[[], TokenVerifier],
        *,
        plane: PlaneConfig,
    ) -> None:
        # the verifier is built on first use (it may load firebase-admin)
        self._make = verifier
        self._verifier: TokenVerifier | None = None
        self.plane = plane

    def check(self, cmd: BaseModel) -> tuple[BaseModel, Identity | None]:
        """The command as sent by its verified sender, and who that is (None: unsigned and
        allowed to be). Raises `Refused` naming what is wrong."""
        kind = str(getattr(cmd, "type", type(cmd).__name__))
        token = getattr(cmd, "id_token", None)
        if token is None:
            if must_sign(self.plane.control, kind):
                raise Refused(
                    f"{kind} is not signed: commands must carry the sender's Firebase ID token "
                    "(id_token); sign in with `releasectl auth login` (docs/GATES.md)"
                )
            return cmd, None
        if self._verifier is None:
            self._verifier = self._make()
        who = self._verifier.verify(token)
        return self._as_sent_by(cmd, kind, who), who

    def _as_sent_by(self, cmd: BaseModel, kind: str, who: Identity) -> BaseModel:
        env = getattr(cmd, "env", None)
        overrides = None
        if isinstance(env, str):
            try:
                overrides = self.plane.env(env).roles
            except ConfigError:
                overrides = None  # the handler refuses the unknown environment by name
        why = denial(kind, env, who.name, who.roles, overrides)
        if why is not None:
            raise Refused(why)
        update = {}
        for field in ACTOR_FIELDS:
            claimed = getattr(cmd, field, None)
            if isinstance(claimed, str):
                check_approver(claimed, who, field)
                update[field] = who.name
        return cmd.model_copy(update=update) if update else cmd
