"""How an approver gets the Firebase ID token that signs an approval (`shared.approvals.
credentials`, `releasectl auth`): sign-in and refresh against a fake Firebase Authentication
(httpx.MockTransport, no network), the login file, the RELEASECTL_ID_TOKEN override, and the
unsigned emulator tokens of demo projects checked by firebase-admin's own verification."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import firebase_admin
import httpx
import pytest
from firebase_admin import auth
from typer.testing import CliRunner

from shared.approvals import credentials
from shared.approvals.credentials import (
    IdentityClient,
    SignInError,
    command_token,
    emulator_token,
    emulator_uid,
    id_token_for,
    load_session,
    login,
    session_path,
    signed_in_name,
    unverified_claims,
)
from shared.approvals.tokens import EMULATOR_ENV, FirebaseTokenVerifier, check_approver
from shared.cli import auth_cmds, context
from shared.config import Settings
from shared.errors import ConfigError, Refused

DEMO = "demo-release-control"
CLOUD = "avalo-control-test"
API_KEY = "test-api-key-123"
EMAIL, PASSWORD, UID = "bob@avalo.app", "correct-horse-42", "uid-bob-0001"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIGN_IN = "/v1/accounts:signInWithPassword"


def id_token(n: int, email_verified: bool = True) -> str:
    """The n-th ID token the fake issues: JWT-shaped (the CLI reads its claims for display and
    the default approver name; only the control plane verifies it)."""
    claims = {"sub": UID, "email": EMAIL, "email_verified": email_verified, "n": n}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.signature-{n}"


def api_error(code: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(
        code, json={"error": {"code": code, "message": message, "errors": [], **extra}}
    )


class FakeFirebaseAuth:
    """Identity Toolkit sign-in and Secure Token refresh, as far as `releasectl auth` uses them.

    `queue` holds replies (or exceptions) to give before behaving normally."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.queue: list[httpx.Response | Exception] = []
        self.issued = 0
        self.email_verified = True

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queue:
            reply = self.queue.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply
        assert request.url.params.get("key") == API_KEY
        self.issued += 1
        if request.url.host == "identitytoolkit.googleapis.com" and request.url.path == SIGN_IN:
            body = json.loads(request.content)
            assert body["returnSecureToken"] is True
            if body["email"] != EMAIL:
                return api_error(400, "EMAIL_NOT_FOUND")
            if body["password"] != PASSWORD:
                return api_error(400, "INVALID_PASSWORD")
            return httpx.Response(
                200,
                json={
                    "kind": "identitytoolkit#VerifyPasswordResponse",
                    "localId": UID,
                    "email": EMAIL,
                    "displayName": "",
                    "idToken": id_token(self.issued, self.email_verified),
                    "registered": True,
                    "refreshToken": f"refresh-token-{self.issued}",
                    "expiresIn": "3600",
                },
            )
        if request.url.host == "securetoken.googleapis.com" and request.url.path == "/v1/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            assert form["grant_type"] == "refresh_token"
            assert form["refresh_token"].startswith("refresh-token-")
            return httpx.Response(
                200,
                json={
                    "expires_in": "3600",
                    "token_type": "Bearer",
                    "refresh_token": f"refresh-token-{self.issued}",
                    "id_token": id_token(self.issued, self.email_verified),
                    "user_id": UID,
                    "project_id": "123456789",
                },
            )
        return httpx.Response(404)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@pytest.fixture
def fake() -> FakeFirebaseAuth:
    return FakeFirebaseAuth()


@pytest.fixture
def http(fake: FakeFirebaseAuth) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as client:
        yield client


