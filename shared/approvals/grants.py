"""`releasectl auth grant`: set a person's roles, the custom claim `roles` on their Firebase
user (firebase-admin), or on the local stack the local users file the emulator tokens read."""

from __future__ import annotations

from typing import cast

from shared.approvals import local_users
from shared.approvals.credentials import uses_emulator_tokens
from shared.config import Settings
from shared.domain.roles import Role
from shared.errors import ConfigError, Refused


def grant(settings: Settings, who: str, roles: list[str]) -> tuple[list[str], str]:
    """The roles `who` now holds, and where they were written."""
    chosen = cast(list[Role], sorted(set(roles)))
    if uses_emulator_tokens(settings):
        path = local_users.users_file(settings)
        return list(local_users.grant(path, who, chosen)), str(path)
    return _firebase_grant(settings.project, who, chosen), f"Firebase Auth of {settings.project}"


def _firebase_grant(project: str, email: str, roles: list[Role]) -> list[str]:
    from firebase_admin import auth
    from google.auth.exceptions import DefaultCredentialsError

    from shared.approvals.tokens import firebase_app

    app = firebase_app(project, "grants")
    try:
        user = auth.get_user_by_email(email, app=app)
        # other custom claims the project sets are kept
        claims = {**(user.custom_claims or {}), "roles": list(roles)}
        auth.set_custom_user_claims(user.uid, claims, app=app)
    except auth.UserNotFoundError:
        raise Refused(f"no user {email} in the Firebase Authentication of {project}") from None
    except DefaultCredentialsError:
        raise ConfigError(
            "granting roles needs Google credentials (Application Default Credentials) with "
            f"the Firebase Authentication Admin role on {project}"
        ) from None
    return list(roles)
