"""Who sent a command: a Firebase ID token, verified with firebase-admin, names the person
(the approver of a decision, the actor of any other command) and carries their roles.

On Google Cloud, `auth.verify_id_token` checks Google's signature, audience (the control
project), issuer, expiry and (with `check_revoked`) that the user is not disabled or signed out.

Local equivalent (documented in docs/GATES.md): with `FIREBASE_AUTH_EMULATOR_HOST` set,
firebase-admin accepts the Firebase Auth emulator's unsigned tokens (it checks audience, issuer
and subject, not a signature). That proves nothing about a person, so it is allowed only for
`demo-` projects, and the expiry is checked here since the emulated path skips it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.clock import Clock, utcnow
from shared.domain.roles import roles_of
from shared.errors import ConfigError, Refused

EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
# The local stack sets EMULATOR_ENV to the Auth emulator's usual address. No Auth emulator
# needs to run: firebase-admin checks an emulator token offline (revocation, which would ask
# it, is off), and `releasectl` mints the tokens. One started there signs people in for real.
LOCAL_AUTH_EMULATOR = "127.0.0.1:9099"


class Approver(BaseModel):
    """A verified identity: who signed a command (not only an approval)."""

    model_config = ConfigDict(frozen=True)

    uid: str
    email: str | None = None
    email_verified: bool = False
    verified_by: str  # "firebase" or "auth-emulator"
    roles: frozenset[str] = frozenset()  # the custom claim `roles` (shared/domain/roles.py)

    @property
    def name(self) -> str:
        """How the person is written in commands and the audit trail: the verified email,
        else the uid."""
        return self.email if self.email and self.email_verified else self.uid


Identity = Approver  # the name the signed-commands path uses


Decode = Callable[[str], Mapping[str, Any]]


def identity(claims: Mapping[str, Any], *, emulated: bool, now: datetime) -> Approver:
    """The approver a token's verified claims name (pure)."""
    exp = claims.get("exp")
    if emulated and (not isinstance(exp, int | float) or exp <= now.timestamp()):
        raise Refused("ID token has expired")
    uid = claims.get("uid") or claims.get("sub")
    if not isinstance(uid, str) or not uid:
        raise Refused("ID token names no user")
    email = claims.get("email")
    return Approver(
        uid=uid,
        email=email if isinstance(email, str) else None,
        email_verified=claims.get("email_verified") is True,
        verified_by="auth-emulator" if emulated else "firebase",
        roles=roles_of(claims),
    )


class FirebaseTokenVerifier:
    """`firebase_admin.auth.verify_id_token` for ID tokens issued to `project`."""

    def __init__(
        self,
        project: str,
        clock: Clock = utcnow,
        check_revoked: bool | None = None,
    ) -> None:
        self.project, self.clock = project, clock
        self.emulated = bool(os.environ.get(EMULATOR_ENV))
        if self.emulated and not project.startswith("demo-"):
            raise Refused(
                f"{EMULATOR_ENV} is set: emulator tokens are unsigned and are accepted only for "
                f"demo- projects, not {project}"
            )
        # Revocation needs the Auth API (or the emulator's); on by default on Google Cloud.
        self.check_revoked = (not self.emulated) if check_revoked is None else check_revoked
        self._app: Any = None

    def _firebase(self) -> Any:
        if self._app is None:
            self._app = firebase_app(self.project, "approvals")
        return self._app

    def verify(self, id_token: str) -> Approver:
        from firebase_admin import auth
        from google.auth.exceptions import DefaultCredentialsError

        if not id_token:
            raise Refused("the command carries no ID token")
        try:
            claims = auth.verify_id_token(
                id_token, app=self._firebase(), check_revoked=self.check_revoked
            )
        except (ValueError, auth.InvalidIdTokenError, auth.UserDisabledError) as exc:
            # expired and revoked tokens are InvalidIdTokenError subclasses: all refused
            raise Refused(f"ID token rejected: {str(exc)[:200]}") from None
        except DefaultCredentialsError:
            raise ConfigError(
                "verifying signed commands needs Google credentials (Application Default "
                "Credentials) for the control project"
            ) from None
        return identity(claims, emulated=self.emulated, now=self.clock())


def check_approver(claimed: str, approver: Approver, field: str = "approver") -> None:
    """The command's `approver` (or `actor`) must be the person the token names (email or
    uid)."""
    if claimed not in {approver.uid, approver.name}:
        raise Refused(f"{field} {claimed!r} does not match the signed-in user {approver.name!r}")


def firebase_app(project: str, purpose: str) -> Any:
    """The firebase-admin app of `project` for one purpose (approvals, grants, the dashboard),
    made once per process: each purpose its own named app, so none changes another's options."""
    import firebase_admin

    name = f"{purpose}-{project}"
    try:
        return firebase_admin.get_app(name)
    except ValueError:
        return firebase_admin.initialize_app(options={"projectId": project}, name=name)
