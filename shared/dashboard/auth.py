"""Who may see the dashboard. On Google Cloud: a Firebase Auth session cookie (made from a fresh
ID token by `firebase_admin.auth.create_session_cookie`, checked with `verify_session_cookie`,
revocations included) whose user has the `viewer` role (custom claim `roles`, docs/GATES.md).
On the local stack nobody signs in: the person at the machine may do everything."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.dashboard.ports import Forbidden, SignInNeeded, Viewer

SESSION_COOKIE = "__session"  # the one cookie Firebase Hosting passes to a function
SESSION_DAYS = 5


class LocalAccess:
    """The local stack: no sign-in, every role; the name is the local user's, and approvals
    carry the Auth emulator's unsigned token for it, as `releasectl` sends them."""

    def __init__(self, token_for: Callable[[str], str | None]) -> None:
        self.token_for = token_for

    def viewer(self, session_cookie: str | None) -> Viewer:
        return Viewer(name=getpass.getuser(), roles=frozenset(), local=True)

    def session(self, email: str, password: str) -> str:
        raise Forbidden("the local dashboard has no sign-in")

    def id_token(self, viewer: Viewer, password: str) -> str | None:
        return self.token_for(viewer.name)


class FirebaseSessions:
    """Session cookies of the control project's Firebase Authentication (firebase-admin)."""

    def __init__(self, project: str, sign_in: Callable[[str, str], str]) -> None:
        self.project, self.sign_in = project, sign_in  # email, password -> a fresh ID token
        self._app: Any = None

    def _firebase(self) -> Any:
        if self._app is None:
            from shared.approvals.tokens import firebase_app

            self._app = firebase_app(self.project, "dashboard")
        return self._app

    def viewer(self, session_cookie: str | None) -> Viewer:
        from firebase_admin import auth

        if not session_cookie:
            raise SignInNeeded("no session")
        try:
            claims = auth.verify_session_cookie(
                session_cookie, check_revoked=True, app=self._firebase()
            )
        except (ValueError, auth.InvalidSessionCookieError, auth.UserDisabledError) as exc:
            # expired and revoked cookies are InvalidSessionCookieError subclasses
            raise SignInNeeded(str(exc)[:200]) from None
        roles = claims.get("roles") or []
        viewer = Viewer(
            name=str(claims.get("email") or claims["sub"]),
            roles=frozenset(str(r) for r in roles if isinstance(r, str)),
        )
        if not viewer.may("viewer"):
            raise Forbidden(f"{viewer.name} does not have the viewer role")
        return viewer

    def _token(self, email: str, password: str) -> str:
        from shared.approvals.credentials import SignInError

        if not email.strip() or not password:
            raise SignInNeeded("signing in needs an email and a password")
        try:
            return self.sign_in(email.strip(), password)
        except SignInError as exc:
            raise SignInNeeded(str(exc)) from None

    def session(self, email: str, password: str) -> str:
        """Sign in with email and password; a session cookie made from the fresh ID token."""
        from firebase_admin import auth

        id_token = self._token(email, password)
        try:
            cookie = auth.create_session_cookie(
                id_token, expires_in=timedelta(days=SESSION_DAYS), app=self._firebase()
            )
        except (ValueError, auth.InvalidIdTokenError) as exc:
            raise SignInNeeded(str(exc)[:200]) from None
        return str(cookie.decode() if isinstance(cookie, bytes) else cookie)

    def id_token(self, viewer: Viewer, password: str) -> str | None:
        """A decision is signed with a fresh ID token: the approver confirms their password
        (a session cookie is not an ID token, and the bus verifies ID tokens)."""
        return self._token(viewer.name, password)
