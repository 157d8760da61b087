"""How the person at the terminal gets the Firebase ID token that signs an approval.

On Google Cloud an approver signs in to the control project's Firebase Authentication with
email + password (Identity Toolkit `accounts:signInWithPassword`); the session (email, uid,
refresh token, the current ID token and its expiry) is kept in a per-user file readable by its
owner only, and the ID token is refreshed through the Secure Token API when it has less than
five minutes left. `RELEASECTL_ID_TOKEN` overrides all of it for tokens obtained elsewhere
(CI, SSO).

Locally (`demo-` projects on the emulators) there is no Firebase Authentication to sign in to:
approvals carry an unsigned token shaped like the Firebase Auth emulator's, which firebase-admin
accepts only with `FIREBASE_AUTH_EMULATOR_HOST` set (see `shared.approvals.tokens`).

No I/O at import. HTTP goes through an `httpx.Client` the caller may pass in.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_serializer
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.config import Settings
from shared.errors import ConfigError, ControlPlaneError
from shared.redaction import redact, remember

ID_TOKEN_ENV = "RELEASECTL_ID_TOKEN"  # noqa: S105  # nosec B105 -- a variable name, not a password
API_KEY_ENV = "RELEASECTL_FIREBASE_API_KEY"
SIGN_IN_URL = "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
TOKEN_URL = "https://securetoken.googleapis.com/v1/token"  # noqa: S105  # nosec B105 -- a public endpoint URL
# A cached ID token is used only while it has more than this left (it must survive the trip
# through Pub/Sub to the verifier).
REFRESH_MARGIN = timedelta(minutes=5)
MAX_UID_LEN = 128  # firebase-admin refuses a longer "sub"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_SIGNED_IN = "not signed in to {project}: run `releasectl auth login`"

ApprovalSource = Literal["emulator", "env", "session", "none"]
_M = TypeVar("_M", bound=BaseModel)


class SignInError(ControlPlaneError):
    """Firebase Authentication refused a sign-in or a refresh, or could not be reached."""


# --- local: unsigned emulator tokens ------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def is_email(approver: str) -> bool:
    return bool(_EMAIL.match(approver))


def emulator_uid(approver: str) -> str:
    """The uid an emulator token names: an email maps to a stable 28-character id (the length
    of Firebase uids), anything else is taken as the uid itself."""
    if not is_email(approver):
        return approver
    return hashlib.sha256(f"releasectl-emulator:{approver.lower()}".encode()).hexdigest()[:28]


class _FirebaseClaim(BaseModel):
    identities: dict[str, list[str]]
    sign_in_provider: str


class EmulatorClaims(BaseModel):
    """The claims of an ID token issued by the Firebase Auth emulator."""

    iss: str
    aud: str
    sub: str
    user_id: str
    iat: int
    exp: int
    auth_time: int
    email: str | None = None
    email_verified: bool | None = None
    firebase: _FirebaseClaim
    roles: list[str] | None = None  # the custom claim (shared/domain/roles.py)


def emulator_token(
    project: str,
    approver: str,
    now: datetime,
    ttl: timedelta = timedelta(hours=1),
    roles: list[str] | None = None,
) -> str:
    """An unsigned JWT (`alg: none`) with the claims the Firebase Auth emulator issues.

    `approver` that looks like an email becomes a verified email with a uid derived from it;
    anything else is the uid. Accepted by firebase-admin only with FIREBASE_AUTH_EMULATOR_HOST
    set, and by the control plane only for `demo-` projects: it proves nothing about a person.
    """
    approver = approver.strip()
    if not approver or len(approver) > MAX_UID_LEN:
        raise ConfigError(f"approver must be 1 to {MAX_UID_LEN} characters, got {approver!r}")
    if not project.startswith("demo-"):
        raise ConfigError(f"unsigned emulator tokens are for demo- projects only, not {project}")
    uid, issued = emulator_uid(approver), int(now.timestamp())
    email = approver if is_email(approver) else None
    claims = EmulatorClaims(
        iss=f"https://securetoken.google.com/{project}",
        aud=project,
        sub=uid,
        user_id=uid,
        iat=issued,
        exp=issued + int(ttl.total_seconds()),
        auth_time=issued,
        email=email,
        email_verified=True if email else None,
        firebase=_FirebaseClaim(
            identities={"email": [email]} if email else {},
            sign_in_provider="password" if email else "custom",
        ),
        roles=roles,
    )
    header = {"alg": "none", "typ": "JWT"}
    parts = [json.dumps(header, separators=(",", ":")), claims.model_dump_json(exclude_none=True)]
    return ".".join(_b64url(p.encode()) for p in parts) + "."


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, NOT verified: for display only (`auth status`), never for decisions."""
    try:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