@pytest.fixture(autouse=True)
def cloud_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Google Cloud control project, no emulators, no local stack, a private config home."""
    for name in (
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        EMULATOR_ENV,
        "RELEASECTL_LOCAL_DIR",
        "RELEASECTL_CONTROL_PROJECT",
        credentials.ID_TOKEN_ENV,
        auth_cmds.PASSWORD_ENV,
        "RELEASECTL_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", CLOUD)
    monkeypatch.setenv(credentials.API_KEY_ENV, API_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    context.settings.cache_clear()
    yield tmp_path / "config"
    context.settings.cache_clear()


def signed_in(http: httpx.Client, at: datetime = NOW) -> credentials.Session:
    return login(Settings(), EMAIL, PASSWORD, at, http)


# --- unsigned emulator tokens (demo projects) ------------------------------------------------


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[firebase_admin.App]:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:9099")
    app = firebase_admin.initialize_app(
        options={"projectId": DEMO}, name=f"test-credentials-{uuid.uuid4().hex}"
    )
    yield app
    firebase_admin.delete_app(app)


@pytest.mark.parametrize(
    ("approver", "email"), [("bob@avalo.app", "bob@avalo.app"), ("alice", None)]
)
def test_firebase_admin_accepts_an_emulator_token_and_it_names_the_approver(
    emulated: firebase_admin.App, approver: str, email: str | None
) -> None:
    token = emulator_token(DEMO, approver, NOW)
    claims = auth.verify_id_token(token, app=emulated)  # firebase-admin's own check
    assert claims["aud"] == DEMO and claims["iss"] == f"https://securetoken.google.com/{DEMO}"
    assert claims["uid"] == claims["sub"] == claims["user_id"] == emulator_uid(approver)
    assert claims.get("email") == email
    assert claims["exp"] - claims["iat"] == 3600 and claims["auth_time"] == claims["iat"]
    provider = "password" if email else "custom"
    assert claims["firebase"]["sign_in_provider"] == provider
    verified = FirebaseTokenVerifier(DEMO, clock=lambda: NOW).verify(token)
    assert verified.name == approver and verified.verified_by == "auth-emulator"
    check_approver(approver, verified)


def test_an_email_maps_to_one_stable_uid() -> None:
    uid = emulator_uid("bob@avalo.app")
    assert len(uid) == 28 and uid == emulator_uid("Bob@Avalo.app") != emulator_uid("al@avalo.app")
    token = emulator_token(DEMO, "Bob@Avalo.app", NOW)
    assert token.endswith(".")  # unsigned: an empty signature
    claims = unverified_claims(token)
    assert claims["email"] == "Bob@Avalo.app" and claims["email_verified"] is True
    assert unverified_claims("not-a-jwt") == {}


def test_an_expired_emulator_token_is_refused(emulated: firebase_admin.App) -> None:
    old = emulator_token(DEMO, EMAIL, NOW - timedelta(hours=2))
    with pytest.raises(Refused, match="expired"):
        FirebaseTokenVerifier(DEMO, clock=lambda: NOW).verify(old)
    short = emulator_token(DEMO, EMAIL, NOW, ttl=timedelta(minutes=1))
    with pytest.raises(Refused, match="expired"):
        FirebaseTokenVerifier(DEMO, clock=lambda: NOW + timedelta(minutes=2)).verify(short)


def test_emulator_tokens_only_for_demo_projects_and_real_approvers() -> None:
    with pytest.raises(ConfigError, match="demo- projects only"):
        emulator_token("avalo-control", EMAIL, NOW)
    for bad in ("", "  ", "x" * 129):
        with pytest.raises(ConfigError, match="approver must be"):
            emulator_token(DEMO, bad, NOW)


@pytest.mark.parametrize(
    "local", [("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080"), ("RELEASECTL_LOCAL_DIR", ".local")]
)
def test_on_the_local_stack_approvals_carry_emulator_tokens(
    monkeypatch: pytest.MonkeyPatch, emulated: firebase_admin.App, local: tuple[str, str]
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", DEMO)
    monkeypatch.setenv(*local)
    token = command_token(Settings(), "carol@avalo.app", NOW)  # no sign-in, no HTTP
    assert FirebaseTokenVerifier(DEMO, clock=lambda: NOW).verify(token).name == "carol@avalo.app"
    assert credentials.approval_source(Settings()) == "emulator"


def test_a_demo_project_without_a_local_stack_or_a_real_project_needs_a_sign_in(
    monkeypatch: pytest.MonkeyPatch, http: httpx.Client, fake: FakeFirebaseAuth
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", DEMO)
    with pytest.raises(ConfigError, match=f"not signed in to {DEMO}"):
        command_token(Settings(), EMAIL, NOW)
    # a real control project is signed for real, even on local emulators
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", CLOUD)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    signed_in(http)
    assert command_token(Settings(), EMAIL, NOW, http) == id_token(1)
    assert credentials.approval_source(Settings()) == "session"


# --- sign-in and the login file --------------------------------------------------------------


def test_login_signs_in_and_keeps_the_session_for_its_owner_only(
    http: httpx.Client, fake: FakeFirebaseAuth, cloud_env: Path
) -> None:
    previous = os.umask(0)  # even with no umask at all, the file is never readable by others
    try:
        session = signed_in(http)
    finally:
        os.umask(previous)
    path = session_path(CLOUD)
    assert path == cloud_env / "releasectl" / f"login-{CLOUD}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (session.email, session.uid) == (EMAIL, UID)
    assert session.id_token_expires_at == NOW + timedelta(hours=1)
    stored = json.loads(path.read_text())
    assert stored["refresh_token"] == "refresh-token-1" and stored["id_token"] == id_token(1)
    assert PASSWORD not in path.read_text()
    assert "refresh-token-1" not in repr(session) and "refresh-token-1" not in str(session)
    assert load_session(CLOUD) == session
    assert signed_in_name(Settings()) == EMAIL
    request = fake.requests[0]
    assert str(request.url).startswith(
        "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key="
    )
    assert json.loads(request.content) == {
        "email": EMAIL,
        "password": PASSWORD,
        "returnSecureToken": True,
    }


def test_a_login_file_others_can_read_is_refused(http: httpx.Client) -> None:
    signed_in(http)
    session_path(CLOUD).chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by other users \(mode 644\)"):
        load_session(CLOUD)


def test_a_broken_login_file_is_one_clear_error() -> None:
    path = session_path(CLOUD)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not a valid login file"):
        load_session(CLOUD)


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (api_error(400, "INVALID_PASSWORD"), SignInError, r"wrong password \(INVALID_PASSWORD\)"),
        (api_error(400, "EMAIL_NOT_FOUND"), SignInError, "no account with this email"),
        (api_error(400, "INVALID_LOGIN_CREDENTIALS"), SignInError, "wrong email or password"),
        (api_error(400, "USER_DISABLED"), SignInError, "account is disabled"),
        (
            api_error(400, "TOO_MANY_ATTEMPTS_TRY_LATER : Access to this account has been ..."),
            SignInError,
            r"try again later \(TOO_MANY_ATTEMPTS_TRY_LATER\)",
        ),
        (api_error(400, "OPERATION_NOT_ALLOWED"), ConfigError, "Email/Password sign-in is not"),
        (
            api_error(
                400,
                "API key not valid. Please pass a valid API key.",
                status="INVALID_ARGUMENT",
                details=[{"reason": "API_KEY_INVALID"}],
            ),
            ConfigError,
            "RELEASECTL_FIREBASE_API_KEY is not a valid API key",
        ),
        (
            api_error(403, "Requests to this API are blocked.", status="PERMISSION_DENIED"),
            ConfigError,
            "may not call Firebase Authentication",
        ),
        (httpx.Response(200, json={"kind": "x"}), SignInError, "unexpected reply"),
        (httpx.Response(418, text="teapot"), SignInError, r"refused it \(HTTP 418: teapot\)"),
    ],
)
def test_sign_in_errors_are_one_clear_message_and_store_nothing(
    http: httpx.Client,
    fake: FakeFirebaseAuth,
    reply: httpx.Response,
    error: type[Exception],
    message: str,
) -> None:
    fake.queue.append(reply)
    with pytest.raises(error, match=message) as raised:
        signed_in(http)
    assert PASSWORD not in str(raised.value)
    assert len(fake.requests) == 1  # a 4xx is never retried
    assert not session_path(CLOUD).exists()


def test_5xx_and_connection_errors_are_retried_then_reported(fake: FakeFirebaseAuth) -> None:
    def client() -> IdentityClient:
        http = httpx.Client(transport=httpx.MockTransport(fake.handler))
        return IdentityClient(API_KEY, http, attempts=3, backoff=0)

    fake.queue += [httpx.Response(503), httpx.ConnectError("refused")]
    assert client().sign_in(EMAIL, PASSWORD).local_id == UID
    assert len(fake.requests) == 3

    fake.requests.clear()
    fake.queue += [httpx.Response(500)] * 3
    with pytest.raises(SignInError, match=r"unavailable \(HTTP 500\) \(3 attempts\)"):
        client().sign_in(EMAIL, PASSWORD)
    fake.queue += [httpx.ConnectTimeout("timed out")] * 3
    with pytest.raises(SignInError, match="cannot reach Firebase Authentication: ConnectTimeout"):
        client().refresh("refresh-token-1")
    assert len(fake.requests) == 6


def test_login_needs_an_api_key_and_a_real_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(credentials.API_KEY_ENV)
    with pytest.raises(ConfigError, match="set RELEASECTL_FIREBASE_API_KEY"):
        login(Settings(), EMAIL, PASSWORD, NOW)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", DEMO)
    monkeypatch.setenv(credentials.API_KEY_ENV, API_KEY)
    with pytest.raises(ConfigError, match="demo project"):
        login(Settings(), EMAIL, PASSWORD, NOW)


def test_an_unverified_email_signs_approvals_by_uid(
    http: httpx.Client, fake: FakeFirebaseAuth
) -> None:
    # tokens.identity names an approver by email only when the token says it is verified, so
    # the default approver must be the uid, or every approval would be refused as a mismatch
    fake.email_verified = False
    session = signed_in(http)
    assert not session.email_verified and session.approver == UID
    assert signed_in_name(Settings()) == UID
    code, out, _ = run(http, "status")
    assert code == 0 and f"approvals name you by uid ({UID})" in out


# --- a fresh ID token ------------------------------------------------------------------------


def test_the_cached_token_is_used_while_it_has_more_than_5_minutes_left(
    http: httpx.Client, fake: FakeFirebaseAuth
) -> None:
    signed_in(http)
    assert id_token_for(Settings(), NOW + timedelta(minutes=54), http) == id_token(1)
    assert fake.paths == [SIGN_IN]


def test_a_token_near_expiry_is_refreshed_and_saved(
    http: httpx.Client, fake: FakeFirebaseAuth
) -> None:
    signed_in(http)
    later = NOW + timedelta(minutes=56)
    assert id_token_for(Settings(), later, http) == id_token(2)
    assert fake.paths == [SIGN_IN, "/v1/token"]
    assert str(fake.requests[1].url) == f"https://securetoken.googleapis.com/v1/token?key={API_KEY}"
    saved = load_session(CLOUD)
    assert saved is not None
    assert saved.id_token.get_secret_value() == id_token(2)
    assert saved.refresh_token.get_secret_value() == "refresh-token-2"  # rotated
    assert saved.id_token_expires_at == later + timedelta(hours=1)
    assert stat.S_IMODE(session_path(CLOUD).stat().st_mode) == 0o600
    assert id_token_for(Settings(), later + timedelta(minutes=1), http) == id_token(2)
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("TOKEN_EXPIRED", "expired or was revoked"),
        ("USER_DISABLED", "disabled"),
        ("USER_NOT_FOUND", "no longer exists"),
        ("INVALID_REFRESH_TOKEN", "not valid"),
    ],
)
def test_a_refused_refresh_says_to_sign_in_again(
    http: httpx.Client, fake: FakeFirebaseAuth, code: str, message: str
) -> None:
    signed_in(http)
    before = session_path(CLOUD).read_text()
    fake.queue.append(api_error(400, code))
    with pytest.raises(SignInError, match=f"token refresh failed: .*{message}") as raised:
        id_token_for(Settings(), NOW + timedelta(hours=2), http)
    assert "refresh-token-1" not in str(raised.value)
    assert session_path(CLOUD).read_text() == before


def test_refreshing_needs_the_api_key_but_a_fresh_token_does_not(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(http)
    monkeypatch.delenv(credentials.API_KEY_ENV)
    assert id_token_for(Settings(), NOW, http) == id_token(1)
    with pytest.raises(ConfigError, match="RELEASECTL_FIREBASE_API_KEY"):
        id_token_for(Settings(), NOW + timedelta(hours=1), http)


def test_not_signed_in_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"not signed in to .*run `releasectl auth login`"):
        id_token_for(Settings(), NOW)
    assert signed_in_name(Settings()) is None
    assert credentials.approval_source(Settings()) == "none"


def test_releasectl_id_token_overrides_everything(
    http: httpx.Client, fake: FakeFirebaseAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(credentials.ID_TOKEN_ENV, "token-from-sso\n")
    monkeypatch.delenv(credentials.API_KEY_ENV)
    assert id_token_for(Settings(), NOW) == "token-from-sso"  # no session, no key needed
    assert command_token(Settings(), EMAIL, NOW) == "token-from-sso"
    monkeypatch.setenv(credentials.API_KEY_ENV, API_KEY)
    signed_in(http)
    assert id_token_for(Settings(), NOW + timedelta(days=1), http) == "token-from-sso"
    assert fake.paths == [SIGN_IN]  # no refresh
    assert credentials.approval_source(Settings()) == "env"


# --- `releasectl auth` -----------------------------------------------------------------------


def run(http: httpx.Client | None, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(auth_cmds.app, list(args), input=stdin, obj=http)
    return result.exit_code, " ".join(result.stdout.split()), result.output


def test_cli_login_status_token_logout(
    http: httpx.Client, fake: FakeFirebaseAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(auth_cmds.PASSWORD_ENV, PASSWORD)
    code, out, full = run(http, "login", "--email", EMAIL)
    assert code == 0, full
    assert f"signed in to {CLOUD} as {EMAIL} (uid {UID})" in out
    assert stat.S_IMODE(session_path(CLOUD).stat().st_mode) == 0o600

    code, out, full = run(http, "status")
    assert code == 0, full
    assert f"signed in to {CLOUD} as {EMAIL}" in out and "refreshed when needed" in out

    code, _, full = run(http, "status", "--json")
    assert code == 0, full
    status = json.loads(full)
    assert status["email"] == EMAIL and status["approvals"] == "session"
    assert status["project"] == CLOUD and status["signed_in"] is True
    assert status["approver"] == EMAIL and status["email_verified"] is True

    code, _, full = run(http, "token")
    assert code == 0 and full == id_token(1) + "\n"

    code, out, _ = run(http, "logout")
    assert code == 0 and "signed out of" in out and not session_path(CLOUD).exists()
    code, out, full = run(http, "status")
    assert code == 1 and "not signed in" in " ".join(full.split())
    code, out, _ = run(http, "logout")
    assert code == 0 and "nothing to delete" in out


def test_cli_never_prints_the_password_or_the_refresh_token(
    http: httpx.Client, fake: FakeFirebaseAuth
) -> None:
    # password typed at the hidden prompt, email prompted too
    code, _, full = run(http, "login", stdin=f"{EMAIL}\n{PASSWORD}\n")
    assert code == 0, full
    _, _, status = run(http, "status", "--json")
    _, _, human = run(http, "status")
    for text in (full, status, human):
        assert PASSWORD not in text and "refresh-token" not in text and "signature-" not in text


def test_cli_bad_password_exits_1_with_one_message(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(auth_cmds.PASSWORD_ENV, "wrong-password-9")
    code, _, full = run(http, "login", "--email", EMAIL)
    assert code == 1
    assert "error: sign-in failed: wrong password (INVALID_PASSWORD)" in " ".join(full.split())
    assert "wrong-password-9" not in full and "Traceback" not in full


def test_cli_without_an_api_key_exits_2_before_asking_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(credentials.API_KEY_ENV)
    code, _, full = run(None, "login", "--email", EMAIL)
    assert code == 2 and "set RELEASECTL_FIREBASE_API_KEY" in " ".join(full.split())
    assert "password" not in full.lower()


def test_cli_status_and_token_with_an_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    sso = emulator_token(DEMO, "dana@avalo.app", NOW)  # any JWT: status reads, never trusts
    monkeypatch.setenv(credentials.ID_TOKEN_ENV, sso)
    code, _, full = run(None, "status", "--json")
    assert code == 0
    status = json.loads(full)
    assert status["approvals"] == "env" and status["env_token_email"] == "dana@avalo.app"
    assert sso not in full
    code, _, full = run(None, "token")
    assert (code, full) == (0, sso + "\n")


def test_releasectl_has_the_auth_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.cli import app as releasectl

    monkeypatch.setenv("RELEASECTL_LOCAL_DIR", str(tmp_path / "no-stack"))
    monkeypatch.delenv("RELEASECTL_TARGET", raising=False)  # set in a local stack's CI build
    monkeypatch.delenv(credentials.API_KEY_ENV)
    result = CliRunner().invoke(releasectl, ["auth", "login", "--email", EMAIL])
    assert result.exit_code == 2
    assert "RELEASECTL_FIREBASE_API_KEY" in " ".join(result.output.split())