# --- the stored session --------------------------------------------------------------------


class Session(BaseModel):
    """One approver's sign-in to one control project, as kept in the login file."""

    model_config = ConfigDict(extra="ignore")

    project: str
    email: str
    uid: str
    refresh_token: SecretStr
    id_token: SecretStr
    id_token_expires_at: datetime
    signed_in_at: datetime

    @field_serializer("refresh_token", "id_token", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        # only the login file is written as JSON; repr() and str() keep the secrets masked
        return value.get_secret_value()

    def fresh(self, now: datetime) -> bool:
        return self.id_token_expires_at - now > REFRESH_MARGIN

    @property
    def email_verified(self) -> bool:
        """What the current ID token says (read here, verified by the control plane)."""
        return unverified_claims(self.id_token.get_secret_value()).get("email_verified") is True

    @property
    def approver(self) -> str:
        """The name the control plane will give this approver (`tokens.Approver.name`): the
        email when it is verified, else the uid."""
        return self.email if self.email_verified else self.uid


def session_path(project: str) -> Path:
    """`$XDG_CONFIG_HOME/releasectl/login-<project>.json` (default `~/.config`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", project)
    return Path(base) / "releasectl" / f"login-{safe}.json"


def load_session(project: str) -> Session | None:
    path = session_path(project)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}): it holds a "
            "refresh token; run `releasectl auth logout` and sign in again"
        )
    try:
        session = Session.model_validate_json(text)
    except ValidationError:
        raise ConfigError(
            f"{path} is not a valid login file: run `releasectl auth logout`, then "
            "`releasectl auth login`"
        ) from None
    if session.project != project:
        raise ConfigError(f"{path} belongs to project {session.project}, not {project}")
    remember(session.refresh_token.get_secret_value())
    return session


def save_session(session: Session) -> Path:
    """Write the login file atomically, owner read/write only (0600) from its first byte."""
    path = session_path(session.project)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(session.model_dump_json(indent=2))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def delete_session(project: str) -> bool:
    """Forget the session (the refresh token stays valid until an admin revokes it)."""
    try:
        session_path(project).unlink()
    except FileNotFoundError:
        return False
    return True


# --- Firebase Authentication REST APIs -------------------------------------------------------


class SignInReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id_token: str = Field(alias="idToken", min_length=1)
    refresh_token: str = Field(alias="refreshToken", min_length=1)
    expires_in: int = Field(alias="expiresIn", gt=0)
    local_id: str = Field(alias="localId", min_length=1)
    email: str = ""


class RefreshReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id_token: str = Field(min_length=1)
    refresh_token: str = Field(min_length=1)
    expires_in: int = Field(gt=0)
    user_id: str = Field(min_length=1)


class _ApiErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: int = 0
    message: str = ""
    status: str = ""


class _ApiError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: _ApiErrorBody


# What each error code of the two APIs means to the person at the terminal.
_REASONS = {
    "EMAIL_NOT_FOUND": "no account with this email in the control project's Firebase "
    "Authentication",
    "INVALID_PASSWORD": "wrong password",  # nosec B105 -- an error message, not a password
    "INVALID_LOGIN_CREDENTIALS": "wrong email or password",
    "INVALID_EMAIL": "not a valid email address",
    "MISSING_PASSWORD": "no password given",  # nosec B105 -- an error message, not a password
    "USER_DISABLED": "this account is disabled in Firebase Authentication",
    "USER_NOT_FOUND": "this account no longer exists: run `releasectl auth login` again",
    "TOO_MANY_ATTEMPTS_TRY_LATER": "too many failed attempts: Firebase has blocked this account "
    "for a while, try again later",
    "TOKEN_EXPIRED": "the session has expired or was revoked (password changed or signed out "  # nosec B105 -- an error message, not a password
    "everywhere): run `releasectl auth login` again",
    "INVALID_REFRESH_TOKEN": "the stored session is not valid: run `releasectl auth login` again",  # nosec B105 -- an error message, not a password
}
# Codes that mean the project or the key is set up wrong, not the person's credentials.
_SETUP = {
    "OPERATION_NOT_ALLOWED": "Email/Password sign-in is not enabled in the control project's "
    "Firebase Authentication (Firebase console → Authentication → Sign-in method)",
    "PASSWORD_LOGIN_DISABLED": "Email/Password sign-in is not enabled in the control project's "  # nosec B105 -- an error message, not a password
    "Firebase Authentication (Firebase console → Authentication → Sign-in method)",
    "API_KEY_INVALID": f"{API_KEY_ENV} is not a valid API key",
}


class _Unavailable(Exception):
    """A 5xx reply or a transport error: worth another attempt."""


class IdentityClient:
    """The two calls `releasectl auth` needs, with 5xx and connection errors retried."""

    def __init__(
        self, api_key: str, http: httpx.Client, *, attempts: int = 3, backoff: float = 0.5
    ) -> None:
        self.api_key, self.http = api_key, http
        self.attempts, self.backoff = attempts, backoff

    def sign_in(self, email: str, password: str) -> SignInReply:
        body = {"email": email, "password": password, "returnSecureToken": True}
        reply = self._call(
            "sign-in", lambda: self.http.post(SIGN_IN_URL, json=body, params={"key": self.api_key})
        )
        return self._parse("sign-in", SignInReply, reply)

    def refresh(self, refresh_token: str) -> RefreshReply:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        reply = self._call(
            "token refresh",
            lambda: self.http.post(TOKEN_URL, data=form, params={"key": self.api_key}),
        )
        return self._parse("token refresh", RefreshReply, reply)

    def _call(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        def attempt() -> httpx.Response:
            try:
                response = send()
            except httpx.TransportError as exc:
                raise _Unavailable(
                    f"cannot reach Firebase Authentication: {_describe(exc)}"
                ) from None
            if response.status_code >= 500:
                raise _Unavailable(
                    f"Firebase Authentication is unavailable (HTTP {response.status_code})"
                )
            return response

        retrying = Retrying(
            retry=retry_if_exception_type(_Unavailable),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=4),
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _Unavailable as exc:
            raise SignInError(f"{what} failed: {exc} ({self.attempts} attempts)") from None
        if response.is_success:
            return response
        raise _refusal(what, response)

    @staticmethod
    def _parse(what: str, model: type[_M], response: httpx.Response) -> _M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            raise SignInError(
                f"{what} failed: unexpected reply from Firebase Authentication"
            ) from None


def _describe(exc: httpx.TransportError) -> str:
    detail = str(exc).strip()
    return redact(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)[:200]


def _refusal(what: str, response: httpx.Response) -> ControlPlaneError:
    """One clear error for a 4xx reply: who is at fault, and what to do."""
    try:
        body = _ApiError.model_validate_json(response.content).error
    except ValidationError:
        body = _ApiErrorBody(code=response.status_code, message=response.text[:200])
    code = body.message.split(" : ", 1)[0].strip()
    if "API key not valid" in body.message or "API_KEY_INVALID" in response.text:
        code = "API_KEY_INVALID"
    if code in _SETUP:
        return ConfigError(f"{what} failed: {_SETUP[code]}")
    if code in _REASONS:
        return SignInError(f"{what} failed: {_REASONS[code]} ({code})")
    if response.status_code == 403:
        return ConfigError(
            f"{what} failed: the API key may not call Firebase Authentication for this project "
            f"({redact(body.message)[:200]})"
        )
    detail = redact(body.message or body.status or "no detail")[:200]
    return SignInError(
        f"{what} failed: Firebase Authentication refused it (HTTP {response.status_code}: {detail})"
    )


def require_sign_in(settings: Settings) -> str:
    """The API key to sign in with, or a `ConfigError` saying why this project cannot sign in."""
    project = settings.project
    if project.startswith("demo-"):
        raise ConfigError(
            f"{project} is a demo project: it has no Firebase Authentication to sign in to; "
            "on the local stack approvals carry unsigned emulator tokens, no sign-in needed"
        )
    if not settings.firebase_api_key:
        raise ConfigError(
            f"signing in and refreshing ID tokens need the Firebase Web API key of {project}: "
            f"set {API_KEY_ENV} (Firebase console → Project settings → General → Web API key)"
        )
    return settings.firebase_api_key


@contextlib.contextmanager
def _client(settings: Settings, http: httpx.Client | None) -> Iterator[IdentityClient]:
    key = require_sign_in(settings)
    if http is not None:
        yield IdentityClient(key, http)
        return
    with httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0)) as own:
        yield IdentityClient(key, own)


# --- what the CLI calls ------------------------------------------------------------------------


def login(
    settings: Settings, email: str, password: str, now: datetime, http: httpx.Client | None = None
) -> Session:
    """Sign `email` in to the control project's Firebase Authentication and store the session."""
    email = email.strip()
    if not email or not password:
        raise ConfigError("signing in needs an email and a password")
    remember(password)
    with _client(settings, http) as client:
        reply = client.sign_in(email, password)
    remember(reply.refresh_token)
    session = Session(
        project=settings.project,
        email=reply.email or email,
        uid=reply.local_id,
        refresh_token=SecretStr(reply.refresh_token),
        id_token=SecretStr(reply.id_token),
        id_token_expires_at=now + timedelta(seconds=reply.expires_in),
        signed_in_at=now,
    )
    save_session(session)
    return session


def password_id_token(
    settings: Settings, email: str, password: str, http: httpx.Client | None = None
) -> str:
    """A fresh ID token for `email` (the dashboard's sign-in and its signed decisions); nothing
    is stored."""
    remember(password)
    with _client(settings, http) as client:
        reply = client.sign_in(email, password)
    return reply.id_token


def logout(settings: Settings) -> bool:
    """Delete the stored session of the control project; False if there was none."""
    return delete_session(settings.project)


def refresh(
    settings: Settings, session: Session, now: datetime, http: httpx.Client | None = None
) -> Session:
    """Exchange the session's refresh token for a new ID token, and store it."""
    with _client(settings, http) as client:
        reply = client.refresh(session.refresh_token.get_secret_value())
    if reply.user_id != session.uid:
        raise SignInError(
            f"token refresh failed: Firebase answered for another user ({reply.user_id}): run "
            "`releasectl auth login` again"
        )
    remember(reply.refresh_token)
    updated = session.model_copy(
        update={
            "refresh_token": SecretStr(reply.refresh_token),
            "id_token": SecretStr(reply.id_token),
            "id_token_expires_at": now + timedelta(seconds=reply.expires_in),
        }
    )
    save_session(updated)
    return updated


def id_token_for(settings: Settings, now: datetime, http: httpx.Client | None = None) -> str:
    """A fresh Firebase ID token for the control project: `RELEASECTL_ID_TOKEN` if set, else the
    stored one while it has more than five minutes left, else a refreshed one."""
    override = os.environ.get(ID_TOKEN_ENV, "").strip()
    if override:
        return override
    project = settings.project
    session = load_session(project)
    if session is None:
        raise ConfigError(_NOT_SIGNED_IN.format(project=project))
    if not session.fresh(now):
        session = refresh(settings, session, now, http)
    return session.id_token.get_secret_value()


def uses_emulator_tokens(settings: Settings) -> bool:
    """A `demo-` control project on the local stack or emulators: approvals are unsigned."""
    local = settings.local or settings.local_dir is not None
    return settings.project.startswith("demo-") and (
        local or bool(settings.firebase_auth_emulator_host)
    )


def approval_source(settings: Settings) -> ApprovalSource:
    """Where the token `command_token` attaches comes from (no network, for `auth status`)."""
    if uses_emulator_tokens(settings):
        return "emulator"
    if os.environ.get(ID_TOKEN_ENV, "").strip():
        return "env"
    return "session" if load_session(settings.project) is not None else "none"


def command_token(
    settings: Settings, sender: str, now: datetime, http: httpx.Client | None = None
) -> str:
    """The ID token a command from `sender` carries: on the local stack an emulator token with
    the roles the local users file gives them; else the signed-in person's."""
    if uses_emulator_tokens(settings):
        from shared.approvals import local_users

        roles = local_users.roles_for(local_users.users_file(settings), sender)
        return emulator_token(settings.project, sender, now, roles=list(roles))
    return id_token_for(settings, now, http)


def signed_in_name(settings: Settings) -> str | None:
    """Who the stored session signs approvals as (the default approver against Google Cloud):
    its email, or its uid when the account's email is not verified (the control plane accepts
    an email as the approver only when the token says it is verified)."""
    session = load_session(settings.project)
    return session.approver if session else None
